import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { CATALOG_NAMES_REQUEST, NOTEBOOK_TYPE, SERVER_NAME, SETTINGS_SECTION, type InitializationOptions } from '../../server/src/protocol';
import { CrashPolicy } from './crashPolicy';
import { OnnxEditorProvider } from './onnxEditor';
import { registerExperimentPanel } from './experiments/panel';
import { registerTorchExperiments } from './experiments/torchCommand';
import { registerPlanner } from './planner/planner';
import type { PlannerView } from './planner/plannerView';

/**
 * The extension is a thin client, as in vscode-eslint: it starts the
 * language server, hands it the documents, and registers commands. All
 * analysis lives in the server.
 */
let client: LanguageClient | undefined;

/** What the extension exports: the planner's state, read by the end-to-end tests. */
export interface FreezeLensApi {
  planner: PlannerView;
}

export async function activate(context: vscode.ExtensionContext): Promise<FreezeLensApi> {
  const output = vscode.window.createOutputChannel(SERVER_NAME, { log: true });
  const crashPolicy = new CrashPolicy();
  const serverModule = context.asAbsolutePath('dist/server/server.js');
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6010'] } },
  };
  const settings = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const initializationOptions: InitializationOptions = { debounceMs: settings.get<number>('diagnosticDelay', 100) };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'python' },
      { scheme: 'untitled', language: 'python' },
      { notebook: { notebookType: NOTEBOOK_TYPE }, language: 'python' },
    ],
    synchronize: { configurationSection: SETTINGS_SECTION },
    outputChannel: output,
    initializationOptions,
    errorHandler: {
      error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true }),
      closed: () => {
        const decision = crashPolicy.onServerClosed();
        if (decision.notify) {
          void vscode.window.showWarningMessage(decision.notify, 'Show Output').then((choice) => {
            if (choice) output.show(true);
          });
        }
        output.appendLine(`[client] server closed; ${decision.restart ? 'restarting' : 'not restarting'}`);
        return { action: decision.restart ? CloseAction.Restart : CloseAction.DoNotRestart, handled: true };
      },
    },
  };

  client = new LanguageClient('freezelens', SERVER_NAME, serverOptions, clientOptions);
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('freezelens.restartServer', async () => {
      crashPolicy.reset();
      await client?.restart();
    }),
    vscode.commands.registerCommand('freezelens.showOutput', () => output.show(true)),
    // The walkthrough's first step: the first freezing mistake FreezeLens has found in the workspace.
    vscode.commands.registerCommand('freezelens.walkthrough.openExample', async () => {
      const found = vscode.languages.getDiagnostics().find(([, ds]) => ds.some((d) => d.source === 'freezelens'));
      const example = found?.[0] ?? (await vscode.workspace.findFiles('**/finetune_resnet.py', '**/node_modules/**', 1))[0];
      if (!example) {
        void vscode.window.showInformationMessage('FreezeLens: open a Python training script; freezing mistakes are underlined as you type.');
        return;
      }
      const first = found?.[1].find((d) => d.source === 'freezelens');
      await vscode.window.showTextDocument(example, first ? { selection: first.range } : {});
    }),
    vscode.window.registerCustomEditorProvider(OnnxEditorProvider.viewType, new OnnxEditorProvider(context.extensionUri, () => started.then(() => client)), {
      supportsMultipleEditorsPerDocument: true,
    }),
  );
  const planner = registerPlanner(context, () => started.then(() => client));
  registerTorchExperiments(context);
  registerExperimentPanel(context, planner, async () => {
    await started;
    return (await client?.sendRequest<string[]>(CATALOG_NAMES_REQUEST)) ?? [];
  });
  started = client.start();
  await started;
  return { planner };
}

/** Resolves once the language server runs: the ONNX viewer may open before it does. */
let started: Promise<void> = Promise.resolve();

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
