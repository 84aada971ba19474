import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExperimentEvent } from '../experiment/engine';
import { BACKENDS, DEMO, parseStrategy, plannedEpochs, stepsPerEpoch, type BackendName, type RunSettings } from '../experiment/request';
import type { FreezePlan } from '../plan/plan';
import { startExperiment } from '../experiment/process';
import { SummaryTable } from '../experiment/summary';
import { startTorchExperiment, type TorchData, type TorchModel, type TorchRequest } from '../experiment/torch';
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
  steps?: string;
  /** Plan files (`freezelens plan --format json`), each run as a strategy named after its file. */
  plan?: string[];
  // --backend torch
  python?: string;
  factory?: string;
  catalog?: string;
  'data-factory'?: string;
  'image-size'?: string;
  device?: string;
  amp?: string;
  workers?: string;
  'random-weights'?: boolean;
}


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
  const torch = args.backend === 'torch';
  const demo = torch ? !args.model && !args.factory && !args.catalog && !args.data && !args['data-factory'] : !args.model && !args.data;
  if (!demo && !torch && (!args.model || !args.data)) return usage('experiment needs both --model FILE.onnx and --data DIR|FILE.csv|FILE.npz (or neither, for the demo)');
  const num = (v: string | undefined, fallback: number, name: string, ok: (n: number) => boolean) => {
    const n = v === undefined ? fallback : Number(v);
    if (!ok(n)) throw new Error(`--${name} '${v}' is not valid`);
    return n;
  };
  let epochs: number, batch: number, seed: number, val: number, lr: number, budget: number | undefined, memory: number | undefined, steps: number | undefined;
  try {
    epochs = num(args.epochs, demo ? DEMO.epochs : 3, 'epochs', (n) => Number.isInteger(n) && n > 0);
    steps = args.steps === undefined ? undefined : num(args.steps, 0, 'steps', (n) => Number.isInteger(n) && n > 0);
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
  if (args.backend !== undefined && !torch && !(BACKENDS as readonly string[]).includes(args.backend)) return usage(`--backend must be torch or one of ${BACKENDS.join(', ')}, not '${args.backend}'`);
  const root = findPackageRoot(__dirname);
  let torchRequest: Omit<TorchRequest, keyof RunSettings> | undefined;
  let model = '';
  let data = '';
  if (torch) {
    const r = parseTorchArgs(args, io, demo, root);
    if (typeof r === 'string') return usage(r);
    torchRequest = r;
  } else {
    model = demo ? path.join(root, DEMO.model) : path.resolve(io.cwd, args.model!);
    data = demo ? path.join(root, DEMO.data) : path.resolve(io.cwd, args.data!);
  }
  for (const f of torch ? torchFiles(torchRequest!) : [model, data]) if (!fs.existsSync(f)) {
    io.stderr(`freezelens: ${f}: no such file or folder\n`);
    return 1;
  }
  let plans: Record<string, FreezePlan>;
  try {
    plans = readPlanFiles(args.plan ?? [], io.cwd);
  } catch (e) {
    io.stderr(`freezelens: ${(e as Error).message}\n`);
    return 1;
  }
  const presets = args.strategies ?? (args.plan?.length ? '' : demo ? DEMO.strategies : 'linear-probe,full');
  const strategies = [...presets.split(',').map((s) => s.trim()).filter(Boolean), ...Object.keys(plans)];
  try {
    strategies.filter((s) => !plans[s]).forEach(parseStrategy);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (new Set(strategies).size !== strategies.length) return usage(`a strategy is given twice: ${strategies.join(', ')}`);
  const runSettings: RunSettings = { strategies, epochs, batch, seed, valSplit: val, lr, optimizer, ...(Object.keys(plans).length ? { plans } : {}), ...(steps ? { steps } : {}) };
  if (demo) io.stderr(`The demo: a small CNN pretrained on synthetic shapes (${path.relative(io.cwd, torch ? path.join(root, DEMO.torchscript) : model)}), fine-tuned on a new shapes task (${path.relative(io.cwd, path.join(root, DEMO.data))}).\n`);

  const out = args.json === undefined ? undefined : args.json === '-' ? 'stdout' : fs.openSync(path.resolve(io.cwd, args.json), 'w');
  const summary = new SummaryTable();
  const progress = new Progress(io, terminal, runSettings);
  const onEvent = (e: ExperimentEvent) => {
    const json = `${JSON.stringify(e)}\n`;
    if (out === 'stdout') io.stdout(json);
    else if (out !== undefined) fs.writeSync(out, json);
    progress.event(e);
    summary.see(e);
  };
  const handle = torchRequest
    ? startTorchExperiment({ ...torchRequest, ...runSettings }, onEvent)
    : startExperiment(
        { model, data, ...(args.labels ? { labels: path.resolve(io.cwd, args.labels) } : {}), ...runSettings, ...(args.backend ? { backend: args.backend as BackendName } : {}), ...(budget ? { budgetMs: budget * 1000 } : {}), ...(memory ? { memoryCapMB: memory } : {}) },
        onEvent,
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
  if (out !== 'stdout') io.stdout(summary.format());
  return summary.errors.length > 0 ? 1 : 0;
}

/** `--backend torch`: the model (factory, catalog name or TorchScript file), the data (image folder or factory), and the runner's options; a usage error as a string. */
function parseTorchArgs(args: ExperimentArgs, io: CliIO, demo: boolean, root: string): Omit<TorchRequest, keyof RunSettings> | string {
  const python = args.python ?? process.env.FREEZELENS_PYTHON ?? 'python3';
  const size = args['image-size'] === undefined ? (demo ? DEMO.imageSize : 224) : Number(args['image-size']);
  if (!Number.isInteger(size) || size < 8) return `--image-size '${args['image-size']}' is not valid`;
  const sources = [args.factory, args.catalog, args.model].filter(Boolean);
  if (!demo && sources.length !== 1) return '--backend torch needs one model: --factory pkg.module:function, --catalog NAME or --model FILE.pt (TorchScript)';
  if (!demo && !args.data === !args['data-factory']) return '--backend torch needs one dataset: --data DIR (ImageFolder) or --data-factory pkg.module:function';
  if (args.amp !== undefined && args.amp !== 'bf16' && args.amp !== 'fp16') return `--amp must be bf16 or fp16, not '${args.amp}'`;
  if (args.device !== undefined && !['auto', 'cuda', 'mps', 'cpu'].includes(args.device)) return `--device must be auto, cuda, mps or cpu, not '${args.device}'`;
  const workers = args.workers === undefined ? 0 : Number(args.workers);
  if (!Number.isInteger(workers) || workers < 0) return `--workers '${args.workers}' is not valid`;
  const model: TorchModel = demo
    ? { kind: 'torchscript', path: path.join(root, DEMO.torchscript) }
    : args.factory
      ? { kind: 'factory', factory: args.factory }
      : args.catalog
        ? { kind: 'catalog', name: args.catalog, ...(args['random-weights'] ? { randomWeights: true } : {}) }
        : { kind: 'torchscript', path: path.resolve(io.cwd, args.model!) };
  const data: TorchData = demo ? { kind: 'image-folder', path: path.join(root, DEMO.data), size: [size, size] } : args['data-factory'] ? { kind: 'factory', factory: args['data-factory'] } : { kind: 'image-folder', path: path.resolve(io.cwd, args.data!), size: [size, size] };
  return { python, cwd: io.cwd, model, data, ...(args.device ? { device: args.device } : {}), ...(args.amp ? { amp: args.amp as 'bf16' | 'fp16' } : {}), workers };
}

function torchFiles(r: Pick<TorchRequest, 'model' | 'data'>): string[] {
  return [...(r.model.kind === 'torchscript' ? [r.model.path] : []), ...(r.data.kind === 'image-folder' ? [r.data.path] : [])];
}

/** Progress on stderr: a bar per strategy on a terminal (redrawn in place), and a line per epoch always. */
class Progress {
  private totalSteps = 1;
  private epochs: number;
  private drawn = false;
  constructor(
    private readonly io: CliIO,
    private readonly terminal: boolean,
    private readonly settings: Pick<RunSettings, 'epochs' | 'steps' | 'batch'>,
  ) {
    this.epochs = settings.epochs;
  }

  event(e: ExperimentEvent): void {
    if (e.type === 'start') {
      this.epochs = plannedEpochs(this.settings, e.dataset.train);
      this.totalSteps = this.settings.steps ?? Math.max(1, stepsPerEpoch(e.dataset.train, this.settings.batch)) * this.epochs;
      this.io.stderr(`backend ${e.backend}; ${e.dataset.samples} samples (${e.dataset.train} train, ${e.dataset.val} validation), ${e.dataset.classes.length} classes\n`);
      for (const w of e.dataset.warnings) this.io.stderr(`warning: ${w}\n`);
    } else if (e.type === 'step' && this.terminal) {
      const total = this.totalSteps;
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


/**
 * `--plan FILE.json`: plans saved by `freezelens plan --format json` (its
 * `plan` field) or written as a bare plan, each run under its file's name.
 */
function readPlanFiles(files: string[], cwd: string): Record<string, FreezePlan> {
  const plans: Record<string, FreezePlan> = {};
  for (const f of files) {
    const file = path.resolve(cwd, f);
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${f}: not a plan file: ${(e as Error).message}`);
    }
    const plan = (json as { plan?: unknown }).plan ?? json;
    if (!isFreezePlan(plan)) throw new Error(`${f}: not a plan: expected the JSON of \`freezelens plan --format json\` (an object with a "plan" holding "frozen", "bn", "lrSplit", ...)`);
    const name = path.basename(f).replace(/\.json$/i, '').replace(/[^\w.-]/g, '_');
    plans[name] = plan;
  }
  return plans;
}

function isFreezePlan(p: unknown): p is FreezePlan {
  const q = p as Partial<FreezePlan> | null;
  return !!q && typeof q === 'object' && q.version === 1 && Array.isArray(q.frozen) && q.frozen.every((f) => typeof f === 'string') && ['eval', 'frozen', 'train'].includes(q.bn as string) && (q.lrSplit === null || typeof q.lrSplit === 'number') && (q.decay === null || typeof q.decay === 'number') && (q.gradualEvery === null || typeof q.gradualEvery === 'number');
}
