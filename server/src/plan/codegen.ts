import type { ModelTreeNode } from '../engine/models';
import { formatCount } from '../models/tree';
import { frozenBatchNorm, isFrozen, summarise, type FreezePlan } from './plan';
import { isParamPath, nodeAt, paramsAt, type Stage } from './stages';

/**
 * PyTorch code for a freeze plan, to paste after the model is built:
 * freezing by module path, the BatchNorm policy, an optimizer over the
 * trainable parameters with one param group per stage at the plan's
 * learning rates, and for gradual unfreezing an `unfreeze_for_epoch(epoch)`
 * to call at each epoch start.
 *
 * The code is written in the forms FreezeLens's own analysis follows (one
 * module per `unfreeze` call, comprehensions over one module's
 * parameters), so that the script it lands in has no findings about it.
 */

export interface CodeStyle {
  /** The variable that holds the model. */
  model: string;
  /** The variable the optimizer is assigned to. */
  optimizer: string;
  /** How the script spells torch.nn (`nn` after `import torch.nn as nn`, else `torch.nn`). */
  nn: string;
  /** How the script spells torch. */
  torch: string;
}

export const DEFAULT_STYLE: CodeStyle = { model: 'model', optimizer: 'optimizer', nn: 'nn', torch: 'torch' };

export interface GeneratedCode {
  /** The snippet, ending with a newline. */
  code: string;
  /** Import lines the snippet needs that a script may not have (`from torchvision.ops import FrozenBatchNorm2d`). */
  imports: string[];
}

const OPTIMIZER_CLASS: Record<FreezePlan['optimizer'], string> = { adamw: 'AdamW', adam: 'Adam', sgd: 'SGD' };

/**
 * `unfreezeFirst`: the script froze parts the plan trains, so the code
 * starts by letting everything train and then freezes what the plan says.
 */
