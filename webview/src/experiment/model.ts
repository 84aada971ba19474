/**
 * The experiment panel's model, without the DOM: what the panel and the
 * extension say to each other, the checks on the setup form, and the run
 * state that the events build (curves, progress, the results table). The
 * webview renders it; the tests run it under Node.
 */
import type { ExperimentEvent } from '../../../server/src/experiment/engine';
import type { RunSettings } from '../../../server/src/experiment/request';
import type { FreezePlan } from '../../../server/src/plan/plan';

export type PanelBackend = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'torch';

/** Classes the data summary shows with a thumbnail each; a folder of hundreds is summed up after them (and sends no more images). */
export const SUMMARY_CLASSES = 24;

/** The plan name that stands for the Freeze Planner's current plan. */
export const PLANNER_PLAN = 'planner';

export interface PanelSetup {
  /** An ONNX export for the tfjs engine; a factory, a catalog name or a TorchScript file for torch. */
  model: { kind: 'onnx'; path: string } | { kind: 'torchscript'; path: string } | { kind: 'factory'; factory: string } | { kind: 'catalog'; name: string };
  /** An ImageFolder directory (or, for torch, a data factory `module:function`). */
  data: string;
  /** Presets (with +bn-train, +lr-split:F), and PLANNER_PLAN for the planner's current plan. */
  plans: string[];
  /** The budget: whole epochs, or optimizer steps per plan. */
  budget: 'epochs' | 'steps';
  epochs: number;
  steps: number;
  batch: number;
  seed: number;
  valSplit: number;
  /** The head's learning rate (the backbone's follows each plan's split). */
  lr: number;
  optimizer: 'adamw' | 'sgd';
  backend: PanelBackend;
  /** PyTorch runs on an image folder: the side images are resized to (an ONNX export fixes its own input size). */
  imageSize: number;
  /** The planner's plan as it was when the run started, where `plans` has PLANNER_PLAN (the extension sets it). */
  plannerPlan?: FreezePlan;
}

/** The form's first values. */
export const DEFAULT_SETUP: PanelSetup = { model: { kind: 'onnx', path: '' }, data: '', plans: ['linear-probe', 'full'], budget: 'epochs', epochs: 3, steps: 100, batch: 32, seed: 0, valSplit: 0.2, lr: 1e-3, optimizer: 'adamw', backend: 'auto', imageSize: 224 };

/** The model field's text as a model: for the torch backend a TorchScript file, a factory or a catalog name; otherwise an ONNX file. */
export function modelSpec(text: string, backend: PanelBackend): PanelSetup['model'] {
  const t = text.trim();
  if (/\.(pt|pth|torchscript)$/i.test(t)) return { kind: 'torchscript', path: t };
  if (backend !== 'torch' || /\.onnx$/i.test(t)) return { kind: 'onnx', path: t };
  return isFactory(t) || t.includes(':') ? { kind: 'factory', factory: t } : { kind: 'catalog', name: t };
}

/** The model as the field shows it. */
export function modelText(m: PanelSetup['model']): string {
  return m.kind === 'factory' ? m.factory : m.kind === 'catalog' ? m.name : m.path;
}

/** A setup saved by an older panel (a restored state, a past run), with the fields it lacks at their defaults. */
export function withDefaults(s: Partial<PanelSetup>): PanelSetup {
  return { ...DEFAULT_SETUP, ...s };
}

/** What the engine is asked to run for a setup; `plannerPlan`: the planner's plan now, for PLANNER_PLAN. */
export function runSettings(s: PanelSetup, plannerPlan?: FreezePlan): RunSettings {
  return {
    strategies: s.plans,
    epochs: s.epochs,
    batch: s.batch,
    seed: s.seed,
    valSplit: s.valSplit,
    lr: s.lr,
    optimizer: s.optimizer,
    ...(s.budget === 'steps' ? { steps: s.steps } : {}),
    ...(s.plans.includes(PLANNER_PLAN) && plannerPlan ? { plans: { [PLANNER_PLAN]: plannerPlan } } : {}),
  };
}

/** The planner's current plan as the panel offers it: the model it is for, and what it does. */
export interface PlannerOffer {
  model: string;
  description: string;
}

