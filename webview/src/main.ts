/**
 * The experiment panel ("FreezeLens: Run Quick Fine-tune"): the setup form,
 * live curves (uPlot) and the results table of a run. The extension
 * (client/src/experiments/panel.ts) starts runs and sends their events;
 * this page folds them with the shared model (./experiment/model.ts) and
 * draws. Built with @vscode-elements and VS Code's theme variables; the CSP
 * allows nothing remote. Its state survives hiding and reloads (setState).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './main.css';
import { applyEvent, bestCells, COLUMNS, compareRuns, DEFAULT_SETUP, finishRun, SUMMARY_CLASSES, isFactory, modelSpec, modelText, newRun, PLANNER_PLAN, progress, progressText, sortPlans, validateSetup, withDefaults, type Availability, type Column, type FromPanel, type PanelBackend, type PanelSetup, type PlannerOffer, type RunState, type RunSummary, type ToPanel } from './experiment/model';
import { el } from './dom';

declare function acquireVsCodeApi(): { postMessage(message: FromPanel): void; getState(): unknown; setState(state: unknown): void };
const vscode = acquireVsCodeApi();

interface Saved {
  setup: PanelSetup;
  run?: RunState;
  logScale: boolean;
  sort: { column: Column; descending: boolean };
}
const PRESETS = ['linear-probe', 'full', 'gradual:1', 'bn-only'];
const saved = vscode.getState() as Saved | undefined;
// A state saved by an older panel lacks newer fields: they take their defaults.
const state: Saved = saved ? { ...saved, setup: withDefaults(saved.setup), ...(saved.run ? { run: { ...saved.run, setup: withDefaults(saved.run.setup) } } : {}) } : { setup: DEFAULT_SETUP, logScale: false, sort: { column: 'valAcc', descending: true } };
let availability: Availability | undefined;
let planner: PlannerOffer | undefined;
let trusted = true;
let running = false;
const save = () => vscode.setState(state);

const app = document.getElementById('app')!;
app.textContent = '';
const trustButton = el('vscode-button', { secondary: '' }, 'Manage Workspace Trust…');
const trustNote = el('div', { class: 'trust', hidden: '' }, el('p', {}, 'Experiments read your data and, with the torch backend, run your code: trust this workspace to run them.'), trustButton);
trustButton.addEventListener('click', () => vscode.postMessage({ type: 'manageTrust' }));
const form = el('form', { 'aria-label': 'Experiment setup' });
const errorsOf = new Map<string, HTMLElement>();
/** A labelled form field with its inline error; `control` is what the label names, `shown` what is laid out (the control with a button beside it). */
function field(name: keyof PanelSetup, label: string, control: HTMLElement, help?: string, shown: HTMLElement = control): HTMLElement {
  const id = `f-${name}`;
  control.id = id;
  const error = el('span', { class: 'error', id: `${id}-error`, role: 'alert' });
  control.setAttribute('aria-describedby', help ? `${id}-help ${id}-error` : `${id}-error`);
  errorsOf.set(name, error);
  return el('div', { class: 'field' }, el('label', { for: id }, label), shown, ...(help ? [el('span', { class: 'help', id: `${id}-help` }, help)] : []), error);
}
const modelInput = el('input', { type: 'text', list: 'model-options', placeholder: 'model.onnx, or package.module:function / resnet50 for torch' });
const modelOptions = el('datalist', { id: 'model-options' });
const dataInput = el('input', { type: 'text', placeholder: 'an image folder (one subfolder per class)' });
const browseModel = el('vscode-button', { secondary: '', 'aria-label': 'Browse for the model file' }, 'Browse…');
const browseData = el('vscode-button', { secondary: '', 'aria-label': 'Browse for the data folder' }, 'Browse…');
const dataSummary = el('div', { class: 'data-summary', 'aria-live': 'polite' });
const presetBoxes = PRESETS.map((p) => el('vscode-checkbox', { label: p, value: p }) as HTMLElement & { checked: boolean });
const plannerNote = el('span', { class: 'help', id: 'planner-plan-note' });
const plannerBox = el('vscode-checkbox', { label: 'Current planner plan', value: PLANNER_PLAN, disabled: '', 'aria-describedby': 'planner-plan-note' }) as HTMLElement & { checked: boolean };
const morePlans = el('input', { type: 'text', 'aria-label': 'More plans', placeholder: 'freeze-to:layer3, full+bn-train, …' });
const num = (v: number, step = '1') => el('input', { type: 'number', value: String(v), step });
const budgetSelect = el('select', {}, el('option', { value: 'epochs' }, 'Epochs'), el('option', { value: 'steps' }, 'Steps'));
const epochsInput = num(state.setup.epochs);
const stepsInput = num(state.setup.steps, '10');
const batchInput = num(state.setup.batch);
const seedInput = num(state.setup.seed);
const valInput = num(state.setup.valSplit, '0.05');
const lrInput = el('input', { type: 'text', inputmode: 'decimal' });
const optimizerSelect = el('select', {}, el('option', { value: 'adamw' }, 'AdamW'), el('option', { value: 'sgd' }, 'SGD (momentum 0.9)'));
const backendSelect = el('select');
const imageSizeInput = num(state.setup.imageSize, '32');
const runButton = el('vscode-button', {}, 'Run');
const cancelButton = el('vscode-button', { secondary: '', disabled: '' }, 'Cancel');
const epochsField = field('epochs', 'Epochs', epochsInput);
// PyTorch resizes an image folder to this; an ONNX export fixes its own input size, so the field shows for torch only.
const imageSizeField = field('imageSize', 'Image size (px)', imageSizeInput);
const stepsField = field('steps', 'Steps per plan', stepsInput);
form.append(
  field('model', 'Model', modelInput, 'An .onnx export (tfjs backends); for PyTorch, a package.module:function factory, a torchvision name or a TorchScript .pt file', el('div', { class: 'with-button' }, modelInput, browseModel)),
  modelOptions,
  field('data', 'Data', dataInput, undefined, el('div', { class: 'with-button' }, dataInput, browseData)),
  dataSummary,
  field('plans', 'Plans', el('div', { class: 'plans', role: 'group', 'aria-label': 'Plans' }, ...presetBoxes, plannerBox, morePlans), 'Presets, the Freeze Planner\'s current plan, and more as comma-separated planner presets'),
  plannerNote,
  el('div', { class: 'row' }, field('budget', 'Budget', budgetSelect), epochsField, stepsField, field('batch', 'Batch', batchInput), field('seed', 'Seed', seedInput), field('valSplit', 'Validation split', valInput)),
  el('div', { class: 'row' }, field('lr', 'Learning rate', lrInput), field('optimizer', 'Optimizer', optimizerSelect), field('backend', 'Backend', backendSelect), imageSizeField),
  el('div', { class: 'actions' }, runButton, cancelButton),
);