export function generateCode(root: ModelTreeNode, plan: FreezePlan, style: CodeStyle = DEFAULT_STYLE, options: { unfreezeFirst?: boolean } = {}): GeneratedCode {
  const summary = summarise(root, plan);
  const error = summary.problems.find((p) => p.severity === 'error');
  if (error) throw new Error(error.message);
  const ref = (path: string) => pathExpression(style.model, path);
  const lines: string[] = [];
  const imports: string[] = [];
  const pct = summary.totalParams > 0 ? ((100 * summary.trainableParams) / summary.totalParams).toFixed(2) : '0.00';
  lines.push(`# FreezeLens plan (${plan.preset}): trains ${formatCount(summary.trainableParams)} of ${formatCount(summary.totalParams)} parameters (${pct}%).`);

  // 1. Freezing.
  if (options.unfreezeFirst) lines.push(`${style.model}.requires_grad_(True)  # the plan decides what trains, whatever was frozen above`);
  const frozenModules = plan.frozen.filter((p) => !isParamPath(root, p));
  const frozenParams = plan.frozen.filter((p) => isParamPath(root, p));
  if (plan.frozen.length > 0) {
    lines.push(...pyList('frozen_modules = ', frozenModules.map(ref)));
    lines.push('for module in frozen_modules:');
    lines.push('    module.requires_grad_(False)');
    for (const p of frozenParams) lines.push(`${ref(p)}.requires_grad_(False)`);
  }

  // 2. BatchNorm in the frozen parts.
  const frozenBn = frozenBatchNorm(root, plan);
  if (frozenBn.length > 0) {
    lines.push('');
    // Two blank lines before a top-level function, as PEP 8 and the formatters want.
    if (plan.bn !== 'train') lines.push('');
    if (plan.bn === 'train') {
      lines.push('# BatchNorm in the frozen parts keeps training (the "train" policy): its weights stay');
      lines.push('# trainable and its running statistics adapt to this data.');
      lines.push('for module in frozen_modules:');
      lines.push('    for m in module.modules():');
      lines.push(`        if isinstance(m, ${style.nn}.modules.batchnorm._BatchNorm):`);
      lines.push('            m.requires_grad_(True)');
    } else {
      const swapped = plan.bn === 'frozen' ? frozenBn.filter((p) => nodeAt(root, p)?.class === 'BatchNorm2d') : [];
      if (swapped.length > 0) {
        imports.push('from torchvision.ops import FrozenBatchNorm2d');
        lines.push('# Frozen BatchNorm2d becomes FrozenBatchNorm2d: fixed statistics and affine parameters,');
        lines.push('# whatever mode the model is in.');
        lines.push('def frozen_batchnorm(bn):');
        lines.push('    frozen = FrozenBatchNorm2d(bn.num_features, eps=bn.eps)');
        lines.push('    frozen.load_state_dict(bn.state_dict())');
        lines.push('    return frozen.to(bn.running_mean.device)');
        lines.push('');
        lines.push('');
        for (const p of swapped) lines.push(`${ref(p)} = frozen_batchnorm(${ref(p)})`);
      }
      if (swapped.length < frozenBn.length) {
        if (swapped.length > 0) lines.push('', '');
        lines.push('# Frozen BatchNorm stays in eval mode, so its running statistics stay the pretrained ones:');
        lines.push('# this hook runs before every forward pass and undoes model.train() for BatchNorm whose');
        lines.push('# parameters are frozen, so the training loop needs no change. Once unfrozen, it trains.');
        lines.push('def keep_frozen_bn_in_eval(bn, inputs):');
        lines.push('    if not any(p.requires_grad for p in bn.parameters()):');
        lines.push('        bn.eval()');
        lines.push('');
        lines.push('');
        lines.push('for module in frozen_modules:');
        lines.push('    for m in module.modules():');
        lines.push(`        if isinstance(m, ${style.nn}.modules.batchnorm._BatchNorm):`);
        lines.push('            m.register_forward_pre_hook(keep_frozen_bn_in_eval)');
      }
    }
  }

  // 3. The optimizer: trainable parameters only, one group per part, at the plan's learning rates.
  const groups = paramGroups(root, plan);
  lines.push('');
  const lrNote = plan.decay !== null ? `each stage at the LR of the next one times ${fmt(plan.decay)}` : plan.lrSplit !== null ? `the pretrained backbone at the head's LR / ${fmt(plan.lrSplit)}` : 'one learning rate';
  lines.push(`# Only trainable parameters reach the optimizer, ${lrNote}.`);
  lines.push(`${style.optimizer} = ${style.torch}.optim.${OPTIMIZER_CLASS[plan.optimizer]}(`);
  lines.push('    [');
  for (const g of groups) {
    const params = g.param ? `[${ref(g.path)}]` : `[p for p in ${ref(g.path)}.parameters() if p.requires_grad]`;
    lines.push(`        {"params": ${params}, "lr": ${fmt(g.lr)}},  # ${g.stage}`);
  }
  lines.push('    ],');
  lines.push(`    lr=${fmt(plan.lr)},${plan.optimizer === 'sgd' ? ' momentum=0.9,' : ''}`);
  lines.push(')');

  // 4. Gradual unfreezing.
  if (plan.gradualEvery !== null) {
    const schedule = unfreezeSchedule(root, plan);
    lines.push('');
    lines.push('');
    lines.push('def unfreeze(part, lr):');
    lines.push('    """Lets a frozen module train, in a param group of its own at `lr`."""');
    lines.push('    params = [p for p in part.parameters() if not p.requires_grad]');
    lines.push('    for p in params:');
    lines.push('        p.requires_grad_(True)');
    lines.push(`    ${style.optimizer}.add_param_group({"params": params, "lr": lr})`);
    lines.push('');
    lines.push('');
    lines.push('def unfreeze_for_epoch(epoch):');
    lines.push(`    """Call at the start of each epoch: every ${plan.gradualEvery} epochs the last frozen stage trains (gradual unfreezing, ULMFiT)."""`);
    schedule.forEach((step, i) => {
      lines.push(`    ${i === 0 ? 'if' : 'elif'} epoch == ${step.epoch}:  # ${step.stage}`);
      for (const part of step.parts) {
        if (isParamPath(root, part.path)) lines.push(`        ${ref(part.path)}.requires_grad_(True)`);
        else lines.push(`        unfreeze(${ref(part.path)}, lr=${fmt(part.lr)})`);
      }
      // A stage made only of parameters (a ViT's class token) goes in as one group.
      const params = step.parts.filter((p) => isParamPath(root, p.path));
      if (params.length > 0) lines.push(`        ${style.optimizer}.add_param_group({"params": [${params.map((p) => ref(p.path)).join(', ')}], "lr": ${fmt(params[0].lr)}})`);
    });
  }
  return { code: `${lines.join('\n')}\n`, imports };
}

interface Group {
  path: string;
  param: boolean;
  lr: number;
  stage: string;
}

/**
 * One group per trainable part: the head's modules at the plan's LR, each
 * stage's at its own (the backbone's divided by lrSplit, or decayed per
 * stage). A part that is wholly frozen gets no group; one partly frozen
 * (BatchNorm only) gets its trainable parameters.
 */
