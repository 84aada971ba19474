import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { onnxTarget } from '../engine/planTarget';
import type { ModelTreeNode } from '../engine/models';
import { gradualSchedule, isFrozen, type FreezePlan } from '../plan/plan';
import { subtree } from '../plan/stages';
import { lrAt } from '../plan/codegen';
import { readOnnx, type OnnxModel, type OnnxNode } from '../onnx/reader';
import { seededRandom, splitValidation, type Dataset } from './datasets';
import { plannedEpochs, stepsPerEpoch, strategyPlan, type RunSettings } from './request';
import { runGraph, UnsupportedOps, unsupportedOps } from './interpret';
import { cutPrefix, parameterModule, prefixModelBytes, type PrefixCut } from './prefix';
import { crossEntropy, Trainer } from './trainer';

/**
 * Quick fine-tune runs: each strategy (a planner preset, with `+bn-train`
 * or `+lr-split:F` suffixes) trains a fresh copy of the ONNX model's
 * weights on the data for a few epochs, and reports as JSON-lines events.
 *
 * The frozen prefix runs in onnxruntime; where it is deterministic its
 * outputs are computed once per sample and cached, so every epoch trains
 * only the suffix in tfjs. Gradual unfreezing moves the cut as stages
 * unfreeze, so it runs the whole graph in tfjs.
 */

export interface ExperimentConfig extends RunSettings {
  /** The ONNX model file (PyTorch names or scopes, see the ONNX reader). */
  model: string;
  data: Dataset;
  /** The backend's name as FreezeLens reports it (tensorflow-gpu, tensorflow, wasm, cpu); tfjs's by default. */
  backend?: string;
  /** Wall-clock budget of the whole run: the strategy that runs it out stops, later ones do not start. */
  budgetMs?: number;
  /** Resident memory cap: a strategy whose process grows past it stops, the next one starts afresh. */
  memoryCapMB?: number;
  /** Tests: each strategy's final parameters and buffers are written there as JSON (as the PyTorch runner does). */
  stateDir?: string;
  /** Cache a deterministic frozen prefix's outputs (default true); false runs the whole graph in tfjs every step (the benchmark's baseline). */
  cachePrefix?: boolean;
  /** Set by the caller to stop the run: checked after every step. */
  cancel?: { requested: boolean };
}

/** Why a run stops early: a strategy's error, the budget, the memory cap, or the user. */
export class StopRun extends Error {
  constructor(
    message: string,
    /** Whether the strategies after this one are skipped too (cancelled, or out of time). */
    readonly skipRest: boolean,
  ) {
    super(message);
  }
}

export type ExperimentEvent =
  | { type: 'start'; backend: string; model: string; dataset: { kind: string; samples: number; classes: string[]; shape: number[]; train: number; val: number; warnings: string[] }; strategies: string[] }
  | { type: 'step'; strategy: string; step: number; loss: number; ms: number }
  | { type: 'epoch'; strategy: string; epoch: number; trainLoss: number; valLoss: number; valAcc: number; msEpoch: number }
  | { type: 'end'; strategy: string; valAcc: number; bestValAcc: number; msPerEpoch: number; samplesPerSec: number; peakRssMB: number; tensorMB: number; trainableParams: number; totalParams: number; backend: string; cached: boolean }
  /** A strategy's failure (the others go on), or with `strategy: null` the run's (unusable data, model or backend). */
  | { type: 'error'; strategy: string | null; message: string };

export async function runExperiment(config: ExperimentConfig, emit: (e: ExperimentEvent) => void): Promise<void> {
  const model = readOnnx(config.model);
  const target = onnxTarget(config.model);
  const { train, val } = splitValidation(config.data.y.length, config.valSplit, config.seed);
  const started = performance.now();
  emit({
    type: 'start',
    backend: backendName(config),
    model: config.model,
    dataset: { kind: config.data.kind, samples: config.data.y.length, classes: config.data.classes, shape: config.data.shape, train: train.length, val: val.length, warnings: config.data.warnings },
    strategies: config.strategies,
  });
  let skipped: string | undefined;
  for (const strategy of config.strategies) {
    if (skipped) {
      emit({ type: 'error', strategy, message: `not run: ${skipped}` });
      continue;
    }
    try {
      await runStrategy(config, model, target.report.root, target.headPath, strategy, train, val, emit, () => limitReached(config, started));
    } catch (e) {
      emit({ type: 'error', strategy, message: (e as Error).message });
      if (e instanceof StopRun && e.skipRest) skipped = e.message;
    }
  }
}

function backendName(config: ExperimentConfig): string {
  return config.backend ?? tf.getBackend();
}