/** A plan in one line: what it freezes, its BatchNorm policy, its learning rates and schedule. */
export function describePlan(plan: FreezePlan): string {
  const frozen = plan.frozen.length === 0 ? 'nothing frozen' : `frozen: ${plan.frozen.slice(0, 4).join(', ')}${plan.frozen.length > 4 ? ` and ${plan.frozen.length - 4} more` : ''}`;
  const bn = plan.bn === 'train' ? 'frozen BatchNorm trains' : plan.bn === 'frozen' ? 'FrozenBatchNorm2d' : 'frozen BatchNorm in eval';
  const lr = plan.decay !== null ? `stage LRs x${plan.decay.toPrecision(2)} per stage` : plan.lrSplit !== null ? `backbone LR / ${plan.lrSplit}` : 'one LR';
  return [frozen, bn, lr, ...(plan.gradualEvery !== null ? [`unfreezes a stage every ${plan.gradualEvery} epoch${plan.gradualEvery === 1 ? '' : 's'}`] : [])].join(' · ');
}

/** Whether each backend can run here, and why not. */
export type Availability = Record<PanelBackend, { available: boolean; why?: string }>;

/** The panel to the extension. */
export type FromPanel =
  | { type: 'ready' }
  | { type: 'run'; setup: PanelSetup }
  | { type: 'cancel'; runId: number }
  | { type: 'apply'; runId: number; plan: string }
  | { type: 'export'; runId: number; format: 'json' | 'csv' }
  /** Shows a past run (kept per workspace); `compare`: beside the shown one, in the comparison table. */
  | { type: 'showRun'; runId: number; compare?: boolean }
  /** What the data field's folder holds, for the summary under it. */
  | { type: 'inspectData'; path: string }
  /** VS Code's Workspace Trust editor, from the note an untrusted workspace shows. */
  | { type: 'manageTrust' }
  /** A file (the model) or folder (the data) picker, whose choice comes back as `browsed`. */
  | { type: 'browse'; field: 'model' | 'data' }
  /** The charts as a PNG (a data: URL), for the extension to save where the user says. */
  | { type: 'saveChart'; runId: number; png: string };

/** The extension to the panel. */
export type ToPanel =
  /** What can run here; `defaults`: the demo's model and data, where the workspace has them. */
  | { type: 'availability'; backends: Availability; trusted: boolean; defaults?: { model: string; data: string } }
  | { type: 'started'; runId: number; setup: PanelSetup }
  | { type: 'event'; runId: number; event: ExperimentEvent }
  | { type: 'finished'; runId: number; cancelled: boolean }
  /** The past runs of this workspace, newest first. */
  | { type: 'history'; runs: RunSummary[] }
  /** A past run, to show as it ended, or to compare with the shown one. */
  | { type: 'pastRun'; run: RunState; compare?: boolean }
  /** An image folder's classes with counts and a thumbnail each (a data: URL), or why it cannot be used. */
  | { type: 'dataSummary'; path: string; classes: { name: string; count: number; thumbnail?: string }[]; error?: string }
  /** The Freeze Planner's current plan, offered as a plan to run; none when the planner shows no model. */
  | { type: 'planner'; plan?: PlannerOffer }
  /** Models to suggest in the model field: the planner's, the workspace's ONNX files, catalog names for torch. */
  | { type: 'models'; models: { value: string; label: string }[] }
  /** The picker's choice (relative to the workspace where it is inside it). */
  | { type: 'browsed'; field: 'model' | 'data'; path: string }
  /** The extension found the setup invalid after all (the planner's plan went away meanwhile): the errors by field. */
  | { type: 'invalid'; errors: Partial<Record<keyof PanelSetup, string>> };

const PRESET = /^(linear-probe|full|bn-only|freeze-to:[\w.]+|gradual:\d+|discriminative:[\d.]+)(\+bn-train|\+lr-split:[\d.]+)*$/;

/** A `package.module:function` spec (a model or data factory for the PyTorch backend), as opposed to a path. */
export function isFactory(spec: string): boolean {
  return /^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/.test(spec);
}

