import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExperimentHandle } from '../../../server/src/experiment/process';
import { startExperiment } from '../../../server/src/experiment/process';
import { summarizeImageFolder } from '../../../server/src/experiment/datasets';
import { startTorchExperiment } from '../../../server/src/experiment/torch';
import { parseStrategy } from '../../../server/src/experiment/request';
import { PlanError } from '../../../server/src/plan/plan';
import { applyEvent, describePlan, finishRun, SUMMARY_CLASSES, isFactory, keepRun, modelText, newRun, PLANNER_PLAN, progress, progressText, runSettings, summarize, toCsv, toJson, validateSetup, withDefaults, type Availability, type FromPanel, type PanelSetup, type PlannerOffer, type RunState, type ToPanel } from '../../../webview/src/experiment/model';
import type { PlannerView } from '../planner/plannerView';
import { webviewHtml } from '../webviewHtml';
import { confirmTorchRun, resolvePython } from './torchCommand';

/**
 * "FreezeLens: Run Quick Fine-tune": the experiment panel's host. It tells
 * the webview which backends can run here, starts runs (the tfjs engine in
 * its child process, or the PyTorch runner) and relays their events, keeps
 * each run's state for the exports, and cancels. The webview
 * (webview/src/main.ts) renders; both fold events with the same model
 * (webview/src/experiment/model.ts).
 */
export const PANEL_VIEW_TYPE = 'freezelens.experiments';

const PAST_RUNS_KEY = 'freezelens.experiments.pastRuns';

/** Catalog architectures the language server knows, for the model field's suggestions (the torch backend builds them). */
export type CatalogNames = () => Promise<string[]>;

export function registerExperimentPanel(context: vscode.ExtensionContext, planner: PlannerView, catalogNames: CatalogNames): void {
  // The walkthrough's third step shows once the panel can open.
  void vscode.commands.executeCommand('setContext', 'freezelens.experimentsAvailable', true);
  context.subscriptions.push(
    vscode.commands.registerCommand('freezelens.experiment.open', () => ExperimentPanel.show(context, planner, catalogNames)),
    // A window reload brings the panel back; the webview restores its own state (getState).
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel) => void new ExperimentPanel(context, panel, planner, catalogNames),
    }),
  );
}

class ExperimentPanel {
  private static current: ExperimentPanel | undefined;
  private runs = new Map<number, RunState>();
  private handle: ExperimentHandle | undefined;
  private nextRun = 1;