const progressList = el('div', { class: 'progress', 'aria-label': 'Progress per plan' });
const charts = el('div', { class: 'charts' });
const logToggle = el('vscode-checkbox', { label: 'Log-scale loss' }) as HTMLElement & { checked: boolean };
const table = el('table', { class: 'results', 'aria-label': 'Results' });
const runError = el('p', { class: 'error', role: 'alert' });
const runStatus = el('p', { class: 'status', role: 'status' });
const exportJson = el('vscode-button', { secondary: '', disabled: '' }, 'Export JSON');
const exportCsv = el('vscode-button', { secondary: '', disabled: '' }, 'Export CSV');
const saveChart = el('vscode-button', { secondary: '', disabled: '' }, 'Save chart');
const pastSelect = el('select', { id: 'past-runs' });
const compareSelect = el('select', { id: 'compare-runs' });
const pastRuns = el(
  'div',
  { class: 'row past', hidden: '' },
  el('div', { class: 'field' }, el('label', { for: 'past-runs' }, 'Past runs in this workspace'), pastSelect),
  el('div', { class: 'field' }, el('label', { for: 'compare-runs' }, 'Compare the shown run with'), compareSelect),
);
const comparison = el('table', { class: 'results compare', 'aria-label': 'Runs compared', hidden: '' });
app.append(el('h1', {}, 'Quick fine-tune'), trustNote, pastRuns, form, runStatus, runError, progressList, el('div', { class: 'chart-tools' }, logToggle), charts, table, el('div', { class: 'actions' }, exportJson, exportCsv, saveChart), comparison);

function readSetup(): PanelSetup {
  const backend = backendSelect.value as PanelBackend;
  const plans = [...[...presetBoxes, plannerBox].filter((b) => b.checked).map((b) => b.getAttribute('value')!), ...morePlans.value.split(',').map((p) => p.trim()).filter(Boolean)];
  return {
    model: modelSpec(modelInput.value, backend),
    data: dataInput.value.trim(),
    plans,
    budget: budgetSelect.value === 'steps' ? 'steps' : 'epochs',
    epochs: Number(epochsInput.value),
    steps: Number(stepsInput.value),
    batch: Number(batchInput.value),
    seed: Number(seedInput.value),
    valSplit: Number(valInput.value),
    lr: lrInput.value.trim() === '' ? NaN : Number(lrInput.value),
    optimizer: optimizerSelect.value === 'sgd' ? 'sgd' : 'adamw',
    backend,
    imageSize: Number(imageSizeInput.value),
  };
}

