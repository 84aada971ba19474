import type { SyntaxNode } from '@lezer/common';
import { findNode, joinTrees, parameterNames, type ModuleNode } from '../../models/tree';
import { and, evalPredicate, isUnder, predicateOnNames, predicatePaths, type NamePredicate, type ParamSet, type Tri } from './paramSet';

/** A place in the program: unit index and syntax node. */
export interface Site {
  unit: number;
  node: SyntaxNode;
}

/** What a model object is, as far as its construction shows. */
export interface ModelInfo {
  id: number;
  /** Source text of the construction, for messages: `models.resnet18(weights=None)`. */
  label: string;
  site: Site;
  /** Built from pretrained weights (weights=..., pretrained=True, from_pretrained). */
  pretrained: boolean;
  /** Known to contain BatchNorm with running stats / Dropout somewhere; undefined = unknown. */
  hasBatchNorm?: boolean;
  hasDropout?: boolean;
  /** Catalog architecture (`resnet18`, `vit_b_16`), when built from torchvision or timm. */
  family?: string;
  /** The variable it was first assigned to, for messages: `model`. */
  name?: string;
  /** The tree came from a bound model file (an ONNX export) rather than from the code. */
  treeSource?: 'onnx';
  /** Where this object was attached into another model (`model.fc = head`). */
  attachedTo?: { root: number; path: string };
}

/** Everything FreezeLens tracks about one region of one model. */
export interface Region {
  /*
   * The four sets are never changed in place (assign a new Set instead):
   * copies of a region share them, which keeps copy-on-write cheap.
   */
  /** Possible values of requires_grad for the region's params. */
  rg: ReadonlySet<boolean>;
  /** Possible gradient states: none (grad is None) or held (a tensor, zeros included). */
  grad: ReadonlySet<'none' | 'held'>;
  /** train/eval of every module in the region; bnEval: BatchNorm put in eval on its own. */
  mode: ReadonlySet<'train' | 'eval'>;
  bnEval: ReadonlySet<boolean>;
  /** Identity of the parameter tensors: a replaced module gets new ones. */
  gen: number;
  pretrained: boolean;
  /** Last statement that set requires_grad, for messages. */
  rgSite?: Site;
  modeSite?: Site;
  /** Nothing reliable is known: an unknown function received the model. */
  havoc: boolean;
  /** Holds no parameters at all (nn.Identity, activations, pooling): nothing to freeze or train. */
  empty?: boolean;
}

export interface OptimizerGroup {
  set: ParamSet;
  lr?: number;
  site: Site;
  /** Snapshot of coverage per region path, taken when the group was added. */
  covered: Map<string, { member: Tri; gen: number }>;
}

export interface OptimizerInfo {
  id: number;
  kind: string;
  site: Site;
  groups: OptimizerGroup[];
  /** Whether stepping moves params whose grad is a zero tensor (momentum, weight decay, Adam state). */
  movesZeroGrad: Tri;
  /** Whether stepping moves such params even without earlier state: weight decay, ASGD. */
  decaysZeroGrad: Tri;
  /** Built from param-group dicts (`[{"params": ...}]`), which may be empty without an error. */
  fromGroupDicts?: boolean;
  lr?: number;
  filtered: boolean;
}

let nextGen = 1;
export function freshGen(): number {
  return nextGen++;
}

/** The sets are read-only (see Region), so a copy shares them. */
function cloneRegion(r: Region): Region {
  return { ...r };
}

function joinSets<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): Set<T> {
  return new Set([...a, ...b]);
}

/** `joinSets` for a region's read-only sets: the same set when the join adds nothing to `a`. */
function joinFlags<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): ReadonlySet<T> {
  if (a === b) return a;
  for (const x of b) if (!a.has(x)) return joinSets(a, b);
  return a;
}

