import type { ModelTreeNode } from '../engine/models';
import { isParamPath, nodeAt, paramsAt, stagesOf, subtree, type Stage, type Stages } from './stages';

/**
 * A freeze plan: what the planner shows, the code generator writes, and
 * the experiment engine runs. It is plain JSON (`freezelens plan --format
 * json`), so plans can be saved, compared and handed to other tools.
 */
export interface FreezePlan {
  version: 1;
  /** The preset it came from (`linear-probe`, `freeze-to:layer3`, ...), or `custom` once edited. */
  preset: string;
  /** Module paths (whole subtrees) and parameter paths (`class_token`) whose parameters are frozen. */
  frozen: string[];
  /**
   * BatchNorm in frozen parts: `eval` keeps it in eval mode (running
   * statistics fixed) through a forward pre-hook; `frozen` swaps
   * BatchNorm2d for torchvision's FrozenBatchNorm2d; `train` lets it train
   * on (its parameters stay trainable and its statistics adapt).
   */
  bn: 'eval' | 'frozen' | 'train';
  optimizer: 'adamw' | 'adam' | 'sgd';
  /** The head's learning rate. */
  lr: number;
  /** Trainable pretrained parts train at lr / lrSplit; null: one learning rate. */
  lrSplit: number | null;
  /** Discriminative learning rates: a stage `d` stages before the head trains at lr * decay^d; null: off. */
  decay: number | null;
  /** Gradual unfreezing: every N epochs the last frozen stage is unfrozen; null: the plan stays as it is. */
  gradualEvery: number | null;
  stages: Stage[];
  head: Stage | undefined;
}

export type Preset = 'linear-probe' | `freeze-to:${string}` | 'full' | 'bn-only' | `gradual:${number}` | `discriminative:${number}`;

export interface PlanOptions {
  bn?: FreezePlan['bn'];
  optimizer?: FreezePlan['optimizer'];
  lr?: number;
  /** Backbone LR divisor where pretrained parts train (FRZ003's factor); default 10. */
  lrSplit?: number | null;
  /** The module the script put in as the new head, where the analysis knows it. */
  headPath?: string;
  /** Whether the model's weights are pretrained: only then does the backbone get a lower LR. */
  pretrained?: boolean;
}

export class PlanError extends Error {}

/** A plan from a preset string, on a model's tree. Throws PlanError for a preset that does not apply. */
export function presetPlan(root: ModelTreeNode, preset: string, options: PlanOptions = {}): FreezePlan {
  const st = stagesOf(root, options.headPath);
  const base: FreezePlan = {
    version: 1,
    preset,
    frozen: [],
    bn: options.bn ?? 'eval',
    optimizer: options.optimizer ?? 'adamw',
    lr: options.lr ?? 1e-3,
    lrSplit: options.pretrained === false ? null : (options.lrSplit === undefined ? 10 : options.lrSplit),
    decay: null,
    gradualEvery: null,
    stages: st.stages,
    head: st.head,
  };
  const backbone = st.stages.flatMap((s) => s.paths);
  const [kind, arg] = splitPreset(preset);
  switch (kind) {
    case 'linear-probe':
      if (!st.head) throw new PlanError('a linear probe trains the head only, and this model has no head FreezeLens can find; plan the stages by hand');
      return { ...base, frozen: backbone };
    case 'full':
      return base;
    case 'freeze-to': {
      const k = stageIndex(st, arg);
      return { ...base, frozen: st.stages.slice(0, k + 1).flatMap((s) => s.paths) };
    }
    case 'bn-only':
      return { ...base, frozen: batchNormPaths(root) };
    case 'gradual': {
      const every = Number(arg);
      if (!Number.isInteger(every) || every < 1) throw new PlanError(`gradual:N needs a whole number of epochs, not '${arg}'`);
      if (!st.head) throw new PlanError('gradual unfreezing starts from the head alone, and this model has no head FreezeLens can find');
      return { ...base, frozen: backbone, gradualEvery: every };
    }
    case 'discriminative': {
      const factor = Number(arg);
      if (!(factor > 1)) throw new PlanError(`discriminative:FACTOR needs a factor greater than 1 (each stage trains at the next one's LR divided by it), not '${arg}'`);
      return { ...base, decay: 1 / factor, lrSplit: null };
    }
    default:
      throw new PlanError(`unknown preset '${preset}'; expected linear-probe, freeze-to:STAGE, full, bn-only, gradual:EPOCHS or discriminative:FACTOR`);
  }
}