function fillForm(s: PanelSetup): void {
  modelInput.value = modelText(s.model);
  dataInput.value = s.data;
  for (const b of presetBoxes) b.checked = s.plans.includes(b.getAttribute('value')!);
  plannerBox.checked = s.plans.includes(PLANNER_PLAN);
  morePlans.value = s.plans.filter((p) => !PRESETS.includes(p) && p !== PLANNER_PLAN).join(', ');
  budgetSelect.value = s.budget;
  epochsInput.value = String(s.epochs);
  stepsInput.value = String(s.steps);
  batchInput.value = String(s.batch);
  seedInput.value = String(s.seed);
  valInput.value = String(s.valSplit);
  lrInput.value = String(s.lr);
  optimizerSelect.value = s.optimizer;
  imageSizeInput.value = String(s.imageSize);
  showBudget();
}

/** One budget field shows: epochs or steps; and the image size for PyTorch. */
function showBudget(): void {
  epochsField.toggleAttribute('hidden', budgetSelect.value === 'steps');
  stepsField.toggleAttribute('hidden', budgetSelect.value !== 'steps');
  imageSizeField.toggleAttribute('hidden', backendSelect.value !== 'torch');
}
budgetSelect.addEventListener('change', showBudget);
backendSelect.addEventListener('change', showBudget);

function showErrors(): boolean {
  state.setup = readSetup();
  save();
  const errors = availability ? validateSetup(state.setup, availability, planner) : {};
  renderErrors(errors);
  return Object.keys(errors).length === 0;
}

function renderErrors(errors: Partial<Record<keyof PanelSetup, string>>): void {
  for (const [name, span] of errorsOf) span.textContent = errors[name as keyof PanelSetup] ?? '';
}

function renderBackends(): void {
  backendSelect.textContent = '';
  const labels: Record<PanelBackend, string> = { auto: 'auto', wasm: 'tfjs wasm', cpu: 'tfjs cpu', tensorflow: 'tfjs native', torch: 'PyTorch' };
  for (const b of Object.keys(labels) as PanelBackend[]) {
    const a = availability?.[b];
    const option = el('option', { value: b }, a && !a.available ? `${labels[b]} (unavailable: ${a.why ?? 'not here'})` : labels[b]);
    if (a && !a.available) option.disabled = true;
    backendSelect.append(option);
  }
  backendSelect.value = state.setup.backend;
  showBudget();
}

// --- Charts: one line per plan; train loss by step, validation accuracy by epoch.
let lossChart: uPlot | undefined;
let accChart: uPlot | undefined;
const PALETTE = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow'];
const colour = (i: number) => getComputedStyle(document.body).getPropertyValue(PALETTE[i % PALETTE.length]).trim() || '#3794ff';

/** uPlot wants one x array shared by all series: the union of the plans' x values, with gaps (null) where a plan has none. */
function aligned(series: [number, number][][]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.map(([x]) => x)))].sort((a, b) => a - b);
  return [xs, ...series.map((s) => {
    const at = new Map(s);
    return xs.map((x) => at.get(x) ?? null);
  })] as uPlot.AlignedData;
}

function drawCharts(run: RunState): void {
  const width = Math.max(280, Math.min(560, (charts.clientWidth || 600) / 2 - 16));
  const fg = getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim() || '#ccc';
  const axis = { stroke: fg, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.4)' } };
  const series = run.plans.map((p, i) => ({ label: p.plan, stroke: colour(i), width: 1.5, spanGaps: true }));
  // Steps and epochs are whole numbers: ticks only at whole increments.
  const whole = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];
  const make = (title: string, xLabel: string, log: boolean): uPlot.Options => ({
    title, width, height: 220, scales: { x: { time: false }, y: log ? { distr: 3 } : {} }, axes: [{ ...axis, label: xLabel, incrs: whole }, axis], series: [{ label: xLabel }, ...series],
  });
  lossChart?.destroy();
  accChart?.destroy();
  charts.textContent = '';
  const lossBox = el('figure', { 'aria-label': 'Train loss per step' });
  const accBox = el('figure', { 'aria-label': 'Validation accuracy per epoch' });
  charts.append(lossBox, accBox);
  lossChart = new uPlot(make('Train loss', 'step', state.logScale), aligned(run.plans.map((p) => p.loss)), lossBox);
  accChart = new uPlot(make('Validation accuracy', 'epoch', false), aligned(run.plans.map((p) => p.accuracy)), accBox);
}

