// Runs inside the extension host of a real VS Code (code-server in Chromium
// via test/e2e/e2e.test.mjs, or desktop VS Code via electron.test.mjs).
// VS Code loads this module from `extensionTestsPath` and calls run(); a
// rejection makes the workbench report exit code 1.
import * as assert from 'assert';
import * as vscode from 'vscode';
import { runSteps, screenshot, waitFor } from './harness';

const EXTENSION_ID = 'freezelens.freezelens';
const EXAMPLE = 'finetune_resnet.py';
const NOOP_ASSIGNMENT = 'model.layer1.requires_grad = False';
const FIXED = 'model.layer1.requires_grad_(False)';
// Freezing done right (FreezeLens stays silent); its hovers and lens carry exact counts.
const UNFREEZE_EXAMPLE = 'gradual_unfreeze.py';
// A pretrained resnet18 with a new 10-class head and one optimizer over everything (FRZ003 until planned).
const PLAN_EXAMPLE = 'plan_resnet.py';
// A PRESERVE export of a small CNN (test/fixtures/onnx/tiny_cnn.preserve.onnx): 1,517 params.
const ONNX_EXAMPLE = 'exports/tiny_cnn.onnx';


export async function run(): Promise<void> {
  const ctx = {} as Context;
  const steps: [string, (c: Context) => Promise<void>][] = [
    ['extension activates', activates],
    ['FRZ004 diagnostic on the no-op requires_grad assignment', reportsFrz004],
    ['Problems panel shows FRZ004', problemsPanel],
    ['an .onnx file opens in the ONNX viewer with its module tree', onnxViewer],
    ['the freeze planner shows resnet18, plans a stage, and writes code that leaves no findings', planner],
    ['the experiment panel runs two plans on the demo and fills the results table', experimentPanel],
    ['preferred quick fix rewrites to requires_grad_(False)', quickFix],
    ['FRZ002 on model.train() and its preferred fix', batchNormFix],
    ['hover shows the freeze state of model.layer1', hover],
    ['CodeLens above the optimizer says what it trains', codeLens],
    ['hover on model.layer4 shows exact parameter counts', hoverCounts],
    ['CodeLens above the optimizer shows exact parameter counts', codeLensCounts],
  ];
  await runSteps(steps, ctx, async () => {
    // Leave examples/ exactly as on disk: the fixes and the plan are applied but never saved.
    for (const doc of [ctx.doc, ctx.planDoc]) {
      if (!doc?.isDirty) continue;
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('workbench.action.files.revert');
    }
  });
}

interface Context {
  doc: vscode.TextDocument;
  planDoc: vscode.TextDocument;
  unfreezeDoc: vscode.TextDocument;
  line: number;
  diagnostic: vscode.Diagnostic;
}