function splitPreset(preset: string): [string, string] {
  const i = preset.indexOf(':');
  return i < 0 ? [preset, ''] : [preset.slice(0, i), preset.slice(i + 1)];
}

/** A stage by name (`layer3`), by the end of its name (`encoder_layer_5`), or by number (0 is the first). */
export function stageIndex(st: Stages, name: string): number {
  const exact = st.stages.findIndex((s) => s.name === name);
  if (exact >= 0) return exact;
  const bySuffix = st.stages.map((s, i) => (s.name.endsWith(`.${name}`) ? i : -1)).filter((i) => i >= 0);
  if (bySuffix.length === 1) return bySuffix[0];
  if (/^\d+$/.test(name) && Number(name) < st.stages.length) return Number(name);
  throw new PlanError(`no stage '${name}'; the stages are ${st.stages.map((s) => s.name).join(', ')}`);
}

/** Every BatchNorm module (one tracking running statistics). */
function batchNormPaths(root: ModelTreeNode): string[] {
  const out: string[] = [];
  const visit = (n: ModelTreeNode) => {
    if (n.batchNorm) out.push(n.path);
    else n.children.forEach(visit);
  };
  visit(root);
  return out;
}

/** Whether a path is frozen by the plan: it or an ancestor is listed. */
export function isFrozen(plan: Pick<FreezePlan, 'frozen'>, path: string): boolean {
  return plan.frozen.some((f) => f === path || path.startsWith(`${f}.`) || f === '');
}

/**
 * The plan after a checkbox: freezing a module freezes its subtree;
 * unfreezing one under a frozen ancestor splits the ancestor into its other
 * children. Paths stay minimal (no path under another).
 */
export function toggle(root: ModelTreeNode, plan: FreezePlan, path: string, freeze: boolean): FreezePlan {
  let frozen = plan.frozen.filter((f) => f !== path && !f.startsWith(`${path}.`) && !(path === ''));
  if (freeze) frozen.push(path);
  else {
    // An ancestor that covered it: replaced by its children other than the way down to `path`.
    const ancestor = frozen.find((f) => f === '' || path.startsWith(`${f}.`));
    if (ancestor !== undefined) {
      frozen = frozen.filter((f) => f !== ancestor);
      let node = nodeAt(root, ancestor);
      while (node && node.path !== path) {
        const down: ModelTreeNode | undefined = node.children.find((c) => path === c.path || path.startsWith(`${c.path}.`));
        for (const c of node.children) if (c !== down && subtree(c) > 0) frozen.push(c.path);
        if (node.params) for (const p of node.paramNames ?? []) frozen.push(node.path === '' ? p : `${node.path}.${p}`);
        node = down;
      }
    }
  }
  return { ...plan, preset: 'custom', frozen: normalise(root, frozen) };
}

/** Minimal paths: drops those under another; merges a module all of whose parameter-holding children are frozen. */
function normalise(root: ModelTreeNode, paths: string[]): string[] {
  let set = new Set(paths.filter((p) => !paths.some((q) => q !== p && (q === '' || p.startsWith(`${q}.`)))));
  let changed = true;
  while (changed) {
    changed = false;
    const visit = (n: ModelTreeNode): void => {
      if (set.has(n.path)) return;
      n.children.forEach(visit);
      const parts = [...n.children.filter((c) => subtree(c) > 0).map((c) => c.path), ...(n.params ? (n.paramNames ?? ['?']).map((p) => (n.path === '' ? p : `${n.path}.${p}`)) : [])];
      if (parts.length > 0 && parts.every((p) => set.has(p)) && n.path !== '') {
        set = new Set([...set].filter((p) => !parts.includes(p)));
        set.add(n.path);
        changed = true;
      }
    };
    visit(root);
  }
  return [...set];
}

