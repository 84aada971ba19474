/**
 * The torchvision architecture catalog: the exact module tree of every
 * classification, detection, segmentation and video builder of torchvision
 * 0.14, as `weights=None` builds it, as the default weights build it, and (for
 * detection and segmentation) with only a pretrained backbone.
 *
 * The data is generated from torchvision itself by scripts/gen-catalog.py into
 * server/data/torchvision-catalog.json (copied to dist/data/ by the build) and
 * read on first use. Trees are expanded on demand from a table of unique
 * subtrees; expanded nodes are frozen and shared between calls and between
 * architectures (a ResNet block is one object wherever it appears), which is
 * safe because trees are immutable values (see tree.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { joinPath, pathsWhere, type ModuleNode } from './tree';

const DATA_FILE = 'torchvision-catalog.json';

/** [cls, params (flat [nameIdx, numel, ...]), buffers, flags, children (flat [nameIdx, nodeIdx, ...]), tied]; trailing empties left off. */
type RawNode = [cls: number, params?: number[], buffers?: number, flags?: number, children?: number[], tied?: number];
/** numel of `path`'s own parameter `param` is `a * num_classes + b`. */
type RawFormula = [path: string, param: string, a: number, b: number];

interface RawEntry {
  /** c: classification, d: detection, s: segmentation, v: video. */
  t: 'c' | 'd' | 's' | 'v';
  /** Root of the `weights=None` tree (with `weights_backbone=None`). */
  r: number;
  /** Root of the `weights="DEFAULT"` tree, where it differs. */
  p?: number;
  /** Root of the pretrained-backbone tree, where it differs from `r`. */
  b?: number;
  /** Present where the builder takes `weights_backbone`: 1 when its default is not None. */
  bd?: 0 | 1;
  /** The builder's default num_classes. */
  c?: number;
  /** num_classes of the default weights. */
  k?: number;
  f?: RawFormula[];
  /** The formulas of the pretrained-backbone tree, where they differ from `f`. */
  bf?: RawFormula[];
  /** The default weights' published `meta["num_params"]`. */
  n?: number;
  /** The default weights: `ResNet50_Weights.IMAGENET1K_V2`. */
  w?: string;
}

interface RawCatalog {
  v: number;
  torch: string;
  torchvision: string;
  s: string[];
  n: RawNode[];
  m: Record<string, RawEntry>;
}

const RUNNING_STATS = 1;
const DROPOUT = 2;
const FROZEN = 4;

export type CatalogTask = 'classification' | 'detection' | 'segmentation' | 'video';

export interface CatalogOptions {
  /** The builder's `num_classes`; its default when undefined. */
  numClasses?: number;
  /**
   * Built with pretrained weights (`weights=...`, `pretrained=True`): the tree
   * the default weights give. torchvision then takes num_classes from the
   * weights and raises on any other value, so `numClasses` must be undefined
   * or equal to it.
   */
  pretrained?: boolean;
  /**
   * `weights=None` with a pretrained backbone (`weights_backbone=...`), for the
   * detection and segmentation builders that take one: FrozenBatchNorm2d and
   * frozen early layers in detection models. Ignored when `pretrained` is set.
   */
  pretrainedBackbone?: boolean;
}

export interface CatalogInfo {
  task: CatalogTask;
  /** The builder's default num_classes; undefined when nothing depends on it. */
  defaultNumClasses?: number;
  /** num_classes of the default weights (what `pretrained` trees have). */
  pretrainedNumClasses?: number;
  /** The default weights' published parameter count (`meta["num_params"]`). */
  publishedParams?: number;
  /** The default weights' name: `ResNet50_Weights.IMAGENET1K_V2`. */
  weights?: string;
  /** The builder takes `weights_backbone`. */
  takesBackboneWeights: boolean;
  /** A call without `weights_backbone` loads a pretrained backbone (its default is not None). */
  backboneByDefault: boolean;
  /** The default weights give a different tree than `weights=None`. */
  pretrainedDiffers: boolean;
}