function paramGroups(root: ModelTreeNode, plan: FreezePlan): Group[] {
  const out: Group[] = [];
  const parts: { stage: Stage; lr: number }[] = [
    ...(plan.head ? [{ stage: plan.head, lr: plan.lr }] : []),
    ...[...plan.stages].reverse().map((stage, i) => ({ stage, lr: stageLr(plan, i + 1) })),
  ];
  const covered = new Set<string>();
  for (const { stage, lr } of parts) {
    for (const path of stage.paths) {
      covered.add(path);
      if (!trains(root, plan, path)) continue;
      out.push({ path, param: isParamPath(root, path), lr, stage: stage === plan.head ? 'head' : stage.name });
    }
  }
  // Parameters outside every stage (a model FreezeLens split only in part) train with the head.
  for (const path of uncovered(root, covered)) if (trains(root, plan, path)) out.push({ path, param: isParamPath(root, path), lr: plan.lr, stage: 'other' });
  return out;
}

/**
 * The LR of the parameters under a module path, as the generated param
 * groups give it: the head's, its stage's, or the head's for parts outside
 * every stage.
 */
export function lrAt(plan: Pick<FreezePlan, 'lr' | 'decay' | 'lrSplit' | 'stages' | 'head'>, path: string): number {
  const within = (p: string) => path === p || path.startsWith(`${p}.`);
  if (plan.head?.paths.some(within)) return plan.lr;
  const i = plan.stages.findIndex((s) => s.paths.some(within));
  return i < 0 ? plan.lr : stageLr(plan, plan.stages.length - i);
}

/** The LR of the stage `depth` stages before the head (the last stage is 1). */
export function stageLr(plan: Pick<FreezePlan, 'lr' | 'decay' | 'lrSplit'>, depth: number): number {
  if (plan.decay !== null) return plan.lr * plan.decay ** depth;
  if (plan.lrSplit !== null) return plan.lr / plan.lrSplit;
  return plan.lr;
}

/** Whether some parameter under `path` trains at the start: not frozen, or frozen BatchNorm the `train` policy keeps training. */
function trains(root: ModelTreeNode, plan: FreezePlan, path: string): boolean {
  if (paramsAt(root, path) === 0) return false;
  if (!isFrozen(plan, path)) return true;
  return plan.bn === 'train' && frozenBatchNorm(root, plan).some((b) => b === path || b.startsWith(`${path}.`) || path.startsWith(`${b}.`));
}

function uncovered(root: ModelTreeNode, covered: Set<string>): string[] {
  const out: string[] = [];
  const visit = (n: ModelTreeNode) => {
    if (covered.has(n.path)) return;
    for (const p of n.paramNames ?? []) {
      const path = n.path === '' ? p : `${n.path}.${p}`;
      if (!covered.has(path) && n.params) out.push(path);
    }
    if (n.paramNames === undefined && n.params) out.push(n.path);
    n.children.forEach(visit);
  };
  visit(root);
  return out;
}

/** Gradual unfreezing: the stages frozen at the start, last first, one every `gradualEvery` epochs. */
export function unfreezeSchedule(root: ModelTreeNode, plan: FreezePlan): { epoch: number; stage: string; parts: { path: string; lr: number }[] }[] {
  const out: { epoch: number; stage: string; parts: { path: string; lr: number }[] }[] = [];
  const every = plan.gradualEvery ?? 0;
  const stages = [...plan.stages].reverse();
  stages.forEach((stage, i) => {
    const frozen = stage.paths.filter((p) => isFrozen(plan, p) && paramsAt(root, p) > 0);
    if (frozen.length === 0) return;
    out.push({ epoch: every * (out.length + 1), stage: stage.name, parts: frozen.map((path) => ({ path, lr: stageLr(plan, i + 1) })) });
  });
  return out;
}

/** `name = [a, b]` on one line, or one item per line where that would pass 88 characters (black's width). */
function pyList(prefix: string, items: string[]): string[] {
  const one = `${prefix}[${items.join(', ')}]`;
  return one.length <= 88 ? [one] : [`${prefix}[`, ...items.map((i) => `    ${i},`), ']'];
}

/** `model.layer4`, `model.features[3]`, or `model.get_submodule("a.b-c")` where a name is not an identifier. */
export function pathExpression(model: string, path: string): string {
  if (path === '') return model;
  let out = model;
  for (const seg of path.split('.')) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_]\w*$/.test(seg) && !PY_KEYWORDS.has(seg)) out += `.${seg}`;
    else return `${model}.get_submodule(${JSON.stringify(path)})`;
  }
  return out;
}

const PY_KEYWORDS = new Set(['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield']);

/** A learning rate as Python writes it: 0.001 as 1e-3, 0.0001 as 1e-4, 0.05 as 0.05. */
export function fmt(x: number): string {
  if (x === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(x)));
  const mantissa = x / 10 ** exp;
  if (exp <= -3 || exp >= 5) {
    const m = Number(mantissa.toPrecision(4));
    return `${m}e${exp}`.replace(/^(-?\d+)\.0+e/, '$1e');
  }
  return String(Number(x.toPrecision(6)));
}
