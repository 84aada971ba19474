import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { generateCode } from '../../../server/src/plan/codegen';
import { stagesOf } from '../../../server/src/plan/stages';
import { isFrozen, PlanError } from '../../../server/src/plan/plan';
import { scriptPlan } from './plannerState';
import { CATALOG_MODEL_REQUEST, CATALOG_NAMES_REQUEST, PLAN_MODELS_REQUEST, type PlanModel, type PlanModelsResult } from '../../../server/src/protocol';
import { PlannerView } from './plannerView';

/**
 * The freeze planner: the tree view, its commands, and keeping it in step
 * with the editor. The plan logic is the server's core (plan/), bundled in;
 * the server supplies the models, with the script's current freeze state.
 */
export function registerPlanner(context: vscode.ExtensionContext, client: () => Promise<LanguageClient | undefined>): PlannerView {
  const view = new PlannerView(context.workspaceState);
  const proposals = new ProposalProvider();
  const tree = vscode.window.createTreeView('freezelens.planner', { treeDataProvider: view, manageCheckboxStateManually: true, showCollapseAll: true });
  let source: { uri: string; name?: string } | undefined;

  const load = async (uri: string, name?: string) => {
    const c = await client();
    if (!c) return;
    let result = await c.sendRequest<PlanModelsResult>(PLAN_MODELS_REQUEST, { uri });
    // A document opened a moment ago may not be analysed yet.
    for (let i = 0; i < 20 && !result.analysed; i++) {
      await new Promise((r) => setTimeout(r, 150));
      result = await c.sendRequest<PlanModelsResult>(PLAN_MODELS_REQUEST, { uri });
    }
    if (result.models.length === 0) {
      // Keep a catalog model or another file's model on screen rather than blanking it for an unrelated editor.
      if (!view.state || source?.uri === uri) view.clear(result.analysed ? 'FreezeLens knows no model with a known structure in this file. Models built where the analysis cannot follow can be bound to an ONNX export (# freezelens: model=...).' : 'This file has not been analysed yet.');
      return;
    }
    source = { uri, name };
    const chosen = result.models.find((m) => m.name === name) ?? result.models.find((m) => m.key === view.state?.model.key) ?? result.models[0];
    view.show(chosen, result.models);
  };

  const current = () => {
    if (!view.state) void vscode.window.showInformationMessage('FreezeLens: open a training script, an .onnx file, or plan a catalog model first.');
    return view.state;
  };

  const act = (f: () => void) => {
    try {
      f();
      view.changedPlan();
    } catch (e) {
      if (e instanceof PlanError) void vscode.window.showErrorMessage(`FreezeLens: ${e.message}`);
      else throw e;
    }
  };

  // Live sync: editing the script re-reads its models (the server analyses on its own debounce).
  let timer: NodeJS.Timeout | undefined;
  const followEditor = (editor: vscode.TextEditor | undefined) => {
    if (!editor || editor.document.languageId !== 'python' || editor.document.uri.scheme !== 'file') return;
    if (!tree.visible) return;
    void load(editor.document.uri.toString());
  };

  context.subscriptions.push(
    tree,
    vscode.workspace.registerTextDocumentContentProvider(ProposalProvider.scheme, proposals),
    tree.onDidChangeCheckboxState((e) => {
      const s = view.state;
      if (!s) return;
      act(() => {
        for (const [item, state] of e.items) if (item.kind === 'module') s.setFrozen(item.path, state === vscode.TreeItemCheckboxState.Checked);
      });
    }),
    tree.onDidChangeVisibility((e) => {
      if (e.visible && !view.state) followEditor(vscode.window.activeTextEditor);
    }),
    vscode.window.onDidChangeActiveTextEditor(followEditor),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (!source || e.document.uri.toString() !== source.uri || e.contentChanges.length === 0) return;
      clearTimeout(timer);
      const { uri, name } = source;
      timer = setTimeout(() => void load(uri, name ?? view.state?.model.name), 400);
    }),
    vscode.commands.registerCommand('freezelens.openPlanner', async (uri?: string | vscode.Uri, name?: string) => {
      const target = uri?.toString() ?? vscode.window.activeTextEditor?.document.uri.toString() ?? activeOnnx();
      await vscode.commands.executeCommand('freezelens.planner.focus');
      if (target) await load(target, name);
    }),
    vscode.commands.registerCommand('freezelens.planCatalogModel', async () => {
      const c = await client();
      if (!c) return;
      const names = await c.sendRequest<string[]>(CATALOG_NAMES_REQUEST);
      const name = await vscode.window.showQuickPick(names, { title: 'Plan a catalog model', placeHolder: 'torchvision architecture (pretrained)' });
      if (!name) return;
      const model = await c.sendRequest<PlanModel | null>(CATALOG_MODEL_REQUEST, { name });
      if (!model) return;
      source = undefined;
      await vscode.commands.executeCommand('freezelens.planner.focus');
      view.show(model);
    }),
    vscode.commands.registerCommand('freezelens.planner.selectModel', async () => {
      if (view.models.length < 2) return;
      const pick = await vscode.window.showQuickPick(view.models.map((m) => ({ label: m.name, description: `${m.source} · ${m.totalParams?.toLocaleString('en-US') ?? '?'} params`, model: m })), { title: 'Plan which model?' });
      if (pick) view.show(pick.model, view.models);
    }),
    vscode.commands.registerCommand('freezelens.planner.preset', async (preset?: string) => {
      const s = current();
      if (!s) return;
      const chosen = preset ?? (await pickPreset(s.model));
      if (chosen) act(() => s.applyPreset(chosen));
    }),
    vscode.commands.registerCommand('freezelens.planner.bnPolicy', async (policy?: 'eval' | 'frozen' | 'train') => {
      const s = current();
      if (!s) return;
      const chosen =
        policy ??
        (
          await vscode.window.showQuickPick(
            [
              { label: 'eval', description: 'frozen BatchNorm kept in eval by a forward pre-hook (recommended)', value: 'eval' as const },
              { label: 'frozen', description: "BatchNorm2d swapped for torchvision's FrozenBatchNorm2d", value: 'frozen' as const },
              { label: 'train', description: 'frozen parts keep training their BatchNorm: statistics adapt (noisy with small batches)', value: 'train' as const },
            ],
            { title: 'BatchNorm in frozen parts' },
          )
        )?.value;
      if (chosen) act(() => s.configure({ bn: chosen }));
    }),
    vscode.commands.registerCommand('freezelens.planner.optimizer', async () => {
      const s = current();
      if (!s) return;
      const opt = await vscode.window.showQuickPick(
        [
          { label: 'AdamW', description: '2 states per trainable parameter', value: 'adamw' as const },
          { label: 'Adam', description: '2 states per trainable parameter', value: 'adam' as const },
          { label: 'SGD', description: 'momentum 0.9: 1 state per trainable parameter', value: 'sgd' as const },
        ],
        { title: 'Optimizer' },
      );
      if (!opt) return;
      const lr = await vscode.window.showInputBox({ title: "The head's learning rate", value: String(s.plan.lr), validateInput: (v) => (Number(v) > 0 ? undefined : 'A positive number, such as 1e-3') });
      if (lr === undefined) return;
      act(() => s.configure({ optimizer: opt.value, lr: Number(lr) }));
    }),
    vscode.commands.registerCommand('freezelens.planner.reset', () => {
      const s = current();
      if (!s) return;
      void context.workspaceState.update(`freezelens.plan:${s.model.key}`, undefined);
      view.show(s.model, view.models);
    }),
    vscode.commands.registerCommand('freezelens.planner.generate', async () => {
      const s = current();
      if (!s) return;
      const code = codeFor(view);
      if (!code) return;
      const choices = [...(s.model.edit ? [{ label: 'Insert into the script', description: 'shows the change before applying it', id: 'insert' }] : []), { label: 'Copy', id: 'copy' }, { label: 'Open in a new editor', id: 'open' }];
      const pick = await vscode.window.showQuickPick(choices, { title: 'Freeze plan code' });
      if (pick) await vscode.commands.executeCommand(`freezelens.planner.${pick.id}`);
    }),
    vscode.commands.registerCommand('freezelens.planner.copy', async () => {
      const code = codeFor(view);
      if (code) await vscode.env.clipboard.writeText(code.text);
    }),
    vscode.commands.registerCommand('freezelens.planner.open', async () => {
      const code = codeFor(view);
      if (code) await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: 'python', content: code.text }));
    }),
    vscode.commands.registerCommand('freezelens.planner.insert', async (confirm = true) => {
      const s = current();
      const code = codeFor(view);
      if (!s || !code) return;
      if (!s.model.edit) {
        void vscode.window.showInformationMessage('FreezeLens: this model is not built at the top level of a script; copy the code instead.');
        return;
      }
      await insertPlan(s.model, code, confirm, proposals);
    }),
  );
  return view;
}

