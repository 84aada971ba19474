// The suite for a workspace that is not trusted (e2e.test.mjs opens
// examples/ in restricted mode): FreezeLens's analysis runs as anywhere,
// and the experiment panel opens but runs nothing, and says why.
import * as assert from 'assert';
import * as vscode from 'vscode';
import { runSteps, screenshot, waitFor } from './harness';

export async function run(): Promise<void> {
  await runSteps<Record<string, never>>(
    [
      ['the workspace is in restricted mode', restricted],
      ['diagnostics run in an untrusted workspace', diagnostics],
      ['the experiment panel explains that it needs trust, and its form and Run are disabled', panel],
    ],
    {},
  );
}

async function restricted(): Promise<void> {
  assert.equal(vscode.workspace.isTrusted, false, 'the workspace should not be trusted');
  assert.ok(vscode.extensions.getExtension('freezelens.freezelens'), 'FreezeLens is not loaded in restricted mode');
}

async function diagnostics(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders![0].uri;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'finetune_resnet.py'));
  await vscode.window.showTextDocument(doc);
  await waitFor(() => (vscode.languages.getDiagnostics(doc.uri).some((d) => d.source === 'freezelens') ? true : undefined), 30_000, () => 'no FreezeLens diagnostics in finetune_resnet.py');
}

async function panel(): Promise<void> {
  await vscode.commands.executeCommand('freezelens.experiment.open');
  await screenshot(
    {
      name: 'experiment-untrusted',
      expectText: ['trust this workspace to run them', 'Manage Workspace Trust'],
      inFrames: true,
      // The form is inert and Run disabled; the PyTorch backend is marked unavailable.
      attributesInFrames: [
        { selector: 'form', attribute: 'inert' },
        { selector: 'vscode-button:has-text("Run")', attribute: 'disabled' },
        { selector: 'option[value="torch"]', attribute: 'disabled' },
      ],
    },
    'the experiment panel in an untrusted workspace',
  );
}