/** The form's errors by field, shown inline before a run starts; empty when it can run. */
export function validateSetup(s: PanelSetup, availability: Availability, planner?: PlannerOffer): Partial<Record<keyof PanelSetup, string>> {
  const errors: Partial<Record<keyof PanelSetup, string>> = {};
  const torch = s.backend === 'torch';
  if (s.model.kind === 'onnx' && !s.model.path.trim()) errors.model = 'Choose a model.';
  else if (s.model.kind === 'onnx' && torch) errors.model = 'The torch backend runs a model factory, a catalog name or a TorchScript file, not an ONNX file.';
  else if (s.model.kind !== 'onnx' && !torch) errors.model = 'A factory, catalog or TorchScript model needs the torch backend.';
  else if (s.model.kind === 'factory' && !isFactory(s.model.factory)) errors.model = 'A factory is package.module:function.';
  if (!s.data.trim()) errors.data = 'Choose the data: an image folder (one subfolder per class).';
  if (s.plans.length === 0) errors.plans = 'Choose at least one plan.';
  else {
    const bad = s.plans.find((p) => p !== PLANNER_PLAN && !PRESET.test(p));
    if (bad) errors.plans = `'${bad}' is not a plan FreezeLens knows.`;
    else if (s.plans.includes(PLANNER_PLAN) && !planner) errors.plans = 'The Freeze Planner shows no plan: open it on your model, or uncheck the planner\'s plan.';
    else if (new Set(s.plans).size !== s.plans.length) errors.plans = 'A plan is chosen twice.';
  }
  if (s.budget === 'steps') {
    if (!(Number.isInteger(s.steps) && s.steps >= 1 && s.steps <= 1_000_000)) errors.steps = 'Steps: a whole number from 1 to 1,000,000.';
  } else if (!(Number.isInteger(s.epochs) && s.epochs >= 1 && s.epochs <= 1000)) errors.epochs = 'Epochs: a whole number from 1 to 1000.';
  if (!(s.lr > 0 && s.lr < 10)) errors.lr = 'Learning rate: a number above 0, such as 0.001.';
  if (torch && !isFactory(s.data) && !(Number.isInteger(s.imageSize) && s.imageSize >= 8 && s.imageSize <= 4096)) errors.imageSize = 'Image size: a whole number of pixels from 8 to 4096.';
  if (!(Number.isInteger(s.batch) && s.batch >= 2 && s.batch <= 4096)) errors.batch = 'Batch size: a whole number from 2 to 4096 (BatchNorm needs two samples).';
  if (!(Number.isInteger(s.seed) && s.seed >= 0)) errors.seed = 'Seed: a whole number, 0 or more.';
  if (!(s.valSplit > 0 && s.valSplit < 1)) errors.valSplit = 'Validation split: a fraction between 0 and 1.';
  const a = availability[s.backend];
  if (!a?.available) errors.backend = `${s.backend} is not available here${a?.why ? `: ${a.why}` : ''}.`;
  return errors;
}

/** One plan's share of a run: its curves, progress and results row. */
export interface PlanState {
  plan: string;
  /** Train loss per step: [step, loss]. */
  loss: [number, number][];
  /** Validation accuracy per epoch: [epoch, acc]. */
  accuracy: [number, number][];
  epochsDone: number;
  status: 'waiting' | 'running' | 'done' | 'failed';
  error?: string;
  result?: Extract<ExperimentEvent, { type: 'end' }>;
}

export interface RunState {
  runId: number;
  setup: PanelSetup;
  backend?: string;
  /** The run's own failure (data, model, backend), not one plan's. */
  error?: string;
  plans: PlanState[];
  finished: boolean;
  cancelled: boolean;
}

export function newRun(runId: number, setup: PanelSetup): RunState {
  return { runId, setup, plans: setup.plans.map((plan) => ({ plan, loss: [], accuracy: [], epochsDone: 0, status: 'waiting' })), finished: false, cancelled: false };
}