export interface PlanSummary {
  totalParams: number;
  trainableParams: number;
  /** Bytes of gradients plus optimizer state (fp32) for the trainable parameters. */
  trainingStateBytes: number;
  /** The same for a full fine-tune, to compare. */
  fullTrainingStateBytes: number;
  optimizerStates: number;
  /** Fraction of a full fine-tune's backward compute that the plan does not do, and what it was estimated from. */
  backwardSaved: number;
  backwardBasis: 'flops' | 'params';
  /** Activation bytes per sample not kept for backward (the frozen prefix), where the graph's shapes are known. */
  activationBytesSaved?: number;
  /** Things the user must know before using the plan: an error stops code generation. */
  problems: { severity: 'error' | 'warning'; message: string }[];
}

/** Optimizer state tensors per trainable parameter: Adam keeps two moments, SGD with momentum one buffer. */
export const OPTIMIZER_STATES: Record<FreezePlan['optimizer'], number> = { adamw: 2, adam: 2, sgd: 1 };
const FP32 = 4;

export function summarise(root: ModelTreeNode, plan: FreezePlan): PlanSummary {
  const total = subtree(root);
  const frozenParams = plan.frozen.reduce((n, p) => n + paramsAt(root, p), 0);
  // BN that keeps training under the `train` policy: its parameters stay trainable.
  const bnKept = plan.bn === 'train' ? frozenBatchNorm(root, plan).reduce((n, p) => n + paramsAt(root, p), 0) : 0;
  const trainable = total - frozenParams + bnKept;
  const states = OPTIMIZER_STATES[plan.optimizer];
  const problems: PlanSummary['problems'] = [];
  if (trainable === 0) problems.push({ severity: 'error', message: 'Nothing trains: PyTorch raises "ValueError: optimizer got an empty parameter list" when the optimizer is built. Unfreeze at least the head.' });
  if (plan.bn === 'train' && frozenBatchNorm(root, plan).length > 0) {
    problems.push({ severity: 'warning', message: 'BatchNorm in frozen parts keeps training: its statistics adapt to your data, which helps under a domain shift but is noisy with small batches (under 16 or so).' });
  }
  if (plan.gradualEvery !== null && plan.stages.length === 0) problems.push({ severity: 'warning', message: 'Gradual unfreezing has no stages to unfreeze.' });
  const cost = backwardCost(root, plan);
  return {
    totalParams: total,
    trainableParams: trainable,
    trainingStateBytes: trainable * FP32 * (1 + states),
    fullTrainingStateBytes: total * FP32 * (1 + states),
    optimizerStates: states,
    backwardSaved: cost.saved,
    backwardBasis: cost.basis,
    ...(cost.activationBytes !== undefined ? { activationBytesSaved: cost.activationBytes } : {}),
    problems,
  };
}

/** BatchNorm modules inside frozen parts. */
export function frozenBatchNorm(root: ModelTreeNode, plan: Pick<FreezePlan, 'frozen'>): string[] {
  const out: string[] = [];
  const visit = (n: ModelTreeNode, under: boolean) => {
    const frozen = under || plan.frozen.includes(n.path);
    if (n.batchNorm && frozen) out.push(n.path);
    n.children.forEach((c) => visit(c, frozen));
  };
  visit(root, plan.frozen.includes(''));
  return out;
}

/**
 * The backward pass costs about twice the forward: one product for the
 * input's gradient, one for the weights'. A frozen module skips its weight
 * gradient; a frozen prefix (everything before the first trainable module)
 * also skips its input gradient, since nothing before it needs one. So,
 * with F(m) a module's forward cost:
 *
 *   saved = (sum over the frozen prefix of 2 F(m) + sum over other frozen modules of F(m)) / (2 * sum of F(m))
 *
 * F is the module's FLOPs where the graph's shapes give them, else its
 * parameter count as a proxy (exact for linear layers at a fixed token
 * count, rough for convolutions, whose cost also grows with the image).
 */
