import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { PythonExtension } from '@vscode/python-extension';
import { startTorchExperiment, type TorchData, type TorchModel } from '../../../server/src/experiment/torch';
import { SummaryTable } from '../../../server/src/experiment/summary';
import { SETTINGS_SECTION } from '../../../server/src/protocol';
import { isFactory } from '../../../webview/src/experiment/model';
import { DEMO } from '../../../server/src/experiment/request';
import { choosePython, type PythonChoice } from './choosePython';

/**
 * "FreezeLens: Run Freeze Experiments in PyTorch…": asks for a model and
 * data, and runs the strategies in the user's PyTorch with the PyTorch
 * backend, streaming progress to an output channel. The runner imports and
 * executes workspace code (the factories), so the command runs only in a
 * trusted workspace and asks first, naming the code and the interpreter.
 * The experiment panel (a later issue) will drive the same backend.
 */
export function registerTorchExperiments(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('FreezeLens Experiments');
  context.subscriptions.push(output, vscode.commands.registerCommand('freezelens.experiment.runTorch', () => runTorchExperiments(context, output)));
}

/** The interpreter: freezelens.pythonPath, else the Python extension's active one, else python3. */
export async function resolvePython(resource: vscode.Uri | undefined): Promise<PythonChoice> {
  const setting = vscode.workspace.getConfiguration(SETTINGS_SECTION, resource).get<string | null>('pythonPath');
  let active: string | undefined;
  if (!setting && vscode.extensions.getExtension('ms-python.python')) {
    try {
      const api = await PythonExtension.api();
      const env = await api.environments.resolveEnvironment(api.environments.getActiveEnvironmentPath(resource));
      active = env?.executable.uri?.fsPath;
    } catch {
      // the Python extension is there but not ready: fall back to python3
    }
  }
  return choosePython(setting, active);
}

/**
 * The runner imports and executes the user's factories: asks first, naming
 * the code (`code`, where there is some) and the interpreter. A
 * notification, as the planner asks before it writes: nothing runs until
 * Run is pressed, and a dismissed one is a no.
 */
export async function confirmTorchRun(python: PythonChoice, code: string | undefined): Promise<boolean> {
  const what = code ? `import and run ${code} from this workspace` : 'run the experiment';
  const go = await vscode.window.showInformationMessage(`FreezeLens will ${what} with ${python.path} (from ${python.source}): the PyTorch runner trains each plan on this model and data.`, 'Run', 'Cancel');
  return go === 'Run';
}