/** Redraws at most once a frame however fast events come. */
let pending = false;
function scheduleRender(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    if (state.run) renderRun(state.run);
  });
}

function renderRun(run: RunState): void {
  runError.textContent = run.error ?? '';
  runStatus.textContent = !run.finished ? `Running on ${run.backend ?? '…'}` : `${run.cancelled ? 'Run cancelled' : 'Run finished'}${run.backend ? ` on ${run.backend}` : ''}`;
  progressList.textContent = '';
  for (const p of run.plans) {
    const bar = el('vscode-progress-bar', { 'aria-label': `${p.plan} progress`, value: String(progress(run, p)), max: '1' });
    progressList.append(el('div', { class: `plan ${p.status}` }, el('span', { class: 'name' }, p.plan), bar, el('span', { class: 'status' }, progressText(run, p))));
  }
  if (lossChart && accChart && lossChart.series.length === run.plans.length + 1) {
    lossChart.setData(aligned(run.plans.map((p) => p.loss)));
    accChart.setData(aligned(run.plans.map((p) => p.accuracy)));
  } else drawCharts(run);
  renderTable(run);
  save();
}

function renderTable(run: RunState): void {
  const best = bestCells(run.plans);
  const fmt: Record<Exclude<Column, 'plan'>, (v: number) => string> = {
    valAcc: (v) => `${(100 * v).toFixed(1)}%`,
    bestValAcc: (v) => `${(100 * v).toFixed(1)}%`,
    msPerEpoch: (v) => v.toFixed(0),
    samplesPerSec: (v) => v.toFixed(0),
    peakRssMB: (v) => v.toFixed(0),
    trainableParams: (v) => v.toLocaleString('en-US'),
  };
  table.textContent = '';
  const head = el('tr');
  for (const c of COLUMNS) {
    const sorted = state.sort.column === c.key;
    const button = el('button', { type: 'button', 'aria-label': `Sort by ${c.label}` }, `${c.label}${sorted ? (state.sort.descending ? ' ▼' : ' ▲') : ''}`);
    button.addEventListener('click', () => {
      state.sort = { column: c.key, descending: sorted ? !state.sort.descending : c.better !== 'low' };
      renderTable(run);
      save();
    });
    head.append(el('th', { scope: 'col', 'aria-sort': sorted ? (state.sort.descending ? 'descending' : 'ascending') : 'none' }, button));
  }
  head.append(el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Actions')));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const p of sortPlans(run.plans, state.sort.column, state.sort.descending)) {
    const row = el('tr');
    row.append(el('th', { scope: 'row' }, p.plan));
    if (!p.result) {
      row.append(el('td', { colspan: String(COLUMNS.length), class: p.status === 'failed' ? 'error' : 'muted' }, p.status === 'failed' ? p.error ?? 'failed' : p.status));
    } else {
      for (const c of COLUMNS.slice(1)) {
        const key = c.key as Exclude<Column, 'plan'>;
        const isBest = best[key] === p.plan && run.plans.filter((q) => q.result).length > 1;
        row.append(el('td', isBest ? { class: 'best', title: `best ${c.label}` } : {}, `${fmt[key](p.result[key])}${isBest ? ' ★' : ''}`));
      }
      const apply = el('button', { type: 'button', class: 'link', 'aria-label': `Apply to script: ${p.plan}` }, 'Apply to script');
      apply.addEventListener('click', () => vscode.postMessage({ type: 'apply', runId: run.runId, plan: p.plan }));
      row.append(el('td', {}, apply));
    }
    body.append(row);
  }
  table.append(body);
}

function setRunning(on: boolean): void {
  running = on;
  runButton.toggleAttribute('disabled', on || !trusted);
  cancelButton.toggleAttribute('disabled', !on);
  const done = !!state.run && state.run.finished;
  exportJson.toggleAttribute('disabled', !done);
  exportCsv.toggleAttribute('disabled', !done);
  saveChart.toggleAttribute('disabled', !done);
}

