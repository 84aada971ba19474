/**
 * The experiment engine's speed on the demo CNN (examples/experiment/):
 *
 * - a full fine-tune step (batch 32) on tfjs's cpu and wasm backends and in
 *   PyTorch on the CPU, measured in alternating rounds in one run so that
 *   the machine's load falls on all of them alike;
 * - prefix caching: a linear probe over 10 epochs with the frozen prefix's
 *   outputs cached against running the whole graph every step;
 * - the frozen prefix's forward pass in onnxruntime-node against PyTorch.
 *
 * PyTorch runs in bench/torch_speed.py under FREEZELENS_PYTHON
 * (/usr/bin/python3 by default); without torch its rows are left out.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { selectBackend, type BackendName } from '../server/src/experiment/backend';
import { loadImageFolder } from '../server/src/experiment/datasets';
import { runExperiment, type ExperimentEvent } from '../server/src/experiment/engine';
import { cutPrefix, parameterModule, prefixModelBytes } from '../server/src/experiment/prefix';
import { Trainer } from '../server/src/experiment/trainer';
import { readOnnx } from '../server/src/onnx/reader';
import { median } from './stats';

const PYTHON = process.env.FREEZELENS_PYTHON ?? '/usr/bin/python3';
const BATCH = 32;

export interface ExperimentBench {
  /** Median ms per full fine-tune step, by engine. */
  steps: { engine: string; ms: number; samples: number }[];
  caching: { cachedMsPerEpoch: number; uncachedMsPerEpoch: number; epochs: number };
  prefix: { engine: string; samplesPerSec: number }[];
  notes: string[];
}

export async function benchExperiment(root: string, rounds = 3): Promise<ExperimentBench> {
  const modelFile = path.join(root, 'examples/experiment/shapes_cnn.onnx');
  const notes: string[] = [];
  tf.env().set('PROD', true);
  const model = readOnnx(modelFile);
  const x = Float32Array.from({ length: BATCH * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.61));
  const y = Array.from({ length: BATCH }, (_, i) => i % 5);

  // A trainer per backend, every parameter training (AdamW), warmed up by two steps.
  const trainers = new Map<BackendName, Trainer>();
  const perStep: Record<string, number[]> = { wasm: [], cpu: [] };
  const step = async (backend: BackendName, n: number) => {
    await selectBackend(backend);
    if (!trainers.has(backend)) {
      trainers.set(backend, new Trainer(model, { trainable: () => true, lr: () => 1e-3, optimizer: { type: 'adamw', weightDecay: 0.01 } }));
      for (let i = 0; i < 2; i++) trainers.get(backend)!.step(tf.tensor(x, [BATCH, 3, 32, 32]), tf.tensor1d(y, 'int32'));
    }
    for (let i = 0; i < n; i++) {
      const xs = tf.tensor(x, [BATCH, 3, 32, 32]);
      const ys = tf.tensor1d(y, 'int32');
      const t0 = performance.now();
      trainers.get(backend)!.step(xs, ys);
      perStep[backend].push(performance.now() - t0);
      tf.dispose([xs, ys]);
    }
  };
  const torch: Record<string, number[]> = {};
  const torchRun = (mode: 'step' | 'prefix', threads: number, batch: number, repeats: number): number[] | undefined => {
    const r = spawnSync(PYTHON, [path.join(root, 'bench/torch_speed.py'), mode, String(threads), String(batch), String(repeats)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, timeout: 300_000 });
    if (r.status !== 0) {
      if (!notes.some((n) => n.startsWith('PyTorch'))) notes.push(`PyTorch rows left out: ${PYTHON} with torch is needed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
      return undefined;
    }
    return JSON.parse(r.stdout.trim().split('\n').pop()!).ms as number[];
  };
  for (let r = 0; r < rounds; r++) {
    await step('wasm', 5);
    await step('cpu', 2);
    for (const threads of [1, 2]) {
      const ms = torchRun('step', threads, BATCH, 10);
      if (ms) (torch[`PyTorch CPU, ${threads} thread${threads > 1 ? 's' : ''}`] ??= []).push(...ms);
    }
  }
  for (const t of trainers.values()) t.dispose();
  const steps = [
    { engine: 'FreezeLens, tfjs wasm', ms: median(perStep.wasm), samples: perStep.wasm.length },
    { engine: 'FreezeLens, tfjs cpu', ms: median(perStep.cpu), samples: perStep.cpu.length },
    ...Object.entries(torch).map(([engine, ms]) => ({ engine, ms: median(ms), samples: ms.length })),
  ];

  // Prefix caching: the linear probe on the demo data, 10 epochs, on wasm; ms per epoch includes the prefix pass.
  await selectBackend('wasm');
  const data = loadImageFolder(path.join(root, 'examples/experiment/data'), { size: [32, 32] });
  const probe = async (cachePrefix: boolean) => {
    let end: Extract<ExperimentEvent, { type: 'end' }> | undefined;
    await runExperiment({ model: modelFile, data, strategies: ['linear-probe'], epochs: 10, batch: BATCH, seed: 0, valSplit: 0.2, lr: 3e-3, optimizer: 'adamw', backend: 'wasm', cachePrefix }, (e) => {
      if (e.type === 'end') end = e;
      if (e.type === 'error') throw new Error(e.message);
    });
    return end!;
  };
  const cachedRun = await probe(true);
  const uncachedRun = await probe(false);
  if (!cachedRun.cached || uncachedRun.cached) notes.push('caching: the runs did not cache as asked');

  // The frozen prefix (all but the head) in onnxruntime, batches of 64, against PyTorch's forward pass.
  const cut = cutPrefix(model, (init, node) => parameterModule(init, node) === 'fc');
  const prefix: ExperimentBench['prefix'] = [];
  const px = Float32Array.from({ length: 64 * 3 * 32 * 32 }, (_, i) => Math.cos(i * 0.37));
  for (const threads of [1, 2]) {
    const session = await ort.InferenceSession.create(prefixModelBytes(modelFile, cut), { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const feeds = { input: new ort.Tensor('float32', px, [64, 3, 32, 32]) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    prefix.push({ engine: `onnxruntime-node, ${threads} thread${threads > 1 ? 's' : ''}`, samplesPerSec: 64 / (median(times) / 1000) });
    await session.release();
    const ms = torchRun('prefix', threads, 64, 30);
    if (ms) prefix.push({ engine: `PyTorch CPU, ${threads} thread${threads > 1 ? 's' : ''}`, samplesPerSec: 64 / (median(ms) / 1000) });
  }
  return { steps, caching: { cachedMsPerEpoch: cachedRun.msPerEpoch, uncachedMsPerEpoch: uncachedRun.msPerEpoch, epochs: 10 }, prefix, notes };
}
