/**
 * The module tree of a model: what `named_modules()` lists, with each
 * module's own parameter and buffer counts (as with `recurse=False`).
 *
 * Trees are immutable values: an update (a head replaced, a child appended)
 * copies the path from the root and shares everything else, so a snapshot
 * taken at one program point stays valid after later changes.
 */
export interface ModuleNode {
  /** The attribute name under the parent (`layer4`, `0`); '' for the root. */
  readonly name: string;
  /** The module's class name: `Conv2d`, `ResNet`, `Sequential`, a user class. */
  readonly cls: string;
  /** Numel of the module's own parameters; null when not known statically. */
  readonly params: number | null;
  /** Numel of the module's own buffers; null when not known statically. */
  readonly buffers: number | null;
  /** Names of the own parameters (`weight`, `bias`, `in_proj_weight`); undefined when not known. */
  readonly paramNames?: readonly string[];
  /** Numel of each own parameter, in `paramNames` order, where known (tied weights need the size of one). */
  readonly paramSizes?: readonly (number | null)[];
  /**
   * Own parameter numel that aliases a parameter listed earlier (tied
   * weights): part of `params`, as `parameters(recurse=False)` yields it, but
   * `model.parameters()` yields each tensor once, so totals leave it out.
   */
  readonly tied?: number;
  /** Constructor values torch keeps as attributes (`in_features`, `num_features`), where known: code reads them. */
  readonly attrs?: Readonly<Record<string, number>>;
  /** BatchNorm that tracks running statistics (they drift in train mode). */
  readonly runningStats?: boolean;
  /** Applies dropout in train mode (nn.Dropout with p > 0, attention or RNN dropout). */
  readonly dropout?: boolean;
  /**
   * Every own parameter has `requires_grad=False` as built: what a pretrained
   * torchvision detection builder leaves frozen (`trainable_backbone_layers`).
   * Absent means the builder leaves it trainable.
   */
  readonly frozen?: boolean;
  readonly children: readonly ModuleNode[];
  /** Children may exist that are not listed: built where the analysis could not follow. */
  readonly partial?: boolean;
}

export type ModelSource = 'catalog' | 'class' | 'onnx';

