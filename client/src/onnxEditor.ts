import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ONNX_REPORT_REQUEST, type OnnxReportResult } from '../../server/src/protocol';
import { webviewHtml } from './webviewHtml';

/**
 * The read-only editor for .onnx files: a webview that shows the model's
 * summary, module tree and diagnostics. The server reads the file (never its
 * weights) and answers `freezelens/onnxReport`; the webview only renders.
 */
export class OnnxEditorProvider implements vscode.CustomReadonlyEditorProvider {
  static readonly viewType = 'freezelens.onnxViewer';

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly client: () => Promise<LanguageClient | undefined>,
  ) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const webviewRoot = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    panel.webview.options = { enableScripts: true, localResourceRoots: [webviewRoot] };
    panel.webview.html = html(panel.webview, vscode.Uri.joinPath(webviewRoot, 'onnx.js'));
    const send = async () => {
      const client = await this.client();
      if (!client) return;
      const report = await client.sendRequest<OnnxReportResult>(ONNX_REPORT_REQUEST, { uri: document.uri.toString() });
      await panel.webview.postMessage({ type: 'report', report });
    };
    panel.webview.onDidReceiveMessage((msg: { type?: string }) => {
      if (msg?.type === 'ready') void send();
    });
    // A re-exported model is shown again.
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.joinPath(document.uri, '..'), '*'));
    watcher.onDidChange((u) => {
      if (u.toString() === document.uri.toString()) void send();
    });
    panel.onDidDispose(() => watcher.dispose());
  }
}

const STYLE = `
  body { color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 16px; }
  h1 { font-size: 1.3em; font-weight: 600; }
  h2 { font-size: 1.1em; font-weight: 600; margin-top: 1.5em; }
  table.summary { border-collapse: collapse; }
  table.summary th { text-align: left; font-weight: normal; color: var(--vscode-descriptionForeground); padding: 2px 16px 2px 0; vertical-align: top; }
  table.summary td { padding: 2px 0; font-family: var(--vscode-editor-font-family); }
  ul.diagnostics { padding-left: 1.2em; }
  ul.diagnostics li.error { color: var(--vscode-errorForeground); }
  ul.diagnostics li.warning { color: var(--vscode-editorWarning-foreground); }
  .cls { color: var(--vscode-descriptionForeground); }
`;

function html(webview: vscode.Webview, script: vscode.Uri): string {
  return webviewHtml(webview, { title: 'ONNX model', script, style: STYLE, body: '<main id="app" aria-live="polite">Reading the model…</main>' });
}