async function activates(ctx: Context): Promise<void> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is not installed in the extension host`);
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder is open');
  // Opening a Python file is what activates the extension for real users.
  ctx.doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, EXAMPLE));
  await vscode.window.showTextDocument(ctx.doc);
  await ext.activate();
  assert.ok(ext.isActive, `${EXTENSION_ID} did not activate`);
}

async function reportsFrz004(ctx: Context): Promise<void> {
  const offset = ctx.doc.getText().indexOf(NOOP_ASSIGNMENT);
  assert.ok(offset >= 0, `${EXAMPLE} does not contain "${NOOP_ASSIGNMENT}"`);
  ctx.line = ctx.doc.positionAt(offset).line;
  // The language server starts lazily; the first analysis can take a while.
  ctx.diagnostic = await waitFor(
    () => findFrz004(ctx.doc.uri, ctx.line),
    30_000,
    () => `no FRZ004 diagnostic on line ${ctx.line + 1}; got: ${describe(vscode.languages.getDiagnostics(ctx.doc.uri))}`,
  );
  assert.equal(ctx.diagnostic.source, 'freezelens');
}

async function problemsPanel(): Promise<void> {
  await vscode.commands.executeCommand('workbench.actions.view.problems');
  await screenshot({ name: 'frz004-problems', selector: '.markers-panel .monaco-list-row', expectText: 'FRZ004' }, 'Problems panel check');
}

/**
 * Opens the example export in FreezeLens's ONNX viewer: its module tree
 * (PyTorch's names, counts) must render in the webview.
 */
async function onnxViewer(ctx: Context): Promise<void> {
  const folder = vscode.workspace.workspaceFolders![0];
  const uri = vscode.Uri.joinPath(folder.uri, ONNX_EXAMPLE);
  await vscode.commands.executeCommand('vscode.openWith', uri, 'freezelens.onnxViewer');
  // features.1 is the first BatchNorm of the example CNN; the viewer names modules by their last segment.
  await screenshot({ name: 'onnx-viewer', expectText: '1,517 params', inFrames: true }, 'ONNX viewer check');
  // Back to the script the next steps edit.
  await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  await vscode.window.showTextDocument(ctx.doc);
}

/**
 * The planner, as a user drives it: open it from the script, see the model's
 * tree and counts, freeze a stage with its checkbox (a click in the
 * workbench), see the summary change, insert the code, and see the script
 * left without findings.
 */
async function planner(ctx: Context): Promise<void> {
  const folder = vscode.workspace.workspaceFolders![0];
  ctx.planDoc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, PLAN_EXAMPLE));
  await vscode.window.showTextDocument(ctx.planDoc);
  const uri = ctx.planDoc.uri;
  await waitFor(() => (vscode.languages.getDiagnostics(uri).some((d) => codeOf(d) === 'FRZ003') ? true : undefined), 30_000, () => `no FRZ003 in ${PLAN_EXAMPLE}; got: ${describe(vscode.languages.getDiagnostics(uri))}`);
  // The CodeLens above the model opens the planner.
  const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
  const open = lenses.find((l) => l.command?.command === 'freezelens.openPlanner');
  assert.ok(open?.command, `no "Open Freeze Planner" lens; got: ${lenses.map((l) => l.command?.title).join(', ')}`);
  await vscode.commands.executeCommand(open.command.command, ...(open.command.arguments ?? []));
  const api = vscode.extensions.getExtension(EXTENSION_ID)!.exports as { planner: { state?: { model: { name: string; totalParams: number }; summary: { trainableParams: number }; plan: { frozen: string[] } } } };
  const state = await waitFor(() => api.planner.state, 20_000, () => 'the planner shows no model');
  assert.equal(state.model.name, 'model');
  // resnet18 with a 10-class head; the script freezes nothing yet.
  assert.equal(state.model.totalParams, 11_181_642);
  assert.equal(state.summary.trainableParams, 11_181_642);
  await screenshot({ name: 'planner', selector: '.pane-body', expectText: 'Trains 11,181,642 of 11,181,642 params' }, 'planner tree check');
  // Freeze layer1 with its checkbox, in the workbench.
  await screenshot(
    { name: 'planner-layer1-frozen', selector: '.pane-body', expectText: 'Trains 11,033,674 of 11,181,642 params', click: { row: '.monaco-list-row', hasText: 'layer1', target: '.custom-view-tree-node-item-checkbox' } },
    'planner checkbox',
  );
  assert.deepEqual(api.planner.state!.plan.frozen, ['layer1']);
  // Insert the code: the change shows first as a diff, and the user applies it.
  const inserted = vscode.commands.executeCommand('freezelens.planner.insert');
  await screenshot({ name: 'planner-diff', expectText: 'Apply the freeze plan to plan_resnet.py?' }, 'planner diff preview');
  await screenshot({ name: 'planner-applied', expectText: 'frozen_modules', click: { row: '.notification-toast', hasText: 'Apply the freeze plan', target: '.monaco-button:has-text("Apply")' } }, 'applying the plan');
  await inserted;
  assert.match(ctx.planDoc.getText(), /frozen_modules = \[model\.layer1\]/);
  assert.ok(ctx.planDoc.isDirty, 'the plan is in the editor, not saved behind the user\'s back');
  assert.doesNotMatch(ctx.planDoc.getText(), /optimizer = torch\.optim\.AdamW\(model\.parameters\(\), lr=1e-3\)/);
  await waitFor(() => (vscode.languages.getDiagnostics(uri).some((d) => d.source === 'freezelens') ? undefined : true), 20_000, () => `findings after inserting the plan: ${describe(vscode.languages.getDiagnostics(uri))}`);
  await vscode.window.showTextDocument(ctx.doc);
}

/**
 * The experiment panel, as a user drives it: open it, find the demo's model
 * and data filled in, press Run, and see both plans' curves and the results
 * table (the best cells starred) when the run ends; then cancel a second
 * run while it trains, and see it stop.
 */
async function experimentPanel(ctx: Context): Promise<void> {
  // The planner follows the script in the editor: the plan applied from the panel goes to plan_resnet.py.
  await vscode.window.showTextDocument(ctx.planDoc!);
  // The bottom panel (Problems) closed, so that the screenshots show the curves and the table.
  await vscode.commands.executeCommand('workbench.action.closePanel');
  // Opened as a new user would: the walkthrough's third step, and its button.
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', 'freezelens.freezelens#freezelens.gettingStarted', false);
  await screenshot({ name: 'walkthrough-experiment', expectText: 'Run Quick Fine-tune', selector: '.getting-started-step.expanded', click: { row: '.getting-started-step', hasText: 'Run a quick experiment' } }, 'the walkthrough\'s third step');
  await screenshot({ name: 'walkthrough-opened-panel', expectText: 'Quick fine-tune', inFrames: true, click: { row: '.getting-started-step.expanded', hasText: 'Run a quick experiment', target: '.monaco-button:has-text("Run Quick Fine-tune")' } }, 'the walkthrough opens the panel');
  await vscode.commands.executeCommand('workbench.action.closeEditorsInOtherGroups');
  for (const tab of vscode.window.tabGroups.all.flatMap((g) => g.tabs)) if (tab.label.includes('Walkthrough') || tab.label.includes('Welcome')) await vscode.window.tabGroups.close(tab);
  await vscode.commands.executeCommand('freezelens.experiment.open');
  // The demo's data folder is summarised under its field: classes, counts, a thumbnail each; the
  // planner's plan (resnet18 in plan_resnet.py) is offered beside the presets.
  // The model field suggests the workspace's ONNX files and the catalog's architectures (for PyTorch).
  await screenshot(
    {
      name: 'experiment-panel',
      expectText: ['5 classes, 400 images', 'Planner: model (plan_resnet.py)'],
      inFrames: true,
      attributesInFrames: ['experiment/shapes_cnn.onnx', 'exports/tiny_cnn.onnx', 'resnet50'].map((value) => ({ selector: `datalist#model-options option[value="${value}"]`, attribute: 'value' })),
    },
    'experiment panel setup',
  );
  // linear-probe and full for 3 epochs on the demo (wasm): the curves grow while it runs, and the
  // table stars the best cells once both have ended.
  await screenshot({ name: 'experiment-running', expectText: 'epoch 2 of 3', inFrames: true, timeoutMs: 60_000, clickInFrames: { selector: 'vscode-button', hasText: 'Run' } }, 'experiment run starts');
  await screenshot({ name: 'experiment-finished', expectText: 'Run finished', inFrames: true, timeoutMs: 120_000 }, 'experiment run');
  // No serious accessibility violations (axe-core) in the panel with a finished run.
  await screenshot({ name: 'experiment-table', expectText: '★', inFrames: true, axe: true }, 'experiment results table and accessibility');
  // Apply a plan from the table to the script the planner is open on (plan_resnet.py, from the planner step):
  // the planner's diff preview, then the script changes and stays without findings.
  await screenshot({ name: 'experiment-apply-diff', expectText: 'Apply the freeze plan to plan_resnet.py?', clickInFrames: { selector: 'tr:has-text("linear-probe") button.link', hasText: 'Apply to script' } }, 'apply from the panel');
  await screenshot({ name: 'experiment-applied', expectText: 'frozen_modules', click: { row: '.notification-toast', hasText: 'Apply the freeze plan', target: '.monaco-button:has-text("Apply")' } }, 'applying the plan from the panel');
  const planUri = ctx.planDoc!.uri;
  await waitFor(() => (/# FreezeLens plan \(linear-probe\): trains 5,130 of 11,181,642 parameters/.test(ctx.planDoc!.getText()) ? true : undefined), 20_000, () => `the linear probe's code is not in plan_resnet.py:\n${ctx.planDoc!.getText()}`);
  await waitFor(() => (vscode.languages.getDiagnostics(planUri).some((d) => d.source === 'freezelens') ? undefined : true), 20_000, () => `findings after applying from the panel: ${describe(vscode.languages.getDiagnostics(planUri))}`);
  // Back to the panel, hidden meanwhile: it shows the finished run again (its state survives hiding).
  await vscode.commands.executeCommand('freezelens.experiment.open');
  await screenshot({ name: 'experiment-restored', expectText: 'Run finished', inFrames: true }, 'the panel restored');
  // The same panel in the high-contrast and the dark themes (it follows VS Code's theme variables);
  // in the dark one, a second run, cancelled once it is training: it stops within seconds.
  const workbench = vscode.workspace.getConfiguration('workbench');
  const theme = workbench.get<string>('colorTheme');
  const useTheme = async (id: string, kind: vscode.ColorThemeKind) => {
    await workbench.update('colorTheme', id, vscode.ConfigurationTarget.Global);
    await waitFor(() => (vscode.window.activeColorTheme.kind === kind ? true : undefined), 10_000, () => `the theme did not change to ${id}`);
    // The webview gets the new theme variables after the workbench: give it a moment to repaint.
    await new Promise((r) => setTimeout(r, 1500));
  };
  try {
    await useTheme('Default High Contrast', vscode.ColorThemeKind.HighContrast);
    await screenshot({ name: 'experiment-high-contrast', expectText: 'Run finished', inFrames: true }, 'the panel in high contrast');
    await useTheme('Default Dark Modern', vscode.ColorThemeKind.Dark);
    await screenshot({ name: 'experiment-finished-dark', expectText: 'Run finished', inFrames: true }, 'the panel in the dark theme');
    await screenshot({ name: 'experiment-running-dark', expectText: 'epoch 2 of 3', inFrames: true, timeoutMs: 60_000, clickInFrames: { selector: 'vscode-button', hasText: 'Run' } }, 'second run starts');
    await screenshot({ name: 'experiment-cancelled', expectText: 'Run cancelled', inFrames: true, timeoutMs: 15_000, clickInFrames: { selector: 'vscode-button', hasText: 'Cancel' } }, 'second run cancelled');
  } finally {
    await workbench.update('colorTheme', theme, vscode.ConfigurationTarget.Global);
  }
  // The cancelled run compared with the finished one (past runs are kept per workspace).
  await screenshot({ name: 'experiment-compare', expectText: 'Run 2 compared with run 1', inFrames: true, selectInFrames: { selector: '#compare-runs', index: 2 } }, 'runs compared');
  // Speed, recorded in experiment-perf.json: the open time, and the frame rate at 50 events a second.
  await screenshot({ name: 'experiment-perf', expectText: 'Run cancelled', inFrames: true, perf: true }, 'panel performance');
  // Keyboard only: Tab reaches every control of the form, each labelled; with the keys alone the
  // user unchecks full, checks the planner's plan, sets a budget of 6 steps and runs. The planner's
  // plan is resnet18's: it fails on its own row (the demo CNN has no conv1), and the linear probe runs.
  await screenshot(
    {
      name: 'experiment-keyboard',
      keyboard: {
        inFrameWith: 'Quick fine-tune',
        // Enter on a checkbox asks its form to submit: the panel must stay as it is (a submitted form reloads the page).
        steps: [{ tabTo: 'full', press: 'Space' }, { tabTo: 'bn-only', press: 'Enter' }, { tabTo: 'Current planner plan', press: 'Space' }, { tabTo: 'Budget', press: 'ArrowDown' }, { tabTo: 'Steps per plan', type: '6' }, { tabTo: 'Run', press: 'Enter' }],
      },
      expectText: ['Run finished', 'which this model does not have'],
      inFrames: true,
      timeoutMs: 60_000,
    },
    'a keyboard-only run',
  );
  // The PyTorch backend from the panel (freezelens.pythonPath is Debian's PyTorch here): the demo's
  // TorchScript copy at its 32-pixel input, after the confirmation that names the interpreter.
  await screenshot(
    {
      name: 'experiment-torch-confirm',
      keyboard: {
        inFrameWith: 'Quick fine-tune',
        steps: [{ tabTo: 'Model', type: 'experiment/shapes_cnn.pt' }, { tabTo: 'Current planner plan', press: 'Space' }, { tabTo: 'Backend', type: 'P' }, { tabTo: 'Image size (px)', type: '32' }, { tabTo: 'Run', press: 'Enter' }],
      },
      expectText: 'FreezeLens will run the experiment with /usr/bin/python3',
    },
    'a PyTorch run asks first',
  );
  await screenshot(
    {
      name: 'experiment-torch',
      click: { row: '.notification-toast', hasText: 'FreezeLens will run the experiment', target: '.monaco-button:has-text("Run")' },
      expectText: ['Run finished on torch-cpu', 'Apply to script'],
      inFrames: true,
      timeoutMs: 90_000,
    },
    'the demo trained in PyTorch from the panel',
  );
  // A past run, shown in a panel opened afresh (it knows the run only from the workspace's storage), exports as JSON.
  await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  await vscode.commands.executeCommand('freezelens.experiment.open');
  await screenshot({ name: 'experiment-past-run', expectText: 'Run finished on torch-cpu', inFrames: true, selectInFrames: { selector: '#past-runs', index: 1 } }, 'a past run shown again');
  const exported = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'freezelens-run-4.json');
  try {
    await screenshot({ name: 'experiment-export', expectText: 'Export JSON', inFrames: true, clickInFrames: { selector: 'vscode-button', hasText: 'Export JSON' }, pressWhen: { selector: '.quick-input-widget', key: 'Enter' } }, 'exporting the past run');
    const readExport = async () => {
      try {
        return JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(exported)).toString('utf8'));
      } catch {
        return undefined; // not written (yet)
      }
    };
    const json = await waitForAsync(readExport, 20_000);
    assert.ok(json, `the past run was not exported to ${exported.fsPath}`);
    assert.equal(json.backend, 'torch-cpu');
    assert.deepEqual(json.plans.map((p: { plan: string; status: string }) => [p.plan, p.status]), [['linear-probe', 'done']]);
  } finally {
    await vscode.workspace.fs.delete(exported).then(undefined, () => undefined);
  }
  await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  await vscode.window.showTextDocument(ctx.doc);
}

