import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError, loadCsv, loadImageFolder, loadNumpy, type Dataset } from '../experiment/datasets';
import { readOnnx } from '../onnx/reader';
import type { ExperimentEvent } from '../experiment/engine';
import type { CliIO } from './main';

export interface ExperimentArgs {
  model?: string;
  data?: string;
  labels?: string;
  strategies?: string;
  epochs?: string;
  batch?: string;
  seed?: string;
  val?: string;
  lr?: string;
  optimizer?: string;
  json?: string;
}

/**
 * `freezelens experiment`: runs freeze strategies on an ONNX model and a
 * dataset, prints progress (on a terminal) and a summary table, and writes
 * every event as a JSON line (`--json FILE`, or `-` for stdout). Exit 0
 * when every strategy ran, 1 when one failed or the inputs are unusable, 2
 * on a usage error.
 */
export async function runExperimentCli(args: ExperimentArgs, io: CliIO, isTTY = false): Promise<number> {
  const usage = (m: string) => {
    io.stderr(`freezelens: ${m}\n`);
    return 2;
  };
  if (!args.model || !args.data) return usage('experiment needs --model FILE.onnx and --data DIR|FILE.csv|FILE.npz');
  const num = (v: string | undefined, fallback: number, name: string, ok: (n: number) => boolean) => {
    const n = v === undefined ? fallback : Number(v);
    if (!ok(n)) throw new Error(`--${name} '${v}' is not valid`);
    return n;
  };
  let epochs: number, batch: number, seed: number, val: number, lr: number;
  try {
    epochs = num(args.epochs, 3, 'epochs', (n) => Number.isInteger(n) && n > 0);
    batch = num(args.batch, 32, 'batch', (n) => Number.isInteger(n) && n > 1);
    seed = num(args.seed, 0, 'seed', (n) => Number.isInteger(n) && n >= 0);
    val = num(args.val, 0.2, 'val', (n) => n > 0 && n < 1);
    lr = num(args.lr, 1e-3, 'lr', (n) => n > 0);
  } catch (e) {
    return usage((e as Error).message);
  }
  const optimizer = args.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') return usage(`--optimizer must be adamw or sgd, not '${optimizer}'`);
  const modelFile = path.resolve(io.cwd, args.model);
  let data: Dataset;
  try {
    data = loadData(path.resolve(io.cwd, args.data), args.labels && path.resolve(io.cwd, args.labels), modelFile);
  } catch (e) {
    io.stderr(`freezelens: ${(e as Error).message}\n`);
    return 1;
  }
  for (const w of data.warnings) io.stderr(`warning: ${w}\n`);

  // Loaded only now: tfjs and onnxruntime take a while to load, and `check` never needs them.
  const tf = require('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  // PROD: no tfjs debug checks, and no advice on the console about its native backend.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const { runExperiment } = require('../experiment/engine') as typeof import('../experiment/engine');

  const out = args.json === undefined ? undefined : args.json === '-' ? 'stdout' : fs.openSync(path.resolve(io.cwd, args.json), 'w');
  const ends: { strategy: string; valAcc: number; bestValAcc: number; msPerEpoch: number; samplesPerSec: number; peakRssMB: number; trainableParams: number }[] = [];
  const errors: { strategy: string; message: string }[] = [];
  const strategies = (args.strategies ?? 'linear-probe,full').split(',').map((s) => s.trim()).filter(Boolean);
  let line = '';
  await runExperiment({ model: modelFile, data, strategies, epochs, batch, seed, valSplit: val, lr, optimizer }, (e: ExperimentEvent) => {
    const json = `${JSON.stringify(e)}\n`;
    if (out === 'stdout') io.stdout(json);
    else if (out !== undefined) fs.writeSync(out, json);
    if (e.type === 'step' && isTTY) {
      line = `${e.strategy}: step ${e.step}, loss ${e.loss.toFixed(4)}`;
      io.stderr(`\r${line.padEnd(70)}`);
    } else if (e.type === 'epoch') {
      io.stderr(`${isTTY ? '\r' : ''}${`${e.strategy}: epoch ${e.epoch}/${epochs}, train loss ${e.trainLoss.toFixed(4)}, val loss ${e.valLoss.toFixed(4)}, val acc ${(100 * e.valAcc).toFixed(1)}%`.padEnd(70)}\n`);
    } else if (e.type === 'end') ends.push(e);
    else if (e.type === 'error') {
      errors.push(e);
      io.stderr(`${isTTY ? '\n' : ''}${e.strategy}: error: ${e.message}\n`);
    }
  });
  if (typeof out === 'number') fs.closeSync(out);
  if (out !== 'stdout') io.stdout(summaryTable(ends, errors));
  return errors.length > 0 ? 1 : 0;
}

function loadData(file: string, labels: string | undefined, modelFile: string): Dataset {
  if (file.endsWith('.csv')) return loadCsv(file);
  if (file.endsWith('.npz') || file.endsWith('.npy')) return loadNumpy(file, labels);
  // An image folder: resized to the model's input.
  const input = readOnnx(modelFile).graph.inputs[0];
  const dims = input?.dims ?? [];
  const [h, w] = dims.slice(2);
  if (dims.length !== 4 || typeof h !== 'number' || typeof w !== 'number') throw new DatasetError(modelFile, `the model's input ${input?.name ?? ''} has no fixed image size (dims ${JSON.stringify(dims)}); images cannot be resized to it`);
  return loadImageFolder(file, { size: [h, w] });
}

function summaryTable(ends: { strategy: string; valAcc: number; bestValAcc: number; msPerEpoch: number; samplesPerSec: number; peakRssMB: number; trainableParams: number }[], errors: { strategy: string; message: string }[]): string {
  const rows = [['strategy', 'val acc', 'best', 'ms/epoch', 'samples/s', 'peak MB', 'trainable'], ...ends.map((e) => [e.strategy, `${(100 * e.valAcc).toFixed(1)}%`, `${(100 * e.bestValAcc).toFixed(1)}%`, e.msPerEpoch.toFixed(0), e.samplesPerSec.toFixed(0), e.peakRssMB.toFixed(0), e.trainableParams.toLocaleString('en-US')]), ...errors.map((e) => [e.strategy, 'failed', '', '', '', '', ''])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n')}\n`;
}