/** Folds one event into the run (in place; returns the plan it touched, if any, for the caller to redraw). */
export function applyEvent(run: RunState, e: ExperimentEvent): PlanState | undefined {
  if (e.type === 'start') {
    run.backend = e.backend;
    return undefined;
  }
  if (e.type === 'error' && e.strategy === null) {
    run.error = e.message;
    return undefined;
  }
  const plan = run.plans.find((p) => p.plan === e.strategy);
  if (!plan) return undefined;
  switch (e.type) {
    case 'step':
      plan.status = 'running';
      plan.loss.push([e.step, e.loss]);
      break;
    case 'epoch':
      plan.epochsDone = e.epoch;
      plan.accuracy.push([e.epoch, e.valAcc]);
      break;
    case 'end':
      plan.status = 'done';
      plan.result = e;
      break;
    case 'error':
      plan.status = 'failed';
      plan.error = e.message;
      break;
  }
  return plan;
}

/**
 * The run has ended: plans that never ended say why (the run failed before
 * them, or was cancelled), so that no row is left waiting.
 */
export function finishRun(run: RunState, cancelled: boolean): void {
  run.finished = true;
  run.cancelled = cancelled;
  for (const p of run.plans) {
    if (p.status === 'done' || p.status === 'failed') continue;
    p.status = 'failed';
    p.error = run.error ? 'not run: the run failed' : cancelled ? 'cancelled' : 'not run';
  }
}

/** What a plan's progress bar says: waiting, where it is (epoch or step of the budget), done, or why it stopped. */
export function progressText(run: RunState, plan: PlanState): string {
  if (plan.status === 'running') return run.setup.budget === 'steps' ? `step ${plan.loss.length} of ${run.setup.steps}` : `epoch ${Math.min(plan.epochsDone + 1, run.setup.epochs)} of ${run.setup.epochs}`;
  if (plan.status !== 'failed') return plan.status;
  return /^(cancelled|not run)/.test(plan.error ?? '') ? plan.error! : 'failed (see its row)';
}

/** A plan's progress from 0 to 1, by epochs or by steps as the budget is (a failed or finished plan is complete). */
export function progress(run: RunState, plan: PlanState): number {
  if (plan.status === 'done' || plan.status === 'failed') return 1;
  if (run.setup.budget === 'steps') return Math.min(1, plan.loss.length / run.setup.steps);
  return Math.min(1, plan.epochsDone / run.setup.epochs);
}

export type Column = 'plan' | 'valAcc' | 'bestValAcc' | 'msPerEpoch' | 'samplesPerSec' | 'peakRssMB' | 'trainableParams';
export const COLUMNS: { key: Column; label: string; better: 'high' | 'low' | null }[] = [
  { key: 'plan', label: 'Plan', better: null },
  { key: 'valAcc', label: 'Val acc', better: 'high' },
  { key: 'bestValAcc', label: 'Best val acc', better: 'high' },
  { key: 'msPerEpoch', label: 'ms / epoch', better: 'low' },
  { key: 'samplesPerSec', label: 'Samples / s', better: 'high' },
  { key: 'peakRssMB', label: 'Peak MB', better: 'low' },
  { key: 'trainableParams', label: 'Trainable', better: 'low' },
];

function cell(p: PlanState, c: Column): number | string | undefined {
  if (c === 'plan') return p.plan;
  return p.result?.[c];
}

/** The finished plans sorted by a column (failed and unfinished ones last, in their order). */
export function sortPlans(plans: PlanState[], column: Column, descending: boolean): PlanState[] {
  const done = plans.filter((p) => p.result);
  const rest = plans.filter((p) => !p.result);
  const sign = descending ? -1 : 1;
  done.sort((a, b) => {
    const x = cell(a, column)!;
    const y = cell(b, column)!;
    return sign * (typeof x === 'string' ? x.localeCompare(y as string) : x - (y as number));
  });
  return [...done, ...rest];
}

/** Per column, the plan whose cell is best (ties: the first), among finished plans. */
export function bestCells(plans: PlanState[]): Partial<Record<Column, string>> {
  const out: Partial<Record<Column, string>> = {};
  for (const { key, better } of COLUMNS) {
    if (!better) continue;
    let best: PlanState | undefined;
    for (const p of plans) {
      if (!p.result) continue;
      const v = p.result[key as Exclude<Column, 'plan'>];
      if (!best || (better === 'high' ? v > best.result![key as Exclude<Column, 'plan'>] : v < best.result![key as Exclude<Column, 'plan'>])) best = p;
    }
    if (best) out[key] = best.plan;
  }
  return out;
}