/** Checked after every step: a cancel, the budget or the memory cap ends the strategy. */
function limitReached(config: ExperimentConfig, started: number): void {
  if (config.cancel?.requested) throw new StopRun('cancelled', true);
  const elapsed = performance.now() - started;
  if (config.budgetMs !== undefined && elapsed > config.budgetMs) throw new StopRun(`the wall-clock budget of ${(config.budgetMs / 1000).toFixed(1)} s ran out`, true);
  const rssMB = process.memoryUsage().rss / 2 ** 20;
  if (config.memoryCapMB !== undefined && rssMB > config.memoryCapMB) throw new StopRun(`the memory cap of ${config.memoryCapMB} MB was exceeded (resident ${rssMB.toFixed(0)} MB)`, false);
}

async function runStrategy(
  config: ExperimentConfig,
  model: OnnxModel,
  root: ModelTreeNode,
  headPath: string | undefined,
  strategy: string,
  train: number[],
  val: number[],
  emit: (e: ExperimentEvent) => void,
  checkLimits: () => void,
): Promise<void> {
  const { plan, bnTrain } = strategyPlan(root, strategy, config, headPath);
  const epochs = plannedEpochs(config, train.length);
  const frozenAt = (p: FreezePlan, init: string, node: OnnxNode) => isFrozen(p, parameterModule(init, node));
  // A parameter's LR is its module's, by PyTorch's name or, for an unnamed weight, the node's scope.
  const lrOf = (init: string, node: OnnxNode) => lrAt(plan, parameterModule(init, node));
  const input = model.graph.inputs.find((v) => !model.graph.initializers.some((t) => t.name === v.name))!;
  const sampleSize = size(config.data.shape);
  const started = performance.now();
  let peakRss = process.memoryUsage().rss;
  let tensorBytes = 0;
  let best = 0;
  let last = 0;
  let stepNo = 0;
  let samples = 0;
  const rng = seededRandom(config.seed);

  // The cut: cached prefix outputs where the prefix is deterministic and the plan does not change it.
  const cut = cutPrefix(model, (init, node) => !frozenAt(plan, init, node));
  const cacheable = config.cachePrefix !== false && plan.gradualEvery === null && cut.deterministic && cut.outputs.length > 0 && !bnTrain;
  const cached = cacheable ? await runPrefix(model, cut, input.name, config.data) : undefined;
  // What a batch feeds the graph, and which of its nodes then run: the cached prefix outputs and the
  // suffix, or the samples and the whole graph.
  const feedsFor = (idx: number[]): Map<string, tf.Tensor> =>
    cached
      ? new Map([...cached].map(([o, f]) => [o, tf.tensor(gather(f.data, idx, size(f.shape)), [idx.length, ...f.shape])]))
      : new Map([[input.name, tf.tensor(gather(config.data.x, idx, sampleSize), [idx.length, ...config.data.shape])]]);
  const suffix = cached ? model.graph.nodes.map((_, i) => i).filter((i) => !cut.nodes.includes(i)) : undefined;

  const trainer = makeTrainer(model, plan, frozenAt, lrOf, bnTrain, config);
  const schedule = gradualSchedule(plan, epochs);
  try {
    // Every op that tfjs runs must be known before the first step (the cached prefix runs in onnxruntime, which knows them all).
    const missing = unsupportedOps(model.graph, suffix ?? trainer.nodes);
    if (missing.size > 0) throw new UnsupportedOps(missing);
    for (let epoch = 0; epoch < epochs; epoch++) {
      const unfreezing = schedule.find((u) => u.epoch === epoch);
      if (unfreezing) {
        // Unfreeze the last frozen stage: its parameters join the optimizer as a new group (the others keep their state).
        plan.frozen = plan.frozen.filter((f) => !unfreezing.paths.some((p) => f === p || f.startsWith(`${p}.`)));
        trainer.unfreeze();
      }
      const t0 = performance.now();
      const order = shuffle([...train], rng);
      let lossSum = 0;
      let batches = 0;
      for (let i = 0; i < order.length && !(config.steps !== undefined && stepNo >= config.steps); i += config.batch) {
        const idx = order.slice(i, i + config.batch);
        if (idx.length < 2 && order.length >= 2) continue; // BatchNorm needs two samples
        const s0 = performance.now();
        const feeds = feedsFor(idx);
        const y = tf.tensor1d(idx.map((k) => config.data.y[k]), 'int32');
        const value = trainer.stepWith(feeds, y, suffix ?? trainer.nodes);
        tf.dispose([...feeds.values(), y]);
        if (!Number.isFinite(value)) throw new Error(`the loss is ${value} at step ${stepNo + 1}: training diverged (try a lower learning rate)`);
        lossSum += value;
        batches++;
        samples += idx.length;
        emit({ type: 'step', strategy, step: ++stepNo, loss: value, ms: performance.now() - s0 });
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        tensorBytes = Math.max(tensorBytes, tf.memory().numBytes);
        // Between steps the event loop runs (a cancel message arrives), and the limits are checked.
        await new Promise(setImmediate);
        checkLimits();
      }
      const { loss: valLoss, acc } = evaluate(trainer, feedsFor, suffix ?? trainer.nodes, val, config.data.y);
      last = acc;
      best = Math.max(best, acc);
      emit({ type: 'epoch', strategy, epoch: epoch + 1, trainLoss: lossSum / Math.max(1, batches), valLoss, valAcc: acc, msEpoch: performance.now() - t0 });
    }
    const ms = performance.now() - started;
    const trainable = [...trainer.variables.values()].reduce((n, v) => n + v.size, 0);
    if (config.stateDir) {
      const state = Object.fromEntries([...trainer.constants, ...trainer.variables].map(([k, v]) => [k, Array.from(v.dataSync())]));
      fs.writeFileSync(path.join(config.stateDir, `${strategy}.json`), JSON.stringify(state));
    }
    emit({
      type: 'end',
      strategy,
      valAcc: last,
      bestValAcc: best,
      // With a budget in steps the last epoch may be partial: it counts as the share of an epoch it trained.
      msPerEpoch: ms / (config.steps === undefined ? epochs : Math.max(1, stepNo) / Math.max(1, stepsPerEpoch(train.length, config.batch))),
      samplesPerSec: samples / (ms / 1000),
      peakRssMB: peakRss / 2 ** 20,
      tensorMB: tensorBytes / 2 ** 20,
      trainableParams: trainable,
      totalParams: subtree(root),
      backend: backendName(config),
      cached: cached !== undefined,
    });
  } finally {
    trainer.dispose();
  }
}