async function quickFix(ctx: Context): Promise<void> {
  const original = ctx.doc.lineAt(ctx.line).text;
  const actions = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
    'vscode.executeCodeActionProvider',
    ctx.doc.uri,
    ctx.diagnostic.range,
    vscode.CodeActionKind.QuickFix.value,
    10, // resolve lazily computed edits
  );
  const preferred = actions.filter((a): a is vscode.CodeAction => 'isPreferred' in a && a.isPreferred === true);
  assert.equal(
    preferred.length,
    1,
    `expected one preferred quick fix, got: ${actions.map((a) => `${a.title}${'isPreferred' in a && a.isPreferred ? ' (preferred)' : ''}`).join(', ') || 'none'}`,
  );
  const [fix] = preferred;
  assert.ok(fix.edit, `quick fix "${fix.title}" has no workspace edit`);
  assert.ok(await vscode.workspace.applyEdit(fix.edit), 'applyEdit was rejected');
  assert.equal(ctx.doc.lineAt(ctx.line).text, original.replace(NOOP_ASSIGNMENT, FIXED));
  await waitFor(
    () => (findFrz004(ctx.doc.uri, ctx.line) ? undefined : true),
    15_000,
    () => 'FRZ004 is still reported after applying the fix',
  );
}

async function batchNormFix(ctx: Context): Promise<void> {
  // After the FRZ004 fix layer1 is frozen too; its BatchNorm runs in train mode under model.train().
  const trainLine = ctx.doc.positionAt(ctx.doc.getText().indexOf('model.train()')).line;
  const diagnostic = await waitFor(
    () => vscode.languages.getDiagnostics(ctx.doc.uri).find((d) => codeOf(d) === 'FRZ002' && d.range.start.line === trainLine),
    15_000,
    () => `no FRZ002 on line ${trainLine + 1}; got: ${describe(vscode.languages.getDiagnostics(ctx.doc.uri))}`,
  );
  assert.match(diagnostic.message, /BatchNorm layers are in train mode/);
  const actions = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
    'vscode.executeCodeActionProvider',
    ctx.doc.uri,
    diagnostic.range,
    vscode.CodeActionKind.QuickFix.value,
  );
  const fix = actions.find((a): a is vscode.CodeAction => 'isPreferred' in a && a.isPreferred === true && /set_bn_eval/.test(a.title));
  assert.ok(fix?.edit, `no preferred set_bn_eval fix; got: ${actions.map((a) => a.title).join(', ')}`);
  assert.ok(await vscode.workspace.applyEdit(fix.edit), 'applyEdit was rejected');
  const text = ctx.doc.getText();
  assert.match(text, /^def set_bn_eval\(module\):$/m);
  assert.match(text, /^ {4}model\.train\(\)\n {4}set_bn_eval\(model\)$/m);
  await waitFor(
    () => (vscode.languages.getDiagnostics(ctx.doc.uri).some((d) => codeOf(d) === 'FRZ002') ? undefined : true),
    15_000,
    () => `FRZ002 is still reported after the fix: ${describe(vscode.languages.getDiagnostics(ctx.doc.uri))}`,
  );
}