/** A past run as the panel lists it. */
export interface RunSummary {
  runId: number;
  plans: string[];
  backend?: string;
  /** The best final validation accuracy among its plans, if any finished. */
  bestValAcc?: number;
  cancelled: boolean;
}

/** Runs kept per workspace. */
export const MAX_PAST_RUNS = 20;

/** Loss points kept per plan in a past run: a long run's curve is thinned to about this many, its shape kept. */
export const MAX_KEPT_STEPS = 2000;

/**
 * Adds a finished run to the kept ones: newest first, a run id once, at
 * most MAX_PAST_RUNS (the oldest go). Kept runs live in the workspace's
 * storage, so each plan's loss curve is thinned to about MAX_KEPT_STEPS
 * points (every k-th step and the last): twenty runs of 50,000 steps
 * would otherwise be megabytes read at every panel open.
 */
export function keepRun(past: RunState[], run: RunState): RunState[] {
  const thin = (loss: [number, number][]): [number, number][] => {
    if (loss.length <= MAX_KEPT_STEPS) return loss;
    const every = Math.ceil(loss.length / MAX_KEPT_STEPS);
    return loss.filter((_, i) => i % every === 0 || i === loss.length - 1);
  };
  const kept = { ...run, plans: run.plans.map((p) => ({ ...p, loss: thin(p.loss) })) };
  return [kept, ...past.filter((r) => r.runId !== run.runId)].slice(0, MAX_PAST_RUNS);
}

export function summarize(run: RunState): RunSummary {
  const accs = run.plans.flatMap((p) => (p.result ? [p.result.valAcc] : []));
  return { runId: run.runId, plans: run.setup.plans, ...(run.backend ? { backend: run.backend } : {}), ...(accs.length ? { bestValAcc: Math.max(...accs) } : {}), cancelled: run.cancelled };
}

/** One row of the comparison of runs: a plan's result in one run. */
export interface ComparedRow {
  run: number;
  plan: string;
  backend?: string;
  result?: Extract<ExperimentEvent, { type: 'end' }>;
  error?: string;
}

/**
 * Runs side by side: every plan of every run, grouped by plan (the same
 * plan's runs next to each other, in the runs' order), so that a plan's
 * accuracy and time read across runs at a glance.
 */
export function compareRuns(runs: RunState[]): ComparedRow[] {
  const plans = [...new Set(runs.flatMap((r) => r.plans.map((p) => p.plan)))];
  return plans.flatMap((plan) =>
    runs.flatMap((r) => {
      const p = r.plans.find((q) => q.plan === plan);
      return p ? [{ run: r.runId, plan, ...(r.backend ? { backend: r.backend } : {}), ...(p.result ? { result: p.result } : {}), ...(p.error ? { error: p.error } : {}) }] : [];
    }),
  );
}

/** The results as CSV: one row per plan, failures with their message. */
export function toCsv(run: RunState): string {
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const header = ['plan', 'status', 'val_acc', 'best_val_acc', 'ms_per_epoch', 'samples_per_sec', 'peak_rss_mb', 'trainable_params', 'total_params', 'backend', 'error'];
  const rows = run.plans.map((p) => {
    const r = p.result;
    return [p.plan, p.status, r?.valAcc, r?.bestValAcc, r?.msPerEpoch, r?.samplesPerSec, r?.peakRssMB, r?.trainableParams, r?.totalParams, r?.backend, p.error].map((v) => (v === undefined ? '' : quote(String(v))));
  });
  return `${[header, ...rows].map((r) => r.join(',')).join('\n')}\n`;
}

/** The results and curves as JSON, for the user's own analysis. */
export function toJson(run: RunState): string {
  return `${JSON.stringify({ setup: run.setup, backend: run.backend, error: run.error, cancelled: run.cancelled, plans: run.plans }, null, 2)}\n`;
}