browseModel.addEventListener('click', () => vscode.postMessage({ type: 'browse', field: 'model' }));
browseData.addEventListener('click', () => vscode.postMessage({ type: 'browse', field: 'data' }));
runButton.addEventListener('click', () => {
  if (running || !trusted || !showErrors()) return;
  vscode.postMessage({ type: 'run', setup: state.setup });
});
cancelButton.addEventListener('click', () => {
  if (state.run) vscode.postMessage({ type: 'cancel', runId: state.run.runId });
});
exportJson.addEventListener('click', () => state.run && vscode.postMessage({ type: 'export', runId: state.run.runId, format: 'json' }));
exportCsv.addEventListener('click', () => state.run && vscode.postMessage({ type: 'export', runId: state.run.runId, format: 'csv' }));
saveChart.addEventListener('click', () => {
  if (!state.run || !lossChart || !accChart) return;
  // Both charts side by side on the editor's background (the canvases themselves are transparent).
  const [a, b] = [lossChart.ctx.canvas, accChart.ctx.canvas];
  const out = document.createElement('canvas');
  out.width = a.width + b.width;
  out.height = Math.max(a.height, b.height);
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = getComputedStyle(document.body).getPropertyValue('--vscode-editor-background').trim() || '#1e1e1e';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(a, 0, 0);
  ctx.drawImage(b, a.width, 0);
  vscode.postMessage({ type: 'saveChart', runId: state.run.runId, png: out.toDataURL('image/png') });
});
logToggle.addEventListener('change', () => {
  state.logScale = logToggle.checked;
  if (state.run) drawCharts(state.run);
  save();
});
// A form submits on Enter (vscode-checkbox asks it to): that would navigate the webview, reloading the panel. Runs start from Run only.
form.addEventListener('submit', (e) => e.preventDefault());
form.addEventListener('input', () => showErrors());
form.addEventListener('change', () => showErrors());

/** The data folder's classes, counts and thumbnails, asked for when the path settles. */
let inspectTimer: ReturnType<typeof setTimeout> | undefined;
function inspectData(): void {
  clearTimeout(inspectTimer);
  inspectTimer = setTimeout(() => {
    const p = dataInput.value.trim();
    if (p && !isFactory(p)) vscode.postMessage({ type: 'inspectData', path: p });
    else dataSummary.textContent = '';
  }, 300);
}
dataInput.addEventListener('input', inspectData);

function renderDataSummary(m: Extract<ToPanel, { type: 'dataSummary' }>): void {
  if (m.path !== dataInput.value.trim()) return; // an answer for an older path
  dataSummary.textContent = '';
  if (m.error) {
    dataSummary.append(el('span', { class: 'error' }, m.error));
    return;
  }
  const total = m.classes.reduce((n, c) => n + c.count, 0);
  dataSummary.append(el('span', { class: 'help' }, `${m.classes.length} classes, ${total.toLocaleString('en-US')} images`));
  const strip = el('div', { class: 'thumbs' });
  // The first classes, each with its thumbnail; a folder of hundreds of classes is summed up after them.
  const shown = SUMMARY_CLASSES;
  for (const c of m.classes.slice(0, shown)) {
    const img = el('img', { alt: `${c.name}: first image`, width: '48', height: '48' });
    if (c.thumbnail) img.src = c.thumbnail;
    strip.append(el('figure', {}, ...(c.thumbnail ? [img] : []), el('figcaption', {}, `${c.name} (${c.count})`)));
  }
  if (m.classes.length > shown) strip.append(el('span', { class: 'help' }, `and ${m.classes.length - shown} more classes`));
  dataSummary.append(strip);
}

function renderHistory(runs: RunSummary[]): void {
  pastRuns.toggleAttribute('hidden', runs.length === 0);
  for (const [select, prompt] of [[pastSelect, 'Choose a run to show…'], [compareSelect, 'No comparison']] as const) {
    select.textContent = '';
    select.append(el('option', { value: '' }, prompt));
    for (const r of runs) {
      const best = r.bestValAcc === undefined ? 'no result' : `best ${(100 * r.bestValAcc).toFixed(1)}%`;
      select.append(el('option', { value: String(r.runId) }, `Run ${r.runId}: ${r.plans.join(', ')} (${best}${r.backend ? `, ${r.backend}` : ''}${r.cancelled ? ', cancelled' : ''})`));
    }
  }
}
pastSelect.addEventListener('change', () => {
  if (pastSelect.value && !running) vscode.postMessage({ type: 'showRun', runId: Number(pastSelect.value) });
});
compareSelect.addEventListener('change', () => {
  if (compareSelect.value) vscode.postMessage({ type: 'showRun', runId: Number(compareSelect.value), compare: true });
  else comparison.toggleAttribute('hidden', true);
});

