import * as vscode from 'vscode';
import type { ModelTreeNode } from '../../../server/src/engine/models';
import { formatCount } from '../../../server/src/models/tree';
import { bytes, optimizerName } from '../../../server/src/plan/describe';
import type { FreezePlan } from '../../../server/src/plan/plan';
import type { PlanModel } from '../../../server/src/protocol';
import { PlannerState } from './plannerState';

/**
 * The "Freeze Planner" tree view: a summary of the plan, then the model's
 * module tree with a freeze checkbox per module. Children are built when a
 * node is expanded, so a model of thousands of modules costs what is shown.
 */

type Item = { kind: 'summary' } | { kind: 'line'; id: string; text: string; icon?: string; tooltip?: string } | { kind: 'module'; path: string };

export class PlannerView implements vscode.TreeDataProvider<Item> {
  private readonly changed = new vscode.EventEmitter<Item | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  state: PlannerState | undefined;
  /** The models of the current source, when it has several. */
  models: PlanModel[] = [];
  /** Shown when there is nothing to plan: why. */
  message = 'Open a training script or an .onnx file, or plan a catalog model.';

  constructor(private readonly store: vscode.Memento) {}

  /** Shows a model, with the plan saved for it if there is one, else its script's current freeze state. */
  show(model: PlanModel, models: PlanModel[] = [model]): void {
    // A plan the user made is kept; one that is the script's own state follows the script as it changes.
    const saved = this.store.get<FreezePlan>(storeKey(model));
    this.state = new PlannerState(model, saved && saved.preset !== 'script' ? saved : undefined);
    this.models = models;
    this.refresh();
  }

  clear(message: string): void {
    this.state = undefined;
    this.models = [];
    this.message = message;
    this.refresh();
  }

