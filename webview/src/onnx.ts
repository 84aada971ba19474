/**
 * The read-only ONNX viewer: a model's summary, its module tree with counts,
 * and its diagnostics, from the report the extension sends
 * (`freezelens/onnxReport`). Rendered with @vscode-elements/elements, themed
 * by VS Code's CSS variables; it loads nothing remote (see the CSP in
 * client/src/onnxEditor.ts).
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-tree/index.js';
import '@vscode-elements/elements/dist/vscode-tree-item/index.js';
import type { OnnxReportResult, OnnxTreeNode } from '../../server/src/protocol';
import { el } from './dom';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;

window.addEventListener('message', (event: MessageEvent) => {
  const msg = event.data as { type: string; report?: OnnxReportResult };
  if (msg.type === 'report' && msg.report) render(msg.report);
});
vscode.postMessage({ type: 'ready' });

function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '?' : n.toLocaleString('en-US');
}

function shape(dims: (number | string | null)[] | undefined): string {
  return dims ? `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '?';
}

function render(r: OnnxReportResult): void {
  app.replaceChildren();
  app.append(el('h1', {}, r.file));
  if (r.diagnostics.length > 0) {
    const list = el('ul', { class: 'diagnostics', 'aria-label': 'Diagnostics' });
    for (const d of r.diagnostics) list.append(el('li', { class: d.severity }, el('strong', {}, `${d.ruleId} `), d.message));
    app.append(list);
  }
  const s = r.summary;
  if (!s) return;
  const summary = el('table', { class: 'summary', 'aria-label': 'Summary' });
  const row = (k: string, v: string) => summary.append(el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v)));
  row('Producer', s.producer || 'unknown');
  row('IR version', String(s.irVersion ?? '?'));
  row('Opsets', s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', '));
  for (const v of s.inputs) row(`Input ${v.name}`, shape(v.dims));
  for (const v of s.outputs) row(`Output ${v.name}`, shape(v.dims));
  row('Parameters', `${count(s.totalParams)} (module names from ${r.naming === 'initializers' ? "PyTorch's initializer names" : r.naming === 'scopes' ? 'node scopes' : 'initializer names and node scopes'})`);
  row('Nodes', `${s.nodes} (${s.ops.map(([op, n]) => `${op} ${n}`).join(', ')})`);
  app.append(summary);
  const model = r.models[0];
  if (!model) return;
  const tree = document.createElement('vscode-tree');
  tree.setAttribute('aria-label', 'Module tree');
  const item = (n: OnnxTreeNode, total: number | null, depth: number): HTMLElement => {
    const it = document.createElement('vscode-tree-item');
    if (depth < 2) it.setAttribute('open', '');
    const name = n.path === '' ? '(model)' : n.path.slice(n.path.lastIndexOf('.') + 1);
    it.append(el('span', { class: 'name', 'data-path': n.path }, name), el('span', { class: 'cls' }, ` ${n.class}`));
    const out = n.outputShapes?.[n.outputShapes.length - 1];
    const desc = el('span', { slot: 'description' }, `${count(total)} params${out ? ` → ${shape(out)}` : ''}`);
    if (n.ops && n.ops.length > 1) it.setAttribute('title', `ops: ${n.ops.join(', ')}`);
    if (n.batchNorm) desc.append(' ', el('vscode-badge', { variant: 'tag' }, n.bnTrainingMode ? 'BN training_mode=1' : 'BN'));
    if (n.dropout) desc.append(' ', el('vscode-badge', { variant: 'tag' }, 'Dropout'));
    it.append(desc);
    for (const c of n.children) it.append(item(c, subtotal(c), depth + 1));
    return it;
  };
  tree.append(item(model.root, model.totalParams, 0));
  app.append(el('h2', {}, 'Modules'), tree);
}

function subtotal(n: OnnxTreeNode): number | null {
  let t = n.params;
  for (const c of n.children) {
    const s = subtotal(c);
    t = t === null || s === null ? null : t + s;
  }
  return t;
}
