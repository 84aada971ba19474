import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExperimentEvent } from '../experiment/engine';
import { BACKENDS, parseStrategy, type BackendName } from '../experiment/request';
import { startExperiment } from '../experiment/process';
import { findPackageRoot } from '../packageRoot';
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
  backend?: string;
  budget?: string;
  memory?: string;
}

/** The demo that `freezelens experiment` runs without arguments (examples/experiment/). */
export const DEMO = { model: 'examples/experiment/shapes_cnn.onnx', data: 'examples/experiment/data', strategies: 'linear-probe,freeze-to:layer2,gradual:1,full', epochs: 4, lr: 3e-3 };

/**
 * `freezelens experiment`: runs freeze strategies on an ONNX model and a
 * dataset in a child process, prints progress (a bar on a terminal, a line
 * per epoch always) and a summary table, and writes every event as a JSON
 * line (`--json FILE`, or `-` for stdout). Without --model and --data it
 * runs the demo. Exit 0 when every strategy ran, 1 when one failed or the
 * inputs are unusable, 2 on a usage error. Ctrl-C cancels after the
 * current step.
 */
export async function runExperimentCli(args: ExperimentArgs, io: CliIO, terminal = false): Promise<number> {
  const usage = (m: string) => {
    io.stderr(`freezelens: ${m}\n`);
    return 2;
  };
  const demo = !args.model && !args.data;
  if (!demo && (!args.model || !args.data)) return usage('experiment needs both --model FILE.onnx and --data DIR|FILE.csv|FILE.npz (or neither, for the demo)');
  const num = (v: string | undefined, fallback: number, name: string, ok: (n: number) => boolean) => {
    const n = v === undefined ? fallback : Number(v);
    if (!ok(n)) throw new Error(`--${name} '${v}' is not valid`);
    return n;
  };
  let epochs: number, batch: number, seed: number, val: number, lr: number, budget: number | undefined, memory: number | undefined;
  try {
    epochs = num(args.epochs, demo ? DEMO.epochs : 3, 'epochs', (n) => Number.isInteger(n) && n > 0);
    batch = num(args.batch, 32, 'batch', (n) => Number.isInteger(n) && n > 1);
    seed = num(args.seed, 0, 'seed', (n) => Number.isInteger(n) && n >= 0);
    val = num(args.val, 0.2, 'val', (n) => n > 0 && n < 1);
    lr = num(args.lr, demo ? DEMO.lr : 1e-3, 'lr', (n) => n > 0);
    budget = args.budget === undefined ? undefined : num(args.budget, 0, 'budget', (n) => n > 0);
    memory = args.memory === undefined ? undefined : num(args.memory, 0, 'memory', (n) => n >= 64);
  } catch (e) {
    return usage((e as Error).message);
  }
  const optimizer = args.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') return usage(`--optimizer must be adamw or sgd, not '${optimizer}'`);
  if (args.backend !== undefined && !(BACKENDS as readonly string[]).includes(args.backend)) return usage(`--backend must be one of ${BACKENDS.join(', ')}, not '${args.backend}'`);
  const root = findPackageRoot(__dirname);
  const model = demo ? path.join(root, DEMO.model) : path.resolve(io.cwd, args.model!);
  const data = demo ? path.join(root, DEMO.data) : path.resolve(io.cwd, args.data!);
  for (const f of [model, data]) if (!fs.existsSync(f)) {
    io.stderr(`freezelens: ${f}: no such file or folder\n`);
    return 1;
  }
  const strategies = (args.strategies ?? (demo ? DEMO.strategies : 'linear-probe,full')).split(',').map((s) => s.trim()).filter(Boolean);
  try {
    strategies.forEach(parseStrategy);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (demo) io.stderr(`The demo: a small CNN pretrained on synthetic shapes (${path.relative(io.cwd, model)}), fine-tuned on a new shapes task (${path.relative(io.cwd, data)}).\n`);

  const out = args.json === undefined ? undefined : args.json === '-' ? 'stdout' : fs.openSync(path.resolve(io.cwd, args.json), 'w');
  const ends: Extract<ExperimentEvent, { type: 'end' }>[] = [];
  const errors: Extract<ExperimentEvent, { type: 'error' }>[] = [];
  const progress = new Progress(io, terminal, epochs, batch);
  const handle = startExperiment(
    { model, data, ...(args.labels ? { labels: path.resolve(io.cwd, args.labels) } : {}), strategies, epochs, batch, seed, valSplit: val, lr, optimizer, ...(args.backend ? { backend: args.backend as BackendName } : {}), ...(budget ? { budgetMs: budget * 1000 } : {}), ...(memory ? { memoryCapMB: memory } : {}) },
    (e: ExperimentEvent) => {
      const json = `${JSON.stringify(e)}\n`;
      if (out === 'stdout') io.stdout(json);
      else if (out !== undefined) fs.writeSync(out, json);
      progress.event(e);
      if (e.type === 'end') ends.push(e);
      else if (e.type === 'error') errors.push(e);
    },
  );
  const onInterrupt = () => {
    io.stderr('\ncancelling after the current step (Ctrl-C again to quit now)\n');
    handle.cancel();
    process.once('SIGINT', () => process.exit(130));
  };
  if (terminal) process.once('SIGINT', onInterrupt);
  await handle.done;
  if (terminal) process.removeListener('SIGINT', onInterrupt);
  progress.clear();
  if (typeof out === 'number') fs.closeSync(out);
  if (out !== 'stdout') io.stdout(summaryTable(ends, errors));
  return errors.length > 0 ? 1 : 0;
}

/** Progress on stderr: a bar per strategy on a terminal (redrawn in place), and a line per epoch always. */
class Progress {
  private stepsPerEpoch = 1;
  private drawn = false;
  constructor(
    private readonly io: CliIO,
    private readonly terminal: boolean,
    private readonly epochs: number,
    private readonly batch: number,
  ) {}

  event(e: ExperimentEvent): void {
    if (e.type === 'start') {
      this.stepsPerEpoch = Math.max(1, Math.floor(e.dataset.train / this.batch) + (e.dataset.train % this.batch >= 2 ? 1 : 0));
      this.io.stderr(`backend ${e.backend}; ${e.dataset.samples} samples (${e.dataset.train} train, ${e.dataset.val} validation), ${e.dataset.classes.length} classes\n`);
      for (const w of e.dataset.warnings) this.io.stderr(`warning: ${w}\n`);
    } else if (e.type === 'step' && this.terminal) {
      const total = this.stepsPerEpoch * this.epochs;
      const width = 24;
      const done = Math.min(width, Math.round((width * e.step) / total));
      this.io.stderr(`\r${`${e.strategy} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${e.step}/${total} loss ${e.loss.toFixed(4)}`.padEnd(78)}`);
      this.drawn = true;
    } else if (e.type === 'epoch') {
      this.clear();
      this.io.stderr(`${e.strategy}: epoch ${e.epoch}/${this.epochs}, train loss ${e.trainLoss.toFixed(4)}, val loss ${e.valLoss.toFixed(4)}, val acc ${(100 * e.valAcc).toFixed(1)}%, ${(e.msEpoch / 1000).toFixed(2)} s\n`);
    } else if (e.type === 'error') {
      this.clear();
      this.io.stderr(`${e.strategy ?? 'experiment'}: error: ${e.message}\n`);
    }
  }

  clear(): void {
    if (this.drawn) this.io.stderr(`\r${' '.repeat(78)}\r`);
    this.drawn = false;
  }
}

function summaryTable(ends: Extract<ExperimentEvent, { type: 'end' }>[], errors: Extract<ExperimentEvent, { type: 'error' }>[]): string {
  const rows = [['strategy', 'val acc', 'best', 'ms/epoch', 'samples/s', 'peak MB', 'trainable'], ...ends.map((e) => [e.strategy, `${(100 * e.valAcc).toFixed(1)}%`, `${(100 * e.bestValAcc).toFixed(1)}%`, e.msPerEpoch.toFixed(0), e.samplesPerSec.toFixed(0), e.peakRssMB.toFixed(0), e.trainableParams.toLocaleString('en-US')]), ...errors.filter((e) => e.strategy !== null).map((e) => [e.strategy!, 'failed', '', '', '', '', ''])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n')}\n`;
}