function makeTrainer(
  model: OnnxModel,
  plan: FreezePlan,
  frozenAt: (p: FreezePlan, init: string, node: OnnxNode) => boolean,
  lrOf: (init: string, node: OnnxNode) => number,
  bnTrain: boolean,
  config: ExperimentConfig,
): Trainer {
  return new Trainer(
    model,
    {
      // +bn-train is the planner's "train" BN policy: frozen parts' BatchNorm keeps training, weight and bias too.
      trainable: (init, node) => !frozenAt(plan, init, node) || (bnTrain && node.opType === 'BatchNormalization' && (node.inputs[1] === init || node.inputs[2] === init)),
      // Frozen BatchNorm stays in eval (its statistics fixed) unless the strategy says +bn-train.
      bnTraining: (node) => bnTrain || !frozenAt(plan, node.inputs[1], node),
      lr: lrOf,
      optimizer: config.optimizer === 'sgd' ? { type: 'sgd', momentum: 0.9, weightDecay: 0 } : { type: 'adamw', weightDecay: 0.01 },
    },
  );
}

/** Validation loss and accuracy, in eval mode, batch by batch. */
function evaluate(trainer: Trainer, feedsFor: (idx: number[]) => Map<string, tf.Tensor>, nodeIndices: number[], val: number[], labels: Int32Array): { loss: number; acc: number } {
  const model = trainer.model;
  const nodes = trainer.runnable(nodeIndices);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < val.length; i += 256) {
    const idx = val.slice(i, i + 256);
    tf.tidy(() => {
      const params = new Map<string, tf.Tensor>([...trainer.constants, ...trainer.variables]);
      const out = runGraph(model, feedsFor(idx), params, { training: false }, nodes).outputs.get(model.graph.outputs[0].name)!;
      const y = tf.tensor1d(idx.map((k) => labels[k]), 'int32');
      loss += crossEntropy(out, y).dataSync()[0] * idx.length;
      const pred = tf.argMax(out, 1).dataSync();
      idx.forEach((k, j) => (correct += pred[j] === labels[k] ? 1 : 0));
    });
  }
  return { loss: loss / Math.max(1, val.length), acc: correct / Math.max(1, val.length) };
}

/** The frozen prefix's outputs for every sample, from onnxruntime, in batches of 64: what each epoch trains on. */
async function runPrefix(model: OnnxModel, cut: PrefixCut, inputName: string, data: Dataset): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const session = await ort.InferenceSession.create(prefixModelBytes(model.file, cut));
  const sampleSize = size(data.shape);
  const chunks = new Map<string, Float32Array[]>(cut.outputs.map((o) => [o, []]));
  const shapes = new Map<string, number[]>();
  for (let i = 0; i < data.y.length; i += 64) {
    const idx = Array.from({ length: Math.min(64, data.y.length - i) }, (_, k) => i + k);
    const out = await session.run({ [inputName]: new ort.Tensor('float32', gather(data.x, idx, sampleSize), [idx.length, ...data.shape]) });
    for (const o of cut.outputs) {
      chunks.get(o)!.push(out[o].data as Float32Array);
      shapes.set(o, (out[o].dims as number[]).slice(1));
    }
  }
  return new Map(cut.outputs.map((o) => [o, { data: concat(chunks.get(o)!), shape: shapes.get(o)! }]));
}

function gather(data: Float32Array, idx: number[], size: number): Float32Array {
  const out = new Float32Array(idx.length * size);
  idx.forEach((k, i) => out.set(data.subarray(k * size, (k + 1) * size), i * size));
  return out;
}

function size(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
