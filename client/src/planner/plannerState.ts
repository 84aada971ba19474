import type { ModelTreeNode } from '../../../server/src/engine/models';
import { isParamPath, subtree } from '../../../server/src/plan/stages';
import { isFrozen, presetPlan, summarise, toggle, type FreezePlan, type PlanOptions, type PlanSummary } from '../../../server/src/plan/plan';
import type { PlanModel } from '../../../server/src/protocol';

/**
 * What the planner view shows, without VS Code: the model, its plan and
 * the plan's summary, and per module the parameters that train under it.
 * The view reads it; the unit tests drive it directly.
 *
 * Counts are computed on demand per module and kept until the plan
 * changes, so a tree of thousands of modules costs only what is expanded.
 */
export class PlannerState {
  plan: FreezePlan;
  summary: PlanSummary;
  private frozenMemo = new Map<string, number>();
  private readonly totals = new Map<string, number>();
  private readonly nodes = new Map<string, ModelTreeNode>();

  constructor(
    readonly model: PlanModel,
    plan?: FreezePlan,
  ) {
    const index = (n: ModelTreeNode) => {
      this.nodes.set(n.path, n);
      n.children.forEach(index);
    };
    index(model.root);
    this.plan = plan ?? scriptPlan(model);
    this.summary = summarise(model.root, this.plan);
  }

  get options(): PlanOptions {
    return { bn: this.plan.bn, optimizer: this.plan.optimizer, lr: this.plan.lr, headPath: this.model.headPath, pretrained: this.model.pretrained };
  }

  node(path: string): ModelTreeNode | undefined {
    return this.nodes.get(path);
  }

  /** Parameters under a module (a subtree), memoised. */
  total(n: ModelTreeNode): number {
    let t = this.totals.get(n.path);
    if (t === undefined) this.totals.set(n.path, (t = subtree(n)));
    return t;
  }

  /** Parameters under a module that the plan freezes. */
  frozen(n: ModelTreeNode): number {
    const hit = this.frozenMemo.get(n.path);
    if (hit !== undefined) return hit;
    let f: number;
    if (isFrozen(this.plan, n.path)) f = this.total(n);
    else {
      f = n.children.reduce((s, c) => s + this.frozen(c), 0);
      (n.paramNames ?? []).forEach((p, i) => {
        const path = n.path === '' ? p : `${n.path}.${p}`;
        if (this.plan.frozen.includes(path) && isParamPath(this.model.root, path)) f += n.paramSizes?.[i] ?? 0;
      });
    }
    this.frozenMemo.set(n.path, f);
    return f;
  }

  /** A checkbox: all of a module's parameters frozen, none, or some (shown as mixed). */
  state(n: ModelTreeNode): 'frozen' | 'trainable' | 'mixed' | 'empty' {
    const total = this.total(n);
    if (total === 0) return isFrozen(this.plan, n.path) ? 'frozen' : 'empty';
    const f = this.frozen(n);
    return f === total ? 'frozen' : f === 0 ? 'trainable' : 'mixed';
  }

  setFrozen(path: string, frozen: boolean): void {
    this.update(toggle(this.model.root, this.plan, path, frozen));
  }

  applyPreset(preset: string, options: PlanOptions = {}): void {
    this.update(presetPlan(this.model.root, preset, { ...this.options, ...options }));
  }

  /** bn, optimizer or lr, keeping the frozen set. */
  configure(change: Partial<Pick<FreezePlan, 'bn' | 'optimizer' | 'lr'>>): void {
    this.update({ ...this.plan, ...change });
  }

  update(plan: FreezePlan): void {
    this.plan = plan;
    this.frozenMemo = new Map();
    this.summary = summarise(this.model.root, plan);
  }
}

/**
 * The plan the script already has: its modules frozen at the end of the
 * script, as the analysis computed them, minimal (a module whose subtree
 * is wholly frozen stands for it).
 */
export function scriptPlan(model: PlanModel): FreezePlan {
  const base = presetPlan(model.root, 'full', { headPath: model.headPath, pretrained: model.pretrained });
  const frozen: string[] = [];
  const whollyFrozen = (n: ModelTreeNode): boolean => (n.params ? n.trainable === false : true) && n.children.every(whollyFrozen);
  const visit = (n: ModelTreeNode) => {
    if (subtree(n) > 0 && whollyFrozen(n)) frozen.push(n.path);
    else n.children.forEach(visit);
  };
  visit(model.root);
  return { ...base, preset: 'script', frozen };
}