  static show(context: vscode.ExtensionContext, planner: PlannerView, catalogNames: CatalogNames): void {
    if (ExperimentPanel.current) {
      ExperimentPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'FreezeLens: Quick Fine-tune', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview')],
    });
    new ExperimentPanel(context, panel, planner, catalogNames);
  }

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly panel: vscode.WebviewPanel,
    private readonly planner: PlannerView,
    private readonly catalogNames: CatalogNames,
  ) {
    const past = this.pastRuns();
    this.nextRun = Math.max(0, ...past.map((r) => r.runId)) + 1;
    ExperimentPanel.current = this;
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview')] };
    panel.webview.html = html(panel.webview, context.extensionUri);
    panel.webview.onDidReceiveMessage((m: FromPanel) => void this.receive(m));
    // Trust granted later: the torch backend may now be probed, and the form enabled.
    const trust = vscode.workspace.onDidGrantWorkspaceTrust(async () => {
      this.available = undefined;
      this.post({ type: 'availability', backends: await this.availability(), trusted: true, defaults: demoDefaults() });
    });
    // The planner's plan is offered as a plan to run: kept current as the user edits it.
    const plannerChanged = planner.onDidChangeTreeData(() => this.post({ type: 'planner', ...this.plannerOffer() }));
    panel.onDidDispose(() => {
      trust.dispose();
      plannerChanged.dispose();
      this.handle?.cancel();
      ExperimentPanel.current = undefined;
    });
  }

  private post(m: ToPanel): void {
    void this.panel.webview.postMessage(m);
  }

  /**
   * Which backends can run here: probed once per panel (it starts the
   * interpreter to try importing torch), again when the workspace is trusted.
   */
  private available: Promise<Availability> | undefined;
  private availability(): Promise<Availability> {
    this.available ??= availability();
    return this.available;
  }

  private plannerOffer(): { plan?: PlannerOffer } {
    const s = this.planner.state;
    if (!s) return {};
    const where = s.model.key.startsWith('catalog:') ? 'catalog' : path.basename(vscode.Uri.parse(s.model.uri ?? s.model.key).path);
    return { plan: { model: `${s.model.name} (${where})`, description: describePlan(s.plan) } };
  }

  /** The model field's suggestions: the planner's model where it can run here, the workspace's ONNX files, catalog names for torch. */
  private async modelOptions(): Promise<{ value: string; label: string }[]> {
    const options: { value: string; label: string }[] = [];
    const model = this.planner.state?.model;
    if (model?.key.startsWith('catalog:')) options.push({ value: model.name, label: 'the Freeze Planner\'s model (PyTorch backend)' });
    const onnx = await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 200);
    for (const uri of onnx.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
      const planner = model?.key === uri.toString() || model?.uri === uri.toString();
      options.push({ value: vscode.workspace.asRelativePath(uri, false), label: planner ? 'the Freeze Planner\'s model' : 'ONNX in this workspace' });
    }
    const names = await this.catalogNames().catch(() => []);
    for (const name of names) if (name !== model?.name || !model.key.startsWith('catalog:')) options.push({ value: name, label: 'catalog architecture (PyTorch backend)' });
    return options;
  }

  /** A run of this panel's session, or one kept from earlier (shown from "Past runs"). */
  private findRun(runId: number): RunState | undefined {
    return this.runs.get(runId) ?? this.pastRuns().find((r) => r.runId === runId);
  }

  private pastRuns(): RunState[] {
    return this.context.workspaceState.get<RunState[]>(PAST_RUNS_KEY) ?? [];
  }

  private async receive(m: FromPanel): Promise<void> {
    if (m.type === 'ready') {
      this.post({ type: 'availability', backends: await this.availability(), trusted: vscode.workspace.isTrusted, defaults: demoDefaults() });
      this.post({ type: 'history', runs: this.pastRuns().map(summarize) });
      this.post({ type: 'planner', ...this.plannerOffer() });
      this.post({ type: 'models', models: await this.modelOptions() });
    } else if (m.type === 'showRun') {
      const run = this.findRun(m.runId);
      if (run) this.post({ type: 'pastRun', run, ...(m.compare ? { compare: true } : {}) });
    }
    else if (m.type === 'run') await this.run(m.setup);
    else if (m.type === 'cancel') this.handle?.cancel();
    else if (m.type === 'export') await this.export(m.runId, m.format);
    else if (m.type === 'saveChart') await this.saveChart(m.runId, m.png);
    else if (m.type === 'inspectData') this.post(await dataSummary(m.path));
    else if (m.type === 'apply') await this.apply(m.runId, m.plan);
    else if (m.type === 'browse') await this.browse(m.field);
    else if (m.type === 'manageTrust') await vscode.commands.executeCommand('workbench.trust.manage');
  }

  /** A run being set up (validated, confirmed) but not started yet: a second Run meanwhile is ignored, as one during a run. */
  private starting = false;

  private async run(sent: PanelSetup): Promise<void> {
    if (!vscode.workspace.isTrusted || this.handle || this.starting) return;
    this.starting = true;
    try {
      await this.startRun(withDefaults(sent));
    } finally {
      this.starting = false;
    }
  }

  private async startRun(setup: PanelSetup): Promise<void> {
    const errors = validateSetup(setup, await this.availability(), this.plannerOffer().plan);
    if (Object.keys(errors).length > 0) {
      // The webview checks before it sends; this catches what changed meanwhile (the planner closed).
      this.post({ type: 'invalid', errors });
      return;
    }
    const folder = workspaceDir();
    // The PyTorch runner runs the user's code: it asks before there is a run at all.
    const python = setup.backend === 'torch' ? await resolvePython(vscode.workspace.workspaceFolders?.[0]?.uri) : undefined;
    if (python) {
      const code = [setup.model.kind === 'factory' ? setup.model.factory : undefined, isFactory(setup.data) ? setup.data : undefined].filter(Boolean).join(' and ');
      if (!(await confirmTorchRun(python, code || undefined).catch(() => false))) return;
    }
    // The planner's plan as it is now runs, and is kept with the run (for its history and "Apply").
    if (setup.plans.includes(PLANNER_PLAN)) setup.plannerPlan = structuredClone(this.planner.state!.plan);
    const runId = this.nextRun++;
    const run = newRun(runId, setup);
    this.runs.set(runId, run);
    this.post({ type: 'started', runId, setup });
    // The notification's bar: the plans' mean progress, and the plan that moved last.
    let reported = 0;
    let report: ((p: { message?: string; increment?: number }) => void) | undefined;
    const onEvent = (event: Parameters<typeof applyEvent>[1]) => {
      const plan = applyEvent(run, event);
      this.post({ type: 'event', runId, event });
      if (!plan || !report || (event.type !== 'epoch' && event.type !== 'end' && event.type !== 'error')) return;
      const done = (100 * run.plans.reduce((sum, p) => sum + progress(run, p), 0)) / run.plans.length;
      report({ message: `${plan.plan}: ${progressText(run, plan)}`, increment: done - reported });
      reported = done;
    };
    const settings = runSettings(setup, setup.plannerPlan);
    try {
      if (python) {
        const model = setup.model.kind === 'factory' || setup.model.kind === 'catalog' ? setup.model : { kind: 'torchscript' as const, path: inWorkspace(setup.model.path) };
        const data = isFactory(setup.data) ? { kind: 'factory' as const, factory: setup.data } : { kind: 'image-folder' as const, path: inWorkspace(setup.data), size: [setup.imageSize, setup.imageSize] as [number, number] };
        this.handle = startTorchExperiment({ python: python.path, cwd: folder, model, data, ...settings }, onEvent);
      } else {
        const backend = setup.backend === 'auto' ? undefined : setup.backend;
        this.handle = startExperiment({ model: inWorkspace(modelText(setup.model)), data: inWorkspace(setup.data), ...settings, ...(backend && backend !== 'torch' ? { backend } : {}) }, onEvent, { workerPath: this.context.asAbsolutePath('dist/experiment/worker.js') });
      }
      const handle = this.handle;
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'FreezeLens: quick fine-tune', cancellable: true }, async (bar, token) => {
        report = (p) => bar.report(p);
        token.onCancellationRequested(() => handle.cancel());
        await handle.done;
      });
    } catch (e) {
      // Starting failed (the runner or the worker is missing): the run ends with the reason, not a panel left running.
      onEvent({ type: 'error', strategy: null, message: (e as Error).message });
    }
    finishRun(run, run.plans.some((p) => p.error === 'cancelled'));
    this.handle = undefined;
    this.post({ type: 'finished', runId, cancelled: run.cancelled });
    const past = keepRun(this.pastRuns(), run);
    await this.context.workspaceState.update(PAST_RUNS_KEY, past);
    this.post({ type: 'history', runs: past.map(summarize) });
  }

  /**
   * "Apply to script": the plan as it ran (its preset and suffixes, or the
   * planner's plan it ran, with the run's learning rate and optimizer) goes
   * to the Freeze Planner's model, and the planner inserts its code with a
   * diff the user accepts, as from the planner itself. With no planner
   * open, the user picks the training script first.
   */
  private async apply(runId: number, plan: string): Promise<void> {
    const run = this.findRun(runId);
    if (!run) return;
    if (!this.planner.state && !(await this.openPlannerOnScript(plan))) return;
    const state = this.planner.state!;
    const setup = withDefaults(run.setup);
    try {
      if (plan === PLANNER_PLAN) {
        if (!setup.plannerPlan) return;
        state.update({ ...structuredClone(setup.plannerPlan), lr: setup.lr, optimizer: setup.optimizer });
      } else {
        const { preset, bnTrain, lrSplit } = parseStrategy(plan);
        state.applyPreset(preset, { lr: setup.lr, optimizer: setup.optimizer, ...(bnTrain ? { bn: 'train' as const } : {}), ...(lrSplit !== undefined ? { lrSplit } : {}) });
      }
    } catch (e) {
      // A preset that does not fit the script's model (a stage it lacks): say so, and write nothing.
      if (e instanceof PlanError) {
        void vscode.window.showErrorMessage(`FreezeLens: ${plan} does not apply to ${state.model.name}: ${e.message}`);
        return;
      }
      throw e;
    }
    this.planner.changedPlan();
    await vscode.commands.executeCommand('freezelens.planner.insert');
  }

  /** The training script to apply a plan to, when no planner is open: the user picks one, and the planner opens on it. */
  private async openPlannerOnScript(plan: string): Promise<boolean> {
    const scripts = await vscode.workspace.findFiles('**/*.py', '{**/node_modules/**,**/.venv/**,**/venv/**,**/site-packages/**}', 500);
    const pick = await vscode.window.showQuickPick(
      scripts.map((uri) => ({ label: vscode.workspace.asRelativePath(uri, false), uri })).sort((a, b) => a.label.localeCompare(b.label)),
      { title: `Apply ${plan} to which training script?`, placeHolder: 'the script that builds the model and its optimizer' },
    );
    if (!pick) return false;
    await vscode.window.showTextDocument(pick.uri, { preview: false });
    await vscode.commands.executeCommand('freezelens.openPlanner', pick.uri);
    if (!this.planner.state) {
      void vscode.window.showInformationMessage(`FreezeLens: ${pick.label} builds no model the planner can follow; ${plan} was not applied.`);
      return false;
    }
    return true;
  }

  /** The model (an .onnx file) or the data (a folder) picker; a choice inside the workspace comes back relative to it. */
  private async browse(field: 'model' | 'data'): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const picked = await vscode.window.showOpenDialog(
      field === 'model'
        ? { canSelectFiles: true, canSelectFolders: false, filters: { 'ONNX export': ['onnx'], 'TorchScript (PyTorch backend)': ['pt', 'pth'] }, title: 'The model to fine-tune', ...(folder ? { defaultUri: folder } : {}) }
        : { canSelectFiles: false, canSelectFolders: true, title: 'The data: an image folder with one subfolder per class', ...(folder ? { defaultUri: folder } : {}) },
    );
    if (!picked?.[0]) return;
    const inside = folder && picked[0].fsPath.startsWith(folder.fsPath + path.sep);
    this.post({ type: 'browsed', field, path: inside ? path.relative(folder.fsPath, picked[0].fsPath) : picked[0].fsPath });
  }

  private async saveChart(runId: number, png: string): Promise<void> {
    const prefix = 'data:image/png;base64,';
    if (!png.startsWith(prefix)) return;
    const target = await vscode.window.showSaveDialog({ filters: { PNG: ['png'] }, defaultUri: vscode.Uri.file(inWorkspace(`freezelens-run-${runId}.png`)) });
    if (target) await vscode.workspace.fs.writeFile(target, Buffer.from(png.slice(prefix.length), 'base64'));
  }

  private async export(runId: number, format: 'json' | 'csv'): Promise<void> {
    const run = this.findRun(runId);
    if (!run) return;
    const target = await vscode.window.showSaveDialog({ filters: format === 'json' ? { JSON: ['json'] } : { CSV: ['csv'] }, defaultUri: vscode.Uri.file(inWorkspace(`freezelens-run-${runId}.${format}`)) });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(format === 'json' ? toJson(run) : toCsv(run)));
  }
}