async function hover(ctx: Context): Promise<void> {
  const offset = ctx.doc.getText().indexOf(FIXED) + 'model.la'.length;
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', ctx.doc.uri, ctx.doc.positionAt(offset));
  const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
  assert.match(text, /`model\.layer1`\*\* here: trainable, train mode/, `hover text: ${text}`);
}

async function codeLens(ctx: Context): Promise<void> {
  const optimizerLine = ctx.doc.positionAt(ctx.doc.getText().indexOf('torch.optim.SGD(')).line;
  const found = await waitForAsync(async () => {
    const all = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', ctx.doc.uri);
    return all.find((l) => l.range.start.line === optimizerLine && /SGD trains/.test(l.command?.title ?? ''));
  }, 15_000);
  assert.ok(found, 'no CodeLens above the optimizer');
  assert.match(found.command!.title, /model\.fc/);
}

async function hoverCounts(ctx: Context): Promise<void> {
  const folder = vscode.workspace.workspaceFolders![0];
  ctx.unfreezeDoc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, UNFREEZE_EXAMPLE));
  await vscode.window.showTextDocument(ctx.unfreezeDoc);
  // The first mention, in the optimizer's param groups: the whole backbone is
  // still frozen, so none of layer4's 8,393,728 params train yet.
  const mention = '{"params": model.layer4.parameters()';
  const at = ctx.unfreezeDoc.getText().indexOf(mention);
  assert.ok(at >= 0, `${UNFREEZE_EXAMPLE} does not contain '${mention}'`);
  const position = ctx.unfreezeDoc.positionAt(at + mention.indexOf('model.layer4') + 'model.la'.length);
  // Other extensions may hover here too: keep FreezeLens's, which names the expression.
  const ours = /\*\*`model\.layer4`\*\* here/;
  let seen = '';
  const text = await waitForAsync(async () => {
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', ctx.unfreezeDoc.uri, position);
    const texts = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value)));
    seen = texts.join('\n---\n');
    return texts.find((t) => ours.test(t));
  }, 15_000);
  assert.ok(text, `no FreezeLens hover on model.layer4 in ${UNFREEZE_EXAMPLE}; hovers: ${seen || 'none'}`);
  console.log(`[e2e] hover: ${text}`);
  assert.equal(text, '**`model.layer4`** here: frozen, train mode; trains 0 of 8,393,728 params (0.00%)');
  assert.deepEqual(vscode.languages.getDiagnostics(ctx.unfreezeDoc.uri).filter((d) => d.source === 'freezelens').map(codeOf), []);
}

