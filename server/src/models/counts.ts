import { isUnder } from '../analysis/interp/paramSet';
import type { Region } from '../analysis/interp/state';
import { formatCount, joinPath, subtreeParams, type ModuleNode } from './tree';

/**
 * Parameter counts under a freeze state: which of a tree's parameters
 * require grad, given the interpreter's regions. A region governs every
 * module and parameter below its path down to the next deeper region; a
 * region can also be a single parameter (`fc.bias`).
 */

/** The region that governs a path, and its own path: the deepest one at or above it. */
export function regionAt(regions: ReadonlyMap<string, Region>, path: string): { path: string; region: Region } | undefined {
  for (let p = path; ; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const r = regions.get(p);
    if (r) return { path: p, region: r };
    if (p === '') return undefined;
  }
}

export function regionFor(regions: ReadonlyMap<string, Region>, path: string): Region | undefined {
  return regionAt(regions, path)?.region;
}

/** Whether a region's params require grad: null when it depends on the path taken or is unknown. */
export function flagOf(r: Region | undefined): boolean | null {
  if (!r) return true;
  if (r.havoc || r.rg.size !== 1) return null;
  return r.rg.has(true);
}

/**
 * The number of parameters under `tree` (the module at `path`) whose
 * governing region `pick` accepts; null when any count is unknown or `pick`
 * cannot say. Subtrees without a deeper region are counted from their
 * cached totals, so this costs the number of regions, not of modules.
 */
export function countWhere(
  tree: ModuleNode,
  path: string,
  regions: ReadonlyMap<string, Region>,
  pick: (regionPath: string, region: Region | undefined) => boolean | null,
): number | null {
  const deeper: string[] = [];
  for (const p of regions.keys()) if (p !== path && isUnder(p, path)) deeper.push(p);
  const governing = (p: string) => {
    const at = regionAt(regions, p);
    return pick(at?.path ?? '', at?.region);
  };
  let total = 0;
  const go = (n: ModuleNode, p: string): boolean => {
    if (!deeper.some((d) => d !== p && isUnder(d, p))) {
      const sub = subtreeParams(n);
      const flag = governing(p);
      if (sub === null || flag === null) return sub === 0;
      if (flag) total += sub;
      return true;
    }
    if (n.params === null || n.partial) return false;
    // Own parameters, one by one where a region names a single parameter (`model.fc.bias.requires_grad = ...`).
    const own = n.params - (n.tied ?? 0);
    if (own > 0) {
      const names = n.paramNames;
      const sizes = n.paramSizes;
      if (names && sizes && names.some((name) => regions.has(joinPath(p, name))) && !n.tied) {
        for (let i = 0; i < names.length; i++) {
          const size = sizes[i];
          const flag = governing(joinPath(p, names[i]));
          if (size === null || flag === null) return false;
          if (flag) total += size;
        }
      } else {
        const flag = governing(p);
        if (flag === null) return false;
        if (flag) total += own;
      }
    }
    return n.children.every((c) => go(c, joinPath(p, c.name)));
  };
  return go(tree, path) ? total : null;
}

/** Params under `tree` (the module at `path`) that require grad; null when any part is unknown. */
export function trainableUnder(tree: ModuleNode, path: string, regions: ReadonlyMap<string, Region> | undefined): number | null {
  if (!regions) return subtreeParams(tree);
  return countWhere(tree, path, regions, (_, r) => flagOf(r));
}

/** "trains 5,130 of 11,181,642 params (0.05%)" for the module `tree` at `path`. */
export function trainsSummary(tree: ModuleNode, path: string, regions: ReadonlyMap<string, Region> | undefined): string | undefined {
  const total = subtreeParams(tree);
  if (total === null) return undefined;
  const t = trainableUnder(tree, path, regions);
  if (t === null) return `${formatCount(total)} params; which of them train is not known here`;
  return `trains ${formatCount(t)} of ${formatCount(total)} params${percent(t, total)}`;
}

export function percent(part: number, total: number): string {
  if (total === 0) return '';
  const p = (100 * part) / total;
  // Two decimals, but never "0.00%" or "100.00%" for a part that is neither nothing nor everything.
  const shown = p > 0 && p < 0.01 ? '<0.01' : p < 100 && p > 99.99 ? '>99.99' : p.toFixed(2);
  return ` (${shown}%)`;
}