export function joinPath(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}.${b}`;
}

/** The node at a dotted path (`layer4.0.conv1`), or undefined. */
export function findNode(root: ModuleNode, path: string): ModuleNode | undefined {
  if (path === '') return root;
  let node: ModuleNode | undefined = root;
  for (const seg of path.split('.')) {
    node = node.children.find((c) => c.name === seg);
    if (!node) return undefined;
  }
  return node;
}

/**
 * A copy of `root` with `child` set at `path` (replacing what was there, or
 * appended after the existing children, as attribute assignment does).
 * Returns undefined when the parent of `path` is not in the tree.
 */
export function withChild(root: ModuleNode, path: string, child: ModuleNode | undefined): ModuleNode | undefined {
  const segs = path.split('.');
  const go = (node: ModuleNode, i: number): ModuleNode | undefined => {
    const seg = segs[i];
    const idx = node.children.findIndex((c) => c.name === seg);
    if (i === segs.length - 1) {
      const kids = [...node.children];
      if (child === undefined) {
        if (idx >= 0) kids.splice(idx, 1);
      } else if (idx >= 0) kids[idx] = { ...child, name: seg };
      else kids.push({ ...child, name: seg });
      return { ...node, children: kids };
    }
    if (idx < 0) return undefined;
    const inner = go(node.children[idx], i + 1);
    if (!inner) return undefined;
    const kids = [...node.children];
    kids[idx] = inner;
    return { ...node, children: kids };
  };
  return path === '' ? child && { ...child, name: root.name } : go(root, 0);
}

/** Every module in `named_modules()` order: the node, then its children depth first. */
export function walk(root: ModuleNode, prefix = ''): [string, ModuleNode][] {
  const out: [string, ModuleNode][] = [];
  const go = (n: ModuleNode, p: string) => {
    out.push([p, n]);
    for (const c of n.children) go(c, joinPath(p, c.name));
  };
  go(root, prefix);
  return out;
}

/**
 * What is derived from a tree and asked for at every keystroke (totals,
 * where BatchNorm and Dropout sit). Trees are immutable and the catalog
 * hands out the same objects each time, so this is computed once per tree.
 */
interface Derived {
  params: number | null;
  buffers: number | null;
  runningStats: string[];
  dropout: string[];
  /** No unknown count and no partial module anywhere. */
  complete: boolean;
}

const derivedCache = new WeakMap<ModuleNode, Derived>();

function derived(root: ModuleNode): Derived {
  let d = derivedCache.get(root);
  if (d) return d;
  let params: number | null = 0;
  let buffers: number | null = 0;
  let complete = true;
  const runningStats: string[] = [];
  const dropout: string[] = [];
  const go = (n: ModuleNode, p: string) => {
    if (n.partial) complete = false;
    if (n.params === null || n.partial || params === null) params = null;
    else params += n.params - (n.tied ?? 0);
    if (n.buffers === null || n.partial || buffers === null) buffers = null;
    else buffers += n.buffers;
    if (n.params === null || n.buffers === null) complete = false;
    if (n.runningStats) runningStats.push(p);
    if (n.dropout) dropout.push(p);
    for (const c of n.children) go(c, p === '' ? c.name : `${p}.${c.name}`);
  };
  go(root, '');
  d = { params, buffers, runningStats, dropout, complete };
  derivedCache.set(root, d);
  return d;
}

/** Totals of a subtree (each tensor once); null when any part is not known. */
export function subtreeParams(root: ModuleNode): number | null {
  return derived(root).params;
}

export function subtreeBuffers(root: ModuleNode): number | null {
  return derived(root).buffers;
}

/** Paths (relative to `root`) of BatchNorm modules with running statistics. */
export function runningStatsPaths(root: ModuleNode): readonly string[] {
  return derived(root).runningStats;
}

/** Paths (relative to `root`) of modules that apply dropout in train mode. */
export function dropoutPaths(root: ModuleNode): readonly string[] {
  return derived(root).dropout;
}

/** Every count known and no module partial. */
export function isComplete(root: ModuleNode): boolean {
  return derived(root).complete;
}

/**
 * The full names of every parameter (`layer4.0.conv1.weight`), as
 * `named_parameters()` gives them; undefined when any name is not known.
 */
export function parameterNames(root: ModuleNode): readonly string[] | undefined {
  if (namesCache.has(root)) return namesCache.get(root) ?? undefined;
  let out: string[] | null = [];
  for (const [path, n] of walk(root)) {
    if (n.partial || (n.params !== 0 && !n.paramNames)) {
      out = null;
      break;
    }
    for (const p of n.paramNames ?? []) out.push(joinPath(path, p));
  }
  namesCache.set(root, out);
  return out ?? undefined;
}

const namesCache = new WeakMap<ModuleNode, string[] | null>();

/** Paths of the modules for which `pred` holds. */
export function pathsWhere(root: ModuleNode, pred: (n: ModuleNode) => boolean): string[] {
  const out: string[] = [];
  for (const [path, n] of walk(root)) if (pred(n)) out.push(path);
  return out;
}

/**
 * What two program paths agree on: shared structure stays as it is, a count
 * that differs becomes null, and children present on one path only make the
 * parent partial.
 */
export function joinTrees(a: ModuleNode, b: ModuleNode): ModuleNode {
  if (a === b) return a;
  if (a.cls !== b.cls) return { name: a.name, cls: a.cls, params: null, buffers: null, children: [], partial: true };
  const names = new Set(b.children.map((c) => c.name));
  const kids: ModuleNode[] = [];
  let partial = a.partial || b.partial || a.children.length !== b.children.length;
  for (const c of a.children) {
    const other = b.children.find((x) => x.name === c.name);
    if (other) kids.push(joinTrees(c, other));
    else partial = true;
    names.delete(c.name);
  }
  if (names.size > 0) partial = true;
  const same = <T>(x: T, y: T) => (x === y ? x : null);
  return {
    ...a,
    params: same(a.params, b.params),
    buffers: same(a.buffers, b.buffers),
    paramNames: a.paramNames && b.paramNames && a.paramNames.join() === b.paramNames.join() ? a.paramNames : undefined,
    runningStats: a.runningStats || b.runningStats || undefined,
    dropout: a.dropout || b.dropout || undefined,
    children: kids,
    ...(partial ? { partial: true } : {}),
  };
}

/**
 * A size attribute torch keeps on a layer (`fc.in_features`): recorded for
 * layers built from arguments, and for a Linear with a bias also readable
 * from its parameter sizes (in_features = weight numel / bias numel).
 */
export function sizeAttribute(node: Pick<ModuleNode, 'cls' | 'attrs' | 'paramNames' | 'paramSizes'>, name: string): number | undefined {
  const recorded = node.attrs?.[name];
  if (recorded !== undefined) return recorded;
  if (node.cls !== 'Linear' || !node.paramNames || !node.paramSizes || (name !== 'in_features' && name !== 'out_features')) return undefined;
  const w = node.paramSizes[node.paramNames.indexOf('weight')];
  const b = node.paramSizes[node.paramNames.indexOf('bias')];
  if (typeof w !== 'number' || typeof b !== 'number' || b === 0) return undefined;
  return name === 'out_features' ? b : w / b;
}

/** `1234567` → `1,234,567` (toLocaleString is much slower, and this runs per hover line). */
export function formatCount(n: number): string {
  const s = String(Math.abs(n));
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return n < 0 ? `-${out}` : out;
}
