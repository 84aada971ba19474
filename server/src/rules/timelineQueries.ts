import type { Span } from '../analysis/facts';
import { isUnder, type Tri } from '../analysis/interp/paramSet';
import { groupCovers, type MachineState, type OptimizerInfo, type Region, type Site } from '../analysis/interp/state';
import type { Timeline, TimelineEvent } from '../analysis/interp/timeline';

/**
 * Questions rules ask of the freeze-state timeline, so that each rule file
 * reads as its condition and message, not as bookkeeping.
 */

export type StepEvent = Extract<TimelineEvent, { kind: 'step' }>;
export type OptimizerEvent = Extract<TimelineEvent, { kind: 'optimizer' }>;
export type SetFlagEvent = Extract<TimelineEvent, { kind: 'setFlag' }>;

export function siteSpan(site: Site): Span {
  return { unit: site.unit, from: site.node.from, to: site.node.to };
}

export function steps(tl: Timeline): StepEvent[] {
  return tl.events.filter((e): e is StepEvent => e.kind === 'step');
}

export function optimizerEvents(tl: Timeline): OptimizerEvent[] {
  return tl.events.filter((e): e is OptimizerEvent => e.kind === 'optimizer');
}

/** Steps taken by one optimizer, in order. */
export function stepsOf(tl: Timeline, opt: OptimizerInfo): StepEvent[] {
  return steps(tl).filter((s) => s.opt === opt);
}

/** Whether any group of the optimizer holds the region's current tensors. */
export function optimizerCovers(opt: OptimizerInfo, root: number, path: string, region: Region): Tri {
  let result: Tri = 'no';
  for (const g of opt.groups) {
    if (g.set.root === -1) return 'maybe';
    if (g.set.root !== root) continue;
    const c = groupCovers(g, path, region);
    if (c === 'yes') return 'yes';
    if (c === 'maybe') result = 'maybe';
  }
  return result;
}

/** The groups that hold the region's current tensors. */
export function coveringGroups(opt: OptimizerInfo, root: number, path: string, region: Region) {
  return opt.groups.filter((g) => g.set.root === root && groupCovers(g, path, region) === 'yes');
}

/** Whether the optimizer can say anything reliable (no group of unknown parameters). */
export function optimizerKnown(opt: OptimizerInfo): boolean {
  return opt.groups.length > 0 && opt.groups.every((g) => g.set.root !== -1 && ![...g.covered.values()].some((c) => c.member === 'maybe'));
}

export function isDefinitely<T>(values: ReadonlySet<T>, v: T): boolean {
  return values.size === 1 && values.has(v);
}

/** Every (root, path, region) of a state that holds parameters. */
export function* regionsOf(state: MachineState): Generator<[number, string, Region]> {
  // A region without parameters (an nn.Identity head) has nothing to freeze, train or report.
  for (const [root, regions] of state.models) for (const [path, region] of regions) if (!region.empty) yield [root, path, region];
}

/**
 * Whether the region holds BatchNorm layers with running statistics (the
 * region's own subtree minus deeper regions): 'maybe' where the model's
 * structure is not known.
 */
export function regionHasBatchNorm(tl: Timeline, state: MachineState, root: number, path: string): Tri {
  if (tl.frozenBatchNorm.has(root)) return 'no';
  return regionHas(tl, tl.batchNormPaths.get(root), state, root, path, tl.models.get(root)?.hasBatchNorm);
}

export function regionHasDropout(tl: Timeline, state: MachineState, root: number, path: string): Tri {
  const paths = tl.dropoutPaths.get(root);
  if (paths?.has('*')) return 'maybe'; // a catalog family: where its Dropout sits is not known yet
  return regionHas(tl, paths, state, root, path, tl.models.get(root)?.hasDropout);
}

/**
 * The top-level children of common torchvision architectures. A region whose
 * first segment is not among them (a `features.` filter copied from a VGG
 * script onto a ResNet) selects no parameters, so it holds no BatchNorm either.
 */
function topLevelChildren(family: string | undefined): Set<string> | undefined {
  if (!family) return undefined;
  if (/^(resnet|resnext|wide_resnet)\d/.test(family)) return new Set(['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc']);
  if (/^(vgg|alexnet)/.test(family)) return new Set(['features', 'avgpool', 'classifier']);
  if (/^(densenet|mobilenet|efficientnet|mnasnet|squeezenet)/.test(family)) return new Set(['features', 'avgpool', 'classifier', 'layers']);
  return undefined;
}

/** Region names that never hold BatchNorm in the catalog families: heads, single convs, linears. */
const HEAD_LIKE = /(^|\.)(fc|classifier|head|heads|linear|logits|conv1|conv_stem|last_linear|lm_head|pooler)(\.\d+)?$/;

function regionHas(tl: Timeline, paths: Set<string> | undefined, state: MachineState, root: number, path: string, modelHas: boolean | undefined): Tri {
  if (!paths || paths.size === 0) return modelHas === false ? 'no' : modelHas === true ? 'maybe' : 'no';
  // A parameterless deeper region (the Dropout module itself) belongs to the region around it.
  const regions = [...state.regions(root)].filter(([, r]) => !r.empty).map(([p]) => p);
  const deeper = regions.filter((p) => p !== path && isUnder(p, path));
  if (paths.has('*')) {
    // A catalog family with BatchNorm throughout its feature extractor.
    if (HEAD_LIKE.test(path)) return 'no';
    if (path !== '' && topLevelChildren(tl.models.get(root)?.family)?.has(path.split('.')[0]) === false) return 'no';
    const mine = path === '' || !/(^|\.)\d+$/.test(path) ? 'yes' : 'maybe';
    return mine;
  }
  for (const p of paths) {
    if (!isUnder(p, path)) continue;
    if (deeper.some((d) => isUnder(p, d))) continue;
    return 'yes';
  }
  return 'no';
}

/** A readable name for a region: `model.layer4`, or `model` (all but `fc`) for a model's remainder. */
export function describeRegion(tl: Timeline, state: MachineState, root: number, path: string): string {
  const base = modelName(tl, root);
  const full = path === '' ? base : `${base}.${path}`;
  const own = state.region(root, path);
  // Only the deeper regions that differ in what trains are worth naming as exceptions.
  const deeper = [...state.regions(root)]
    .filter(([p, r]) => p !== path && isUnder(p, path) && !r.empty && !sameFlags(r.rg, own.rg))
    .map(([p]) => p)
    .filter((p, _, all) => !all.some((q) => q !== p && isUnder(p, q)));
  if (deeper.length === 0) return `\`${full}\``;
  const shown = deeper.slice(0, 3).map((d) => `\`${d.slice(path === '' ? 0 : path.length + 1)}\``);
  return `\`${full}\` (all but ${shown.join(', ')}${deeper.length > 3 ? ', …' : ''})`;
}

function sameFlags(a: ReadonlySet<boolean>, b: ReadonlySet<boolean>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** The variable a model was first assigned to; `self` for a workspace class built in place. */
export function modelName(tl: Timeline, root: number): string {
  const info = tl.models.get(root);
  if (info?.name) return info.name;
  return info?.label.endsWith('(...)') ? 'self' : (info?.label ?? 'model');
}

/** A short source excerpt for messages, e.g. `SGD(...)` from `torch.optim.SGD(model.parameters(), lr=0.01)`. */
export function optimizerLabel(opt: OptimizerInfo): string {
  return `${opt.kind}(...)`;
}