async function runTorchExperiments(context: vscode.ExtensionContext, output: vscode.OutputChannel): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    const choice = await vscode.window.showWarningMessage('FreezeLens runs experiments with your own model code, so it needs a trusted workspace.', 'Manage Workspace Trust');
    if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('FreezeLens: open the folder of your training code first; model and data factories are imported from it.');
    return;
  }
  const demoModel = context.asAbsolutePath(DEMO.torchscript);
  const demoData = context.asAbsolutePath(DEMO.data);
  const hasDemo = fs.existsSync(demoModel) && fs.existsSync(demoData);
  const kinds = [
    ...(hasDemo ? [{ label: 'The demo', description: 'a small CNN pretrained on synthetic shapes', choice: 'demo' as const }] : []),
    { label: 'A model factory…', description: 'package.module:function returning an nn.Module', choice: 'factory' as const },
    { label: 'A torchvision architecture…', description: 'pretrained weights from the torch hub cache', choice: 'catalog' as const },
    { label: 'A TorchScript file…', choice: 'torchscript' as const },
  ];
  const kind = await vscode.window.showQuickPick(kinds, { title: 'FreezeLens: the model to experiment on' });
  if (!kind) return;
  let model: TorchModel;
  let data: TorchData;
  let code: string | undefined;
  if (kind.choice === 'demo') {
    model = { kind: 'torchscript', path: demoModel };
    data = { kind: 'image-folder', path: demoData, size: [DEMO.imageSize, DEMO.imageSize] };
  } else {
    if (kind.choice === 'factory') {
      const factory = await vscode.window.showInputBox({ title: 'Model factory', prompt: 'package.module:function, imported from the workspace folder', validateInput: (v) => (isFactory(v) ? undefined : 'package.module:function') });
      if (!factory) return;
      model = { kind: 'factory', factory };
      code = factory;
    } else if (kind.choice === 'catalog') {
      const name = await vscode.window.showInputBox({ title: 'torchvision architecture', value: 'resnet50' });
      if (!name) return;
      model = { kind: 'catalog', name };
    } else {
      const file = await vscode.window.showOpenDialog({ title: 'TorchScript file', filters: { TorchScript: ['pt', 'pth', 'ts'] }, canSelectMany: false });
      if (!file?.[0]) return;
      model = { kind: 'torchscript', path: file[0].fsPath };
    }
    const dataKind = await vscode.window.showQuickPick([{ label: 'An image folder…', description: 'ImageFolder layout', choice: 'folder' as const }, { label: 'A data factory…', description: 'package.module:function returning (train, val)', choice: 'factory' as const }], { title: 'FreezeLens: the data' });
    if (!dataKind) return;
    if (dataKind.choice === 'folder') {
      const dir = await vscode.window.showOpenDialog({ title: 'Image folder (one subfolder per class)', canSelectFolders: true, canSelectFiles: false, defaultUri: folder.uri });
      if (!dir?.[0]) return;
      data = { kind: 'image-folder', path: dir[0].fsPath, size: [224, 224] };
    } else {
      const factory = await vscode.window.showInputBox({ title: 'Data factory', prompt: 'package.module:function returning (train_dataset, val_dataset)', validateInput: (v) => (isFactory(v) ? undefined : 'package.module:function') });
      if (!factory) return;
      data = { kind: 'factory', factory };
      code = code ? `${code} and ${factory}` : factory;
    }
  }
  const strategies = await vscode.window.showInputBox({ title: 'Strategies', value: kind.choice === 'demo' ? DEMO.strategies : 'linear-probe,freeze-to:layer3,full', prompt: 'planner presets, comma-separated (+bn-train, +lr-split:F)' });
  if (!strategies) return;
  const python = await resolvePython(folder.uri);
  if (!(await confirmTorchRun(python, code))) return;

  output.show(true);
  output.appendLine(`Python: ${python.path} (${python.source})`);
  const summary = new SummaryTable();
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'FreezeLens experiments', cancellable: true }, async (progress, token) => {
    const handle = startTorchExperiment(
      { python: python.path, cwd: folder.uri.fsPath, model, data, strategies: strategies.split(',').map((s) => s.trim()).filter(Boolean), epochs: kind.choice === 'demo' ? DEMO.epochs : 3, batch: 32, seed: 0, valSplit: 0.2, lr: kind.choice === 'demo' ? DEMO.lr : 1e-3, optimizer: 'adamw' },
      (e) => {
        summary.see(e);
        if (e.type === 'start') output.appendLine(`backend ${e.backend}; ${e.dataset.samples} samples, ${e.dataset.classes.length} classes`);
        else if (e.type === 'step') progress.report({ message: `${e.strategy}: step ${e.step}, loss ${e.loss.toFixed(3)}` });
        else if (e.type === 'epoch') output.appendLine(`${e.strategy}: epoch ${e.epoch}, train loss ${e.trainLoss.toFixed(4)}, val acc ${(100 * e.valAcc).toFixed(1)}%`);
        else if (e.type === 'error') output.appendLine(`${e.strategy ?? 'experiment'}: error: ${e.message}`);
      },
    );
    token.onCancellationRequested(() => handle.cancel());
    await handle.done;
  });
  output.appendLine(summary.format());
  const runError = summary.errors.find((e) => e.strategy === null);
  if (runError) void vscode.window.showErrorMessage(`FreezeLens: ${runError.message}`);
}