function activeOnnx(): string | undefined {
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return tab instanceof vscode.TabInputCustom && tab.uri.path.endsWith('.onnx') ? tab.uri.toString() : undefined;
}

async function pickPreset(model: PlanModel): Promise<string | undefined> {
  const stages = stagesOf(model.root, model.headPath).stages;
  const pick = await vscode.window.showQuickPick(
    [
      { label: 'Linear probe', description: 'train the head only', id: 'linear-probe' },
      { label: 'Freeze up to a stage…', description: stages.map((s) => s.name).join(', '), id: 'freeze-to' },
      { label: 'Full fine-tune', description: 'train everything, the backbone at a lower LR', id: 'full' },
      { label: 'Freeze BatchNorm only', id: 'bn-only' },
      { label: 'Gradual unfreezing…', description: 'the last stage first, every N epochs (ULMFiT)', id: 'gradual' },
      { label: 'Discriminative learning rates…', description: "each stage at the next one's LR / factor", id: 'discriminative' },
    ],
    { title: 'Freeze preset' },
  );
  if (!pick) return undefined;
  if (pick.id === 'freeze-to') {
    const stage = await vscode.window.showQuickPick(
      stages.map((s) => ({ label: s.name, description: `${s.params.toLocaleString('en-US')} params`, detail: s.paths.join(', ') })),
      { title: 'Freeze up to and including' },
    );
    return stage && `freeze-to:${stage.label}`;
  }
  if (pick.id === 'gradual') {
    const n = await vscode.window.showInputBox({ title: 'Unfreeze one more stage every N epochs', value: '2', validateInput: (v) => (/^[1-9]\d*$/.test(v) ? undefined : 'A whole number of epochs') });
    return n && `gradual:${n}`;
  }
  if (pick.id === 'discriminative') {
    const f = await vscode.window.showInputBox({ title: "Each stage trains at the next one's LR divided by", value: '2.6', validateInput: (v) => (Number(v) > 1 ? undefined : 'A factor greater than 1') });
    return f && `discriminative:${f}`;
  }
  return pick.id;
}