interface Loaded {
  strings: readonly string[];
  nodes: readonly RawNode[];
  models: ReadonlyMap<string, RawEntry>;
  /** Expanded nodes without num_classes overrides, per table index, by attribute name. */
  shared: (Map<string, ModuleNode> | undefined)[];
  /** Frozen paramNames arrays per table index. */
  paramNames: (readonly string[] | undefined)[];
  torchvision: string;
}

let loaded: Loaded | undefined;
let loadError: string | undefined;

/** Where the data file may be, relative to this module's compiled location. */
function candidatePaths(): string[] {
  return [
    // esbuild bundles: dist/server/server.js, dist/cli/freezelens.js → dist/data/.
    path.join(__dirname, '..', 'data', DATA_FILE),
    // tsc output: out/server/src/models/catalog.js → server/data/.
    path.join(__dirname, '..', '..', '..', '..', 'server', 'data', DATA_FILE),
    // The sources run as they are: server/src/models/catalog.ts → server/data/.
    path.join(__dirname, '..', '..', 'data', DATA_FILE),
  ];
}

function load(): Loaded {
  if (loaded) return loaded;
  let raw: RawCatalog | undefined;
  const tried = candidatePaths();
  for (const file of tried) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    try {
      raw = JSON.parse(text) as RawCatalog;
      if (raw.v !== 1) throw new Error(`unknown format version ${String(raw.v)}`);
    } catch (e) {
      raw = undefined;
      loadError = `torchvision catalog ${file}: ${e instanceof Error ? e.message : String(e)}`;
    }
    break;
  }
  if (!raw && !loadError) loadError = `torchvision catalog not found (looked at ${tried.join(', ')})`;
  const data: RawCatalog = raw ?? { v: 1, torch: '', torchvision: '', s: [], n: [], m: {} };
  loaded = {
    strings: data.s,
    nodes: data.n,
    models: new Map(Object.entries(data.m)),
    shared: new Array<Map<string, ModuleNode> | undefined>(data.n.length),
    paramNames: new Array<readonly string[] | undefined>(data.n.length),
    torchvision: data.torchvision,
  };
  return loaded;
}

/** Parameter sizes that num_classes changes, by module path, and every path leading to them. */
interface Overrides {
  params: Map<string, Map<string, number>>;
  onPath: Set<string>;
}

function overridesFor(formulas: readonly RawFormula[], numClasses: number): Overrides {
  const params = new Map<string, Map<string, number>>();
  const onPath = new Set<string>(['']);
  for (const [p, name, a, b] of formulas) {
    let own = params.get(p);
    if (!own) params.set(p, (own = new Map()));
    own.set(name, a * numClasses + b);
    const segs = p === '' ? [] : p.split('.');
    for (let i = 1; i <= segs.length; i++) onPath.add(segs.slice(0, i).join('.'));
  }
  return { params, onPath };
}

const EMPTY: readonly string[] = Object.freeze([]);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function paramNamesOf(L: Loaded, idx: number): readonly string[] {
  let names = L.paramNames[idx];
  if (!names) {
    const ps = L.nodes[idx][1];
    if (!ps || ps.length === 0) names = EMPTY;
    else {
      const out: string[] = [];
      for (let i = 0; i < ps.length; i += 2) out.push(L.strings[ps[i]]);
      names = Object.freeze(out);
    }
    L.paramNames[idx] = names;
  }
  return names;
}