/** The first workspace folder, where the form's relative paths start (the process's directory without one). */
function workspaceDir(): string {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
}

/** A path from the form: as it is if absolute, else in the workspace folder. */
function inWorkspace(p: string): string {
  return path.isAbsolute(p) ? p : path.join(workspaceDir(), p);
}

/** The data field's folder: classes and counts, and a thumbnail for the first classes (their first image, where it is small enough to send). */
async function dataSummary(p: string): Promise<ToPanel> {
  try {
    const { classes } = await summarizeImageFolder(inWorkspace(p));
    const thumbnail = async (file: string | undefined): Promise<string | undefined> => {
      if (!file || (await fs.promises.stat(file)).size > 256 * 1024) return undefined;
      const mime = file.toLowerCase().endsWith('.png') ? 'image/png' : 'image/jpeg';
      return `data:${mime};base64,${(await fs.promises.readFile(file)).toString('base64')}`;
    };
    return {
      type: 'dataSummary',
      path: p,
      classes: await Promise.all(
        classes.map(async (c, i) => {
          const image = i < SUMMARY_CLASSES ? await thumbnail(c.first).catch(() => undefined) : undefined;
          return { name: c.name, count: c.count, ...(image ? { thumbnail: image } : {}) };
        }),
      ),
    };
  } catch (e) {
    return { type: 'dataSummary', path: p, classes: [], error: (e as Error).message };
  }
}