function joinRegion(a: Region, b: Region): Region {
  return {
    rg: joinFlags(a.rg, b.rg),
    grad: joinFlags(a.grad, b.grad),
    mode: joinFlags(a.mode, b.mode),
    bnEval: joinFlags(a.bnEval, b.bnEval),
    gen: a.gen === b.gen ? a.gen : -1,
    // Pretrained on some path (weights loaded when a checkpoint file exists) is what the author means.
    pretrained: a.pretrained || b.pretrained,
    empty: a.empty && b.empty,
    rgSite: a.rgSite ?? b.rgSite,
    modeSite: a.modeSite ?? b.modeSite,
    havoc: a.havoc || b.havoc,
  };
}

/**
 * The abstract machine state at one program point: for every model, its
 * regions keyed by path, each region standing for its subtree minus deeper
 * regions. States are copied at branches and joined where paths meet.
 */
/** Parameter names per governing region, per tree and set of region paths (see governedNames); null: names not known. */
const governedCache = new WeakMap<ModuleNode, Map<string, Map<string, string[]> | null>>();

/** At most this many regions are created to follow one name filter (see MachineState.splitBy). */
const MAX_SPLITS = 64;

export class MachineState {
  /**
   * Regions per model. Inner maps and their regions are shared between
   * clones (copy on write): `owned` lists the models this state may mutate
   * in place; any other is copied first. Cloning is then cheap enough to
   * snapshot the state at every event.
   */
  models = new Map<number, Map<string, Region>>();
  private owned = new Set<number>();
  noGradDepth = 0;
  ddpWrapped = new Set<number>();
  /**
   * The module tree of each model whose structure is known, as it stands at
   * this point (head replacements change it). Trees are immutable, so
   * states share them freely.
   */
  trees = new Map<number, ModuleNode>();

  clone(): MachineState {
    const s = new MachineState();
    s.models = new Map(this.models);
    s.trees = new Map(this.trees);
    // Both sides now share every inner map; neither may write to them in place.
    this.owned.clear();
    s.noGradDepth = this.noGradDepth;
    s.ddpWrapped = new Set(this.ddpWrapped);
    return s;
  }

  /** Takes over another state's contents (after a call returns on several paths). */
  assign(other: MachineState): void {
    this.models = other.models;
    this.owned = new Set();
    other.owned.clear();
    this.noGradDepth = other.noGradDepth;
    this.ddpWrapped = other.ddpWrapped;
    this.trees = other.trees;
  }

  join(other: MachineState): MachineState {
    const s = new MachineState();
    const ids = new Set([...this.models.keys(), ...other.models.keys()]);
    for (const id of ids) {
      const a = this.models.get(id);
      const b = other.models.get(id);
      if (!a || !b || a === b) {
        s.models.set(id, (a ?? b)!);
        continue;
      }
      const paths = new Set([...a.keys(), ...b.keys()]);
      const m = new Map<string, Region>();
      for (const p of paths) m.set(p, joinRegion(regionAt(a, p), regionAt(b, p)));
      s.models.set(id, m);
      s.owned.add(id);
    }
    this.owned.clear();
    other.owned.clear();
    s.noGradDepth = Math.min(this.noGradDepth, other.noGradDepth);
    s.ddpWrapped = joinSets(this.ddpWrapped, other.ddpWrapped);
    for (const id of new Set([...this.trees.keys(), ...other.trees.keys()])) {
      const a = this.trees.get(id);
      const b = other.trees.get(id);
      // A model built on one path only, or changed differently on two, is known only where both agree.
      const t = a && b ? joinTrees(a, b) : a ?? b;
      if (t) s.trees.set(id, a && b ? t : { ...t, partial: true });
    }
    return s;
  }

  addModel(id: number, pretrained: boolean): void {
    this.models.set(
      id,
      new Map([['', { rg: new Set([true]), grad: new Set(['none']), mode: new Set(['train']), bnEval: new Set([false]), gen: freshGen(), pretrained, havoc: false }]]),
    );
    this.owned.add(id);
  }

  /** Read-only view of a model's regions. */
  regions(root: number): ReadonlyMap<string, Region> {
    return this.models.get(root) ?? this.writable(root);
  }

  /** A model's regions, safe to change in place. */
  writable(root: number): Map<string, Region> {
    let m = this.models.get(root);
    if (!m) {
      this.addModel(root, false);
      return this.models.get(root)!;
    }
    if (!this.owned.has(root)) {
      const copy = new Map<string, Region>();
      for (const [k, v] of m) copy.set(k, cloneRegion(v));
      m = copy;
      this.models.set(root, m);
      this.owned.add(root);
    }
    return m;
  }