/** The plan's code, or undefined (with the reason shown) when the plan cannot have any. */
function codeFor(view: PlannerView): { text: string; imports: string[] } | undefined {
  const s = view.state;
  if (!s) return undefined;
  try {
    // Parts the script froze that the plan trains: the code must undo that freezing.
    const unfreezeFirst = scriptPlan(s.model).frozen.some((p) => !isFrozen(s.plan, p));
    const code = generateCode(s.model.root, s.plan, s.model.style, { unfreezeFirst });
    return { text: code.code, imports: code.imports };
  } catch (e) {
    void vscode.window.showErrorMessage(`FreezeLens: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Writes the plan into the script: in place of its optimizer construction
 * (the plan builds the optimizer), or after the model's construction. With
 * `confirm`, the change is shown first as a diff of the script against the
 * script with the plan, and applied only when the user says so.
 */
async function insertPlan(model: PlanModel, code: { text: string; imports: string[] }, confirm: boolean, proposals: ProposalProvider): Promise<void> {
  const target = model.edit!;
  const uri = vscode.Uri.parse(target.uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  const edits: vscode.TextEdit[] = [];
  const missing = code.imports.filter((line) => !doc.getText().includes(line));
  if (missing.length > 0) edits.push(vscode.TextEdit.insert(new vscode.Position(lastImportLine(doc) + 1, 0), `${missing.join('\n')}\n`));
  if (target.replace) {
    const r = target.replace;
    edits.push(vscode.TextEdit.replace(new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character), code.text.replace(/\n$/, '')));
  } else if (target.insert) {
    edits.push(vscode.TextEdit.insert(new vscode.Position(target.insert.line, 0), `\n${code.text}\n`));
  }
  if (confirm) {
    const proposed = proposals.propose(doc, edits);
    await vscode.commands.executeCommand('vscode.diff', doc.uri, proposed, `${path.basename(doc.uri.path)} ↔ with the freeze plan`, { preview: true });
    const choice = await vscode.window.showInformationMessage(`Apply the freeze plan to ${path.basename(doc.uri.path)}?`, 'Apply', 'Cancel');
    proposals.forget(proposed);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    if (choice !== 'Apply') return;
  }
  const edit = new vscode.WorkspaceEdit();
  edit.set(uri, edits);
  if (await vscode.workspace.applyEdit(edit)) await vscode.window.showTextDocument(doc);
}

/** Read-only documents holding a script as the plan would leave it, for the diff shown before applying. */
export class ProposalProvider implements vscode.TextDocumentContentProvider {
  static readonly scheme = 'freezelens-plan';
  private readonly texts = new Map<string, string>();
  private count = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  propose(doc: vscode.TextDocument, edits: vscode.TextEdit[]): vscode.Uri {
    // Applied from the end, so earlier offsets stay valid.
    let text = doc.getText();
    for (const e of [...edits].sort((a, b) => doc.offsetAt(b.range.start) - doc.offsetAt(a.range.start))) {
      text = text.slice(0, doc.offsetAt(e.range.start)) + e.newText + text.slice(doc.offsetAt(e.range.end));
    }
    const uri = vscode.Uri.from({ scheme: ProposalProvider.scheme, path: doc.uri.path, query: String(++this.count) });
    this.texts.set(uri.toString(), text);
    return uri;
  }

  forget(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }
}

function lastImportLine(doc: vscode.TextDocument): number {
  let last = -1;
  for (let i = 0; i < Math.min(doc.lineCount, 200); i++) if (/^(import|from)\s/.test(doc.lineAt(i).text)) last = i;
  return last;
}