function backwardCost(root: ModelTreeNode, plan: FreezePlan): { saved: number; basis: 'flops' | 'params'; activationBytes?: number } {
  const leaves: { path: string; cost: number; frozen: boolean; activation?: number }[] = [];
  const haveFlops = hasFlops(root);
  const visit = (n: ModelTreeNode) => {
    const own = haveFlops ? flopsOf(n) : (n.params ?? 0);
    if (own > 0 || (n.children.length === 0 && n.outputShapes?.length)) {
      leaves.push({ path: n.path, cost: own, frozen: isFrozen(plan, n.path) || ownParamsFrozen(root, plan, n), activation: activationOf(n) });
    }
    n.children.forEach(visit);
  };
  visit(root);
  const total = leaves.reduce((s, l) => s + l.cost, 0);
  if (total === 0) return { saved: 0, basis: haveFlops ? 'flops' : 'params' };
  let saved = 0;
  let prefix = true;
  let activation = 0;
  let activationKnown = true;
  for (const l of leaves) {
    if (!l.frozen && l.cost > 0) prefix = false;
    if (l.frozen) saved += prefix ? 2 * l.cost : l.cost;
    if (prefix && l.frozen) {
      if (l.activation === undefined) activationKnown = false;
      else activation += l.activation;
    }
  }
  return { saved: saved / (2 * total), basis: haveFlops ? 'flops' : 'params', ...(haveFlops && activationKnown ? { activationBytes: activation } : {}) };
}

function ownParamsFrozen(root: ModelTreeNode, plan: FreezePlan, n: ModelTreeNode): boolean {
  const own = (n.paramNames ?? []).map((p) => (n.path === '' ? p : `${n.path}.${p}`));
  return own.length > 0 && own.every((p) => plan.frozen.includes(p) && isParamPath(root, p));
}

function hasFlops(root: ModelTreeNode): boolean {
  let any = false;
  const visit = (n: ModelTreeNode) => {
    if (flopsOf(n) > 0) any = true;
    else n.children.forEach(visit);
  };
  visit(root);
  return any;
}

/**
 * Forward FLOPs of a module's own weighted op, per sample, from the ONNX
 * graph's output shape and the module's parameter count: each weight does
 * one multiply-add (2 FLOPs) per output position. A Conv's positions are
 * its output's spatial size (NCHW); a Gemm's or MatMul's, every dimension
 * but the last (tokens).
 */
function flopsOf(n: ModelTreeNode): number {
  const shape = n.outputShapes?.[0];
  const op = n.ops?.find((o) => o === 'Conv' || o === 'ConvTranspose' || o === 'Gemm' || o === 'MatMul');
  if (!shape || !n.params || !op) return 0;
  const dims = shape.slice(1);
  if (dims.length === 0 || dims.some((d) => typeof d !== 'number')) return 0;
  const sizes = dims as number[];
  const positions = op.startsWith('Conv') ? sizes.slice(1).reduce((p, d) => p * d, 1) : sizes.slice(0, -1).reduce((p, d) => p * d, 1);
  return 2 * n.params * positions;
}

/** Bytes of a module's output per sample (fp32), from its first node's recorded shape. */
function activationOf(n: ModelTreeNode): number | undefined {
  const shape = n.outputShapes?.[n.outputShapes.length - 1];
  if (!shape) return undefined;
  const dims = shape.slice(1);
  return dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((p, d) => p * d, 1) * FP32 : undefined;
}

/**
 * Gradual unfreezing: at every `gradualEvery`-th epoch the last stage that is
 * still frozen unfreezes. The epochs and the stage paths, for a run of `epochs`.
 */
export function gradualSchedule(plan: FreezePlan, epochs: number): { epoch: number; paths: string[] }[] {
  const out: { epoch: number; paths: string[] }[] = [];
  if (plan.gradualEvery === null) return out;
  let frozen = [...plan.frozen];
  const frozenAt = (p: string) => isFrozen({ ...plan, frozen }, p);
  for (let epoch = plan.gradualEvery; epoch < epochs; epoch += plan.gradualEvery) {
    const next = [...plan.stages].reverse().find((s) => s.paths.some(frozenAt));
    if (!next) break;
    out.push({ epoch, paths: next.paths });
    frozen = frozen.filter((f) => !next.paths.some((p) => f === p || f.startsWith(`${p}.`)));
  }
  return out;
}