async function codeLensCounts(ctx: Context): Promise<void> {
  const optimizerLine = ctx.unfreezeDoc.positionAt(ctx.unfreezeDoc.getText().indexOf('torch.optim.SGD(')).line;
  const found = await waitForAsync(async () => {
    const all = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', ctx.unfreezeDoc.uri);
    return all.find((l) => l.range.start.line === optimizerLine && /SGD trains/.test(l.command?.title ?? ''));
  }, 15_000);
  assert.ok(found, `no CodeLens above the optimizer in ${UNFREEZE_EXAMPLE}`);
  console.log(`[e2e] lens: ${found.command!.title}`);
  // resnet18 with a 10-class head: 11,181,642 params, of which fc holds 5,130.
  assert.equal(found.command!.title, 'SGD trains 5,130 of 11,181,642 params (0.05%): model.fc · holds frozen: model.layer4');
}

async function waitForAsync<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function findFrz004(uri: vscode.Uri, line: number): vscode.Diagnostic | undefined {
  return vscode.languages
    .getDiagnostics(uri)
    .find((d) => codeOf(d) === 'FRZ004' && d.range.start.line === line);
}

// Diagnostic.code is a string, a number, or { value, target } when it links to docs.
function codeOf(d: vscode.Diagnostic): string | undefined {
  const c = d.code;
  return c === undefined ? undefined : String(typeof c === 'object' ? c.value : c);
}

function describe(ds: readonly vscode.Diagnostic[]): string {
  return ds.map((d) => `${d.source}/${codeOf(d)}@${d.range.start.line + 1}`).join(', ') || 'none';
}