  dropModel(root: number): void {
    this.models.delete(root);
    this.owned.delete(root);
  }

  /** Makes `path` a region of its own (copying what it inherits), so writes can address it exactly. */
  ensureRegion(root: number, path: string): Region {
    const existing = this.models.get(root)?.get(path);
    if (existing && this.owned.has(root)) return existing;
    const m = this.writable(root);
    let r = m.get(path);
    if (!r) {
      r = cloneRegion(regionAt(m, path));
      // A path the known model does not have (a typo in a name filter) holds no parameters.
      const tree = path === '' ? undefined : this.trees.get(root);
      const names = tree && parameterNames(tree);
      if (names && !names.some((n) => isUnder(n, path))) r.empty = true;
      m.set(path, r);
    }
    return r;
  }

  region(root: number, path: string): Region {
    return regionAt(this.regions(root), path);
  }

  /** Regions at or below `path`. */
  regionsUnder(root: number, path: string): [string, Region][] {
    this.ensureRegion(root, path);
    return [...this.regions(root)].filter(([p]) => isUnder(p, path));
  }

  /** Membership of each region in a parameter set, splitting regions the set names. */
  membership(set: ParamSet): [string, Region, Tri][] {
    return this.members(set, true);
  }

  /** `membership`, leaving out the regions outside the set unless `all`. */
  private members(set: ParamSet, all: boolean): [string, Region, Tri][] {
    const extra = predicatePaths(set.predicate);
    const have = this.models.get(set.root);
    if (set.prefixes.some((p) => !have?.has(p)) || extra.some((p) => !have?.has(p))) {
      for (const p of set.prefixes) this.ensureRegion(set.root, p);
      for (const p of extra) this.ensureRegion(set.root, p);
    }
    // Over the whole model's named_parameters(), a filter is decided on the real names where the structure is known:
    // the regions it splits are split along the modules (and parameters) it selects.
    let names = set.predicate && set.prefixes.length === 1 && set.prefixes[0] === '' ? this.governedNames(set.root, this.regions(set.root)) : undefined;
    if (names && set.predicate && this.splitBy(set.root, set.predicate, names)) names = this.governedNames(set.root, this.regions(set.root));
    const regions = this.regions(set.root);
    const known = set.predicate ? new Set(regions.keys()) : undefined;
    const out: [string, Region, Tri][] = [];
    for (const [path, region] of regions) {
      let m: Tri = 'no';
      for (const p of set.prefixes) {
        if (isUnder(path, p)) {
          m = 'yes';
          break;
        }
      }
      if (m !== 'no' && set.predicate) m = and(m, (names && predicateOnNames(set.predicate, names.get(path) ?? [])) ?? evalPredicate(set.predicate, path, known!));
      if (m !== 'no' && set.onlyTrainable) m = and(m, triOf(region.rg, true));
      if (m !== 'no' && set.onlyFrozen) m = and(m, triOf(region.rg, false));
      if (all || m !== 'no') out.push([path, region, m]);
    }
    return out;
  }

  /**
   * The full parameter names each region governs (under its path, not under
   * a deeper region); undefined when the model's names are not all known.
   */
  private governedNames(root: number, regions: ReadonlyMap<string, Region>): Map<string, string[]> | undefined {
    const tree = this.trees.get(root);
    if (!tree) return undefined;
    // The same tree and region paths come back at every member query of a loop: computed once per pair.
    const key = [...regions.keys()].join('\u0000');
    let byRegions = governedCache.get(tree);
    const cached = byRegions?.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const all = parameterNames(tree);
    if (!byRegions) governedCache.set(tree, (byRegions = new Map()));
    if (!all) {
      byRegions.set(key, null);
      return undefined;
    }
    const paths = [...regions.keys()].sort((a, b) => b.length - a.length);
    const out = new Map<string, string[]>();
    for (const name of all) {
      const owner = paths.find((p) => isUnder(name, p));
      if (owner === undefined) continue;
      const list = out.get(owner);
      if (list) list.push(name);
      else out.set(owner, [name]);
    }
    if (byRegions.size > 64) byRegions.clear();
    byRegions.set(key, out);
    return out;
  }