/** The shown run and another, side by side: each plan's rows next to each other. */
function renderComparison(other: RunState): void {
  if (!state.run) return;
  comparison.textContent = '';
  comparison.removeAttribute('hidden');
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  comparison.append(el('caption', {}, `Run ${state.run.runId} compared with run ${other.runId}`));
  comparison.append(el('thead', {}, el('tr', {}, ...['Plan', 'Run', 'Backend', 'Val acc', 'Best val acc', 'ms / epoch', 'Peak MB', 'Trainable'].map((h) => el('th', { scope: 'col' }, h)))));
  const body = el('tbody');
  for (const r of compareRuns([state.run, other])) {
    const cells = r.result ? [pct(r.result.valAcc), pct(r.result.bestValAcc), r.result.msPerEpoch.toFixed(0), r.result.peakRssMB.toFixed(0), r.result.trainableParams.toLocaleString('en-US')] : [r.error ?? 'no result', '', '', '', ''];
    body.append(el('tr', {}, el('th', { scope: 'row' }, r.plan), el('td', {}, String(r.run)), el('td', {}, r.backend ?? ''), ...cells.map((c) => el('td', {}, c))));
  }
  comparison.append(body);
}

window.addEventListener('message', (event: MessageEvent) => {
  const m = event.data as ToPanel;
  if (m.type === 'history') {
    renderHistory(m.runs);
    return;
  }
  if (m.type === 'pastRun' && m.compare) {
    renderComparison(m.run);
    return;
  }
  if (m.type === 'pastRun') {
    comparison.toggleAttribute('hidden', true);
    state.run = m.run;
    drawCharts(m.run);
    renderRun(m.run);
    setRunning(false);
    return;
  }
  if (m.type === 'dataSummary') {
    renderDataSummary(m);
    return;
  }
  if (m.type === 'planner') {
    planner = m.plan;
    plannerBox.toggleAttribute('disabled', !planner);
    // Enabled again, vscode-checkbox puts back the tab index it read when disabled: -1 for a host without one, which
    // takes its shadow input out of the Tab order. Without the attribute, the input is tabbable as at first.
    if (planner) plannerBox.removeAttribute('tabindex');
    plannerNote.textContent = planner ? `Planner: ${planner.model}: ${planner.description}` : 'The Freeze Planner shows no model: open it on your script to run its plan here.';
    if (availability) showErrors();
    return;
  }
  if (m.type === 'models') {
    modelOptions.textContent = '';
    for (const o of m.models) modelOptions.append(el('option', { value: o.value }, o.label));
    return;
  }
  if (m.type === 'browsed') {
    (m.field === 'model' ? modelInput : dataInput).value = m.path;
    showErrors();
    if (m.field === 'data') inspectData();
    return;
  }
  if (m.type === 'invalid') {
    renderErrors(m.errors);
    return;
  }
  if (m.type === 'availability') {
    availability = m.backends;
    trusted = m.trusted;
    trustNote.toggleAttribute('hidden', trusted);
    form.toggleAttribute('inert', !trusted);
    if (!saved && m.defaults) state.setup = { ...state.setup, model: { kind: 'onnx', path: m.defaults.model }, data: m.defaults.data };
    fillForm(state.setup);
    renderBackends();
    setRunning(false);
    showErrors();
    inspectData();
    // The panel is usable from here: the e2e reads this mark for the open time (bench/RESULTS.md).
    if (performance.getEntriesByName('freezelens-panel-ready').length === 0) performance.mark('freezelens-panel-ready');
  } else if (m.type === 'started') {
    state.run = newRun(m.runId, m.setup);
    // A comparison of earlier runs no longer describes the shown one.
    comparison.toggleAttribute('hidden', true);
    compareSelect.value = '';
    setRunning(true);
    drawCharts(state.run);
    renderRun(state.run);
    // The run is what to watch now: its status, progress and curves come into view (focus stays where it was).
    runStatus.scrollIntoView({ block: 'start' });
  } else if (m.type === 'event' && state.run?.runId === m.runId) {
    applyEvent(state.run, m.event);
    scheduleRender();
  } else if (m.type === 'finished' && state.run?.runId === m.runId) {
    finishRun(state.run, m.cancelled);
    setRunning(false);
    renderRun(state.run);
  }
});

fillForm(state.setup);
logToggle.checked = state.logScale;
if (state.run) renderRun(state.run);
vscode.postMessage({ type: 'ready' });