/** The demo in the open workspace (examples/ is the demo workspace), for the form's first values. */
function demoDefaults(): { model: string; data: string } | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!folder) return undefined;
  const model = path.join('experiment', 'shapes_cnn.onnx');
  const data = path.join('experiment', 'data');
  return fs.existsSync(path.join(folder, model)) && fs.existsSync(path.join(folder, data)) ? { model, data } : undefined;
}

/** Which backends can run here, and why not: wasm and cpu ship with FreezeLens; tfjs-node and torch depend on the machine. */
async function availability(): Promise<Availability> {
  const trusted = vscode.workspace.isTrusted;
  let native: { available: boolean; why?: string };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require.resolve('@tensorflow/tfjs-node');
    native = { available: true };
  } catch {
    native = { available: false, why: '@tensorflow/tfjs-node is not installed (its libtensorflow download fails without network)' };
  }
  let torch: { available: boolean; why?: string } = { available: false, why: 'the workspace is not trusted' };
  if (trusted) {
    const python = await resolvePython(vscode.workspace.workspaceFolders?.[0]?.uri);
    torch = await new Promise((resolve) => {
      const child = spawn(python.path, ['-c', 'import torch; print(torch.__version__)'], { timeout: 15_000 });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', () => resolve({ available: false, why: `no Python at ${python.path}; set freezelens.pythonPath` }));
      child.on('close', (code) => resolve(code === 0 ? { available: true } : { available: false, why: `torch does not import in ${python.path}` }));
    });
  }
  return { auto: { available: true }, wasm: { available: true }, cpu: { available: true }, tensorflow: native, torch };
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const asset = (f: string) => vscode.Uri.joinPath(extensionUri, 'dist', 'webview', f);
  return webviewHtml(webview, { title: 'FreezeLens: Quick Fine-tune', script: asset('main.js'), stylesheets: [asset('main.css')], body: '<main id="app" aria-live="polite">Loading…</main>' });
}
