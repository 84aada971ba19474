/**
 * Parameter sets and the regions of a model they cover.
 *
 * Without the model's full structure we cannot list its parameters, but the
 * program itself names the parts it cares about: `model.layer4`, `'fc' not in
 * n`, `model.backbone.parameters()`. Every such path becomes a region, and a
 * region is a module's subtree minus the deeper regions. Each set of
 * parameters is then a yes/no/maybe answer per region.
 */

export type Tri = 'yes' | 'no' | 'maybe';

/** A predicate over a parameter's name relative to its model, from `if` tests in loops. */
export type NamePredicate =
  | { op: 'startswith' | 'endswith' | 'contains' | 'equals'; value: string }
  | { op: 'not'; arg: NamePredicate }
  | { op: 'and' | 'or'; args: NamePredicate[] }
  | { op: 'unknown' };

export interface ParamSet {
  /** Id of the model object (see state.ts). */
  root: number;
  /** Union of subtrees, as dotted paths relative to the model; '' is the whole model. */
  prefixes: string[];
  predicate?: NamePredicate;
  /**
   * `filter(lambda p: p.requires_grad, ...)` and friends: only the params
   * whose flag is True when the set is consumed (an optimizer snapshots it).
   */
  onlyTrainable?: boolean;
  /** The opposite test, `if not p.requires_grad:`: only the params frozen when consumed. */
  onlyFrozen?: boolean;
}

export function isUnder(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(prefix + '.');
}

/** Paths that a predicate mentions and that should become regions of their own. */
export function predicatePaths(p: NamePredicate | undefined): string[] {
  if (!p) return [];
  switch (p.op) {
    case 'startswith':
    case 'equals':
      return [trimDots(p.value)].filter(isPathLike);
    case 'contains':
      return [trimDots(p.value)].filter(isPathLike);
    case 'not':
      return predicatePaths(p.arg);
    case 'and':
    case 'or':
      return p.args.flatMap(predicatePaths);
    default:
      return [];
  }
}

function trimDots(s: string): string {
  return s.replace(/^\.+|\.+$/g, '').replace(/\.(weight|bias)$/, '');
}

function isPathLike(s: string): boolean {
  return /^[A-Za-z_][\w]*(\.[\w]+)*$/.test(s) && s !== 'weight' && s !== 'bias';
}

/**
 * Evaluates a name predicate on a region. `regionPath` is the region's root
 * path; `childPaths` the deeper regions cut out of it; `knownPaths` every
 * region of the model, used to decide substring tests: a test for `'fc'`
 * means the region named fc, and no other region is assumed to contain it.
 */
export function evalPredicate(p: NamePredicate, regionPath: string, knownPaths: ReadonlySet<string>): Tri {
  switch (p.op) {
    case 'not':
      return not(evalPredicate(p.arg, regionPath, knownPaths));
    case 'and':
      return p.args.map((a) => evalPredicate(a, regionPath, knownPaths)).reduce(and, 'yes');
    case 'or':
      return p.args.map((a) => evalPredicate(a, regionPath, knownPaths)).reduce(or, 'no');
    case 'unknown':
      return 'maybe';
    case 'startswith': {
      const path = trimDots(p.value);
      if (p.value === '') return 'yes';
      // Names look like "layer4.0.conv1.weight": a prefix naming a region selects exactly that region.
      if (isPathLike(path) && knownPaths.has(path)) return isUnder(regionPath, path) ? 'yes' : 'no';
      return regionPath !== '' && (regionPath + '.').startsWith(p.value) ? 'yes' : 'maybe';
    }
    case 'equals':
      return 'maybe';
    case 'endswith':
      return 'maybe';
    case 'contains': {
      const path = trimDots(p.value);
      if (isPathLike(path) && knownPaths.has(path)) return isUnder(regionPath, path) ? 'yes' : 'no';
      if (regionPath.split('.').includes(p.value) || regionPath.includes(p.value)) return 'yes';
      return 'maybe';
    }
  }
}

/** A predicate on one concrete parameter name; undefined where it has an unknown part. */
export function nameMatches(p: NamePredicate, name: string): boolean | undefined {
  switch (p.op) {
    case 'not': {
      const v = nameMatches(p.arg, name);
      return v === undefined ? undefined : !v;
    }
    case 'and':
    case 'or': {
      let unknown = false;
      for (const a of p.args) {
        const v = nameMatches(a, name);
        if (v === undefined) unknown = true;
        else if (p.op === 'and' && !v) return false;
        else if (p.op === 'or' && v) return true;
      }
      return unknown ? undefined : p.op === 'and';
    }
    case 'unknown':
      return undefined;
    case 'startswith':
      return name.startsWith(p.value);
    case 'endswith':
      return name.endsWith(p.value);
    case 'contains':
      return name.includes(p.value);
    case 'equals':
      return name === p.value;
  }
}

/**
 * A predicate over the parameters a region governs, when their names are
 * known: 'yes' or 'no' when it holds for all or none of them, 'maybe' when
 * it splits them, undefined when there are none or it has an unknown part
 * (then the path-based answer stands).
 */
export function predicateOnNames(p: NamePredicate, names: readonly string[]): Tri | undefined {
  if (names.length === 0) return undefined;
  let hits = 0;
  for (const n of names) {
    const v = nameMatches(p, n);
    if (v === undefined) return undefined;
    if (v) hits++;
  }
  return hits === 0 ? 'no' : hits === names.length ? 'yes' : 'maybe';
}

export function not(t: Tri): Tri {
  return t === 'yes' ? 'no' : t === 'no' ? 'yes' : 'maybe';
}
export function and(a: Tri, b: Tri): Tri {
  return a === 'no' || b === 'no' ? 'no' : a === 'yes' && b === 'yes' ? 'yes' : 'maybe';
}
export function or(a: Tri, b: Tri): Tri {
  return a === 'yes' || b === 'yes' ? 'yes' : a === 'no' && b === 'no' ? 'no' : 'maybe';
}
