import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { NOTEBOOK_TYPE, SERVER_NAME, SETTINGS_SECTION, type InitializationOptions } from '../../server/src/protocol';
import { CrashPolicy } from './crashPolicy';
import { OnnxEditorProvider } from './onnxEditor';

/**
 * The extension is a thin client, as in vscode-eslint: it starts the
 * language server, hands it the documents, and registers commands. All
 * analysis lives in the server.
 */
let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
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
    vscode.window.registerCustomEditorProvider(OnnxEditorProvider.viewType, new OnnxEditorProvider(context.extensionUri, () => started.then(() => client)), {
      supportsMultipleEditorsPerDocument: true,
    }),
  );
  started = client.start();
  await started;
}

/** Resolves once the language server runs: the ONNX viewer may open before it does. */
let started: Promise<void> = Promise.resolve();

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