/** The node at table index `idx` under attribute `name`; `at` is its path, for overrides. */
function expand(L: Loaded, idx: number, name: string, ov: Overrides | undefined, at: string): ModuleNode {
  const fresh = ov !== undefined && ov.onPath.has(at);
  if (!fresh) {
    let byName = L.shared[idx];
    if (!byName) L.shared[idx] = byName = new Map();
    const hit = byName.get(name);
    if (hit) return hit;
  }
  const [cls, ps, buffers = 0, flags = 0, ch, tied = 0] = L.nodes[idx];
  const own = fresh ? ov.params.get(at) : undefined;
  let params = 0;
  const sizes: number[] = [];
  if (ps) {
    for (let i = 0; i < ps.length; i += 2) {
      const n = own?.get(L.strings[ps[i]]) ?? ps[i + 1];
      sizes.push(n);
      params += n;
    }
  }
  const children: ModuleNode[] = [];
  if (ch) {
    for (let i = 0; i < ch.length; i += 2) {
      const cn = L.strings[ch[i]];
      children.push(expand(L, ch[i + 1], cn, fresh ? ov : undefined, fresh ? joinPath(at, cn) : ''));
    }
  }
  const node: Mutable<ModuleNode> = { name, cls: L.strings[cls], params, buffers, paramNames: paramNamesOf(L, idx), paramSizes: Object.freeze(sizes), children: Object.freeze(children) };
  if (tied) node.tied = tied;
  if (flags & RUNNING_STATS) node.runningStats = true;
  if (flags & DROPOUT) node.dropout = true;
  if (flags & FROZEN) node.frozen = true;
  Object.freeze(node);
  if (!fresh) L.shared[idx]!.set(name, node);
  return node;
}

const TASKS: Record<RawEntry['t'], CatalogTask> = { c: 'classification', d: 'detection', s: 'segmentation', v: 'video' };

/** Every architecture name, as torchvision's builders are named (`resnet18`, `fasterrcnn_resnet50_fpn`). */
export function catalogNames(): string[] {
  return [...load().models.keys()];
}

export function hasCatalogModel(name: string): boolean {
  return load().models.has(name);
}

/**
 * The exact module tree `name(...)` builds, as `named_modules()` lists it,
 * with own parameter names and sizes, buffers, running-stats BatchNorms,
 * dropout and (for pretrained detection builders) frozen modules. Undefined
 * for an unknown name, or options torchvision would reject (a num_classes that
 * is not a non-negative integer, one that differs from the pretrained weights',
 * a pretrained backbone for a builder that takes none).
 */
export function catalogTree(name: string, opts: CatalogOptions = {}): ModuleNode | undefined {
  const L = load();
  const e = L.models.get(name);
  if (!e) return undefined;
  const nc = opts.numClasses;
  if (nc !== undefined && (!Number.isInteger(nc) || nc < 0)) return undefined;
  let root: number;
  let formulas: readonly RawFormula[] | undefined;
  if (opts.pretrained) {
    if (nc !== undefined && nc !== e.k) return undefined;
    return expand(L, e.p ?? e.r, '', undefined, '');
  } else if (opts.pretrainedBackbone) {
    if (e.bd === undefined) return undefined;
    root = e.b ?? e.r;
    formulas = e.bf ?? e.f;
  } else {
    root = e.r;
    formulas = e.f;
  }
  if (nc === undefined || nc === e.c) return expand(L, root, '', undefined, '');
  if (!formulas) return undefined;
  return expand(L, root, '', overridesFor(formulas, nc), '');
}

/** Paths of the modules whose own parameters the builder leaves frozen (`requires_grad=False`). */
export function catalogFrozenPaths(name: string, opts: CatalogOptions = {}): string[] | undefined {
  const tree = catalogTree(name, opts);
  return tree && pathsWhere(tree, (n) => n.frozen === true);
}

/** The default weights' published `meta["num_params"]`: the parameter count of the `pretrained` tree. */
export function catalogPublishedParams(name: string): number | undefined {
  return load().models.get(name)?.n;
}

export function catalogInfo(name: string): CatalogInfo | undefined {
  const e = load().models.get(name);
  if (!e) return undefined;
  return {
    task: TASKS[e.t],
    defaultNumClasses: e.c,
    pretrainedNumClasses: e.k,
    publishedParams: e.n,
    weights: e.w,
    takesBackboneWeights: e.bd !== undefined,
    backboneByDefault: e.bd === 1,
    pretrainedDiffers: e.p !== undefined,
  };
}

/** Why the catalog is empty (its data file missing or unreadable); undefined when it loaded. */
export function catalogLoadError(): string | undefined {
  load();
  return loadError;
}