  /**
   * Splits each region a name filter selects only partly into regions it
   * selects wholly or not at all: the largest submodules (or single
   * parameters) on which the filter agrees. Returns whether it split any.
   * A filter that would need more than MAX_SPLITS new regions (`'bias' in
   * name` over a whole network) leaves the region as it is: 'maybe'.
   */
  private splitBy(root: number, predicate: NamePredicate, governed: Map<string, string[]>): boolean {
    const tree = this.trees.get(root);
    if (!tree) return false;
    let split = false;
    for (const [regionPath, names] of governed) {
      if (predicateOnNames(predicate, names) !== 'maybe') continue;
      const node = findNode(tree, regionPath);
      if (!node) continue;
      const governedSet = new Set(names);
      const points: string[] = [];
      const visit = (n: ModuleNode, path: string): boolean => {
        const under = names.filter((x) => isUnder(x, path));
        if (under.length === 0) return true;
        const verdict = predicateOnNames(predicate, under);
        if (verdict === undefined) return false;
        if (verdict !== 'maybe') {
          if (path !== regionPath) points.push(path);
          return true;
        }
        for (const p of n.paramNames ?? []) {
          const full = path === '' ? p : `${path}.${p}`;
          if (governedSet.has(full)) points.push(full);
        }
        return n.children.every((c) => visit(c, path === '' ? c.name : `${path}.${c.name}`)) && points.length <= MAX_SPLITS;
      };
      if (!visit(node, regionPath) || points.length > MAX_SPLITS) continue;
      for (const p of points) this.ensureRegion(root, p);
      split ||= points.length > 0;
    }
    return split;
  }

  /** Applies `write` to the regions of a set: definitely where members, as a join where maybe. */
  update(set: ParamSet, write: (r: Region) => void): void {
    const members = this.members(set, false);
    if (members.length === 0) return;
    const m = this.writable(set.root);
    for (const [path, , member] of members) {
      const region = m.get(path)!;
      if (member === 'yes') write(region);
      else {
        const copy = cloneRegion(region);
        write(copy);
        m.set(path, joinRegion(region, copy));
      }
    }
  }

  /** An unknown function received the model: anything may have happened to it. */
  havoc(root: number): void {
    for (const r of this.writable(root).values()) {
      r.havoc = true;
      r.rg = new Set([true, false]);
      r.mode = new Set(['train', 'eval']);
      r.bnEval = new Set([true, false]);
    }
  }
}

function regionAt(m: ReadonlyMap<string, Region>, path: string): Region {
  for (let p = path; ; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const r = m.get(p);
    if (r) return r;
    if (p === '') break;
  }
  return m.get('')!;
}

/** Whether a set of possible values is exactly {v}, excludes v, or mixes. */
export function triOf<T>(values: ReadonlySet<T>, v: T): Tri {
  if (values.size === 1 && values.has(v)) return 'yes';
  return values.has(v) ? 'maybe' : 'no';
}

/** Snapshot of which regions an optimizer group holds, taken at construction time. */
export function snapshotCoverage(state: MachineState, set: ParamSet): Map<string, { member: Tri; gen: number }> {
  const covered = new Map<string, { member: Tri; gen: number }>();
  for (const [path, region, m] of state.membership(set)) covered.set(path, { member: m, gen: region.gen });
  return covered;
}

/** Whether an optimizer group covers a region now: the snapshot of it (or its ancestor) with the same tensors. */
export function groupCovers(group: OptimizerGroup, path: string, region: Region): Tri {
  for (let p = path; ; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const c = group.covered.get(p);
    if (c) {
      if (c.member === 'no') return 'no';
      if (region.gen === -1) return 'maybe'; // replaced on some paths only
      return c.gen === region.gen ? c.member : 'no'; // a replaced module's new tensors were never added
    }
    if (p === '') return 'no';
  }
}
