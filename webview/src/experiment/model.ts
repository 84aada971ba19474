/**
 * The experiment panel's model, without the DOM: what the panel and the
 * extension say to each other, the checks on the setup form, and the run
 * state that the events build (curves, progress, the results table). The
 * webview renders it; the tests run it under Node.
 */
import type { ExperimentEvent } from '../../../server/src/experiment/engine';

export type PanelBackend = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'torch';

export interface PanelSetup {
  /** An ONNX export for the tfjs engine; a factory or catalog name for torch. */
  model: { kind: 'onnx'; path: string } | { kind: 'factory'; factory: string } | { kind: 'catalog'; name: string };
  /** An ImageFolder directory (or, for torch, a data factory `module:function`). */
  data: string;
  plans: string[];
  epochs: number;
  batch: number;
  seed: number;
  valSplit: number;
  backend: PanelBackend;
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
  | { type: 'dataSummary'; path: string; classes: { name: string; count: number; thumbnail?: string }[]; error?: string };

const PRESET = /^(linear-probe|full|bn-only|freeze-to:[\w.]+|gradual:\d+|discriminative:[\d.]+)(\+bn-train|\+lr-split:[\d.]+)*$/;

/** A `package.module:function` spec (a model or data factory for the PyTorch backend), as opposed to a path. */
export function isFactory(spec: string): boolean {
  return /^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/.test(spec);
}

/** The form's errors by field, shown inline before a run starts; empty when it can run. */
export function validateSetup(s: PanelSetup, availability: Availability): Partial<Record<keyof PanelSetup, string>> {
  const errors: Partial<Record<keyof PanelSetup, string>> = {};
  const torch = s.backend === 'torch';
  if (s.model.kind === 'onnx' && !s.model.path.trim()) errors.model = 'Choose a model.';
  else if (s.model.kind === 'onnx' && torch) errors.model = 'The torch backend runs a model factory or a catalog name, not an ONNX file.';
  else if (s.model.kind !== 'onnx' && !torch) errors.model = 'A factory or catalog model needs the torch backend.';
  else if (s.model.kind === 'factory' && !isFactory(s.model.factory)) errors.model = 'A factory is package.module:function.';
  if (!s.data.trim()) errors.data = 'Choose the data: an image folder (one subfolder per class).';
  if (s.plans.length === 0) errors.plans = 'Choose at least one plan.';
  else {
    const bad = s.plans.find((p) => !PRESET.test(p));
    if (bad) errors.plans = `'${bad}' is not a plan FreezeLens knows.`;
    else if (new Set(s.plans).size !== s.plans.length) errors.plans = 'A plan is chosen twice.';
  }
  if (!(Number.isInteger(s.epochs) && s.epochs >= 1 && s.epochs <= 1000)) errors.epochs = 'Epochs: a whole number from 1 to 1000.';
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

/** A plan's progress from 0 to 1, by epochs (a failed or finished plan is complete). */
export function progress(run: RunState, plan: PlanState): number {
  if (plan.status === 'done' || plan.status === 'failed') return 1;
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

/** Adds a finished run to the kept ones: newest first, a run id once, at most MAX_PAST_RUNS (the oldest go). */
export function keepRun(past: RunState[], run: RunState): RunState[] {
  return [run, ...past.filter((r) => r.runId !== run.runId)].slice(0, MAX_PAST_RUNS);
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