  /** Saves the plan for its model (per workspace) and redraws. */
  changedPlan(): void {
    if (this.state) void this.store.update(storeKey(this.state.model), this.state.plan);
    this.refresh();
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getChildren(item?: Item): Item[] {
    const s = this.state;
    if (!s) return item ? [] : [{ kind: 'line', id: 'empty', text: this.message, icon: 'info' }];
    if (!item) return [{ kind: 'summary' }, { kind: 'module', path: '' }];
    if (item.kind === 'summary') return summaryLines(s);
    if (item.kind === 'module') return (s.node(item.path)?.children ?? []).filter((c) => s.total(c) > 0 || c.children.length > 0).map((c) => ({ kind: 'module', path: c.path }));
    return [];
  }

  getTreeItem(item: Item): vscode.TreeItem {
    const s = this.state;
    if (item.kind === 'summary' && s) {
      const t = new vscode.TreeItem(`Trains ${formatCount(s.summary.trainableParams)} of ${formatCount(s.summary.totalParams)} params (${pct(s.summary.trainableParams, s.summary.totalParams)})`, vscode.TreeItemCollapsibleState.Expanded);
      t.id = 'summary';
      t.description = `${s.plan.preset} · ${optimizerName(s.plan)} lr ${s.plan.lr} · BN ${s.plan.bn}`;
      t.iconPath = new vscode.ThemeIcon(s.summary.problems.some((p) => p.severity === 'error') ? 'error' : 'graph');
      t.contextValue = 'summary';
      return t;
    }
    if (item.kind === 'line') {
      const t = new vscode.TreeItem(item.text, vscode.TreeItemCollapsibleState.None);
      t.id = `line:${item.id}`;
      if (item.icon) t.iconPath = new vscode.ThemeIcon(item.icon);
      t.tooltip = item.tooltip ?? item.text;
      return t;
    }
    if (item.kind !== 'module' || !s) return new vscode.TreeItem('');
    const n = s.node(item.path)!;
    const hasChildren = n.children.some((c) => s.total(c) > 0 || c.children.length > 0);
    const label = n.path === '' ? s.model.name : n.path.slice(n.path.lastIndexOf('.') + 1);
    const t = new vscode.TreeItem(label, n.path === '' ? vscode.TreeItemCollapsibleState.Expanded : hasChildren ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    t.id = `module:${n.path}`;
    const state = s.state(n);
    const total = s.total(n);
    const trains = total - s.frozen(n);
    t.description = [n.class, `${formatCount(trains)}/${formatCount(total)}`, ...badges(n, s.model.headPath), ...(state === 'mixed' ? ['partly frozen'] : [])].join(' · ');
    t.tooltip = new vscode.MarkdownString(
      `**${n.path || s.model.name}** (${n.class})\n\nTrains ${formatCount(trains)} of ${formatCount(total)} parameters${state === 'mixed' ? ' (partly frozen)' : ''}.${n.partial ? '\n\nSome children were built where FreezeLens cannot follow: not counted.' : ''}`,
    );
    if (state !== 'empty') t.checkboxState = state === 'frozen' ? { state: vscode.TreeItemCheckboxState.Checked, tooltip: 'Frozen: uncheck to train' } : { state: vscode.TreeItemCheckboxState.Unchecked, tooltip: state === 'mixed' ? 'Partly frozen: check to freeze all of it' : 'Trains: check to freeze' };
    t.iconPath = new vscode.ThemeIcon(state === 'frozen' ? 'lock' : state === 'mixed' ? 'unlock' : 'circle-outline');
    t.contextValue = 'module';
    return t;
  }

  getParent(item: Item): Item | undefined {
    if (item.kind === 'module' && item.path !== '') {
      const dot = item.path.lastIndexOf('.');
      return { kind: 'module', path: dot < 0 ? '' : item.path.slice(0, dot) };
    }
    if (item.kind === 'line' && !item.id.startsWith('empty')) return { kind: 'summary' };
    return undefined;
  }
}

function summaryLines(s: PlannerState): Item[] {
  const m = s.summary;
  const lines: Item[] = [
    { kind: 'line', id: 'memory', icon: 'database', text: `Gradients + ${optimizerName(s.plan)} state: ${bytes(m.trainingStateBytes)} (full fine-tune ${bytes(m.fullTrainingStateBytes)})`, tooltip: `4 bytes × trainable params × (1 gradient + ${m.optimizerStates} optimizer state${m.optimizerStates === 1 ? '' : 's'})` },
    {
      kind: 'line',
      id: 'backward',
      icon: 'dashboard',
      text: `Backward compute saved: ${(100 * m.backwardSaved).toFixed(1)}% (${m.backwardBasis === 'flops' ? 'FLOPs from ONNX shapes' : 'params as a proxy'})`,
      tooltip: m.backwardBasis === 'flops' ? "Estimated from each module's FLOPs, from the ONNX graph's shapes." : 'Estimated from parameter counts: no shapes are known for this model, and early convolutions cost more than their parameters say.',
    },
  ];
  if (m.activationBytesSaved !== undefined) lines.push({ kind: 'line', id: 'activations', icon: 'layers', text: `Activations not kept for backward: ${bytes(m.activationBytesSaved)} per sample` });
  if (s.plan.gradualEvery !== null) lines.push({ kind: 'line', id: 'gradual', icon: 'history', text: `Gradual unfreezing: one more stage every ${s.plan.gradualEvery} epochs` });
  m.problems.forEach((p, i) => lines.push({ kind: 'line', id: `problem${i}`, icon: p.severity === 'error' ? 'error' : 'warning', text: p.message }));
  s.model.notes.forEach((n, i) => lines.push({ kind: 'line', id: `note${i}`, icon: 'info', text: n }));
  return lines;
}

function badges(n: ModelTreeNode, headPath: string | undefined): string[] {
  const out: string[] = [];
  if (n.batchNorm) out.push(n.bnTrainingMode ? 'BN (training_mode)' : 'BN');
  if (n.dropout) out.push('Dropout');
  if (n.newModule || (headPath !== undefined && n.path === headPath)) out.push('new head');
  return out;
}

function pct(part: number, total: number): string {
  return total > 0 ? `${((100 * part) / total).toFixed(2)}%` : '0%';
}

export function storeKey(model: Pick<PlanModel, 'key'>): string {
  return `freezelens.plan:${model.key}`;
}
