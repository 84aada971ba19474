import type { Region } from '../analysis/interp/state';
import { formatCount, joinPath, subtreeParams, type ModuleNode } from './tree';

/**
 * Parameter counts under a freeze state: which of a tree's parameters
 * require grad, given the interpreter's regions (a region's flags govern
 * every module below it down to the next region).
 */

/** The region that governs a module path: the deepest one at or above it. */
export function regionFor(regions: ReadonlyMap<string, Region>, path: string): Region | undefined {
  for (let p = path; ; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const r = regions.get(p);
    if (r) return r;
    if (p === '') return undefined;
  }
}

/** Whether a region's params require grad: null when it depends on the path taken or is unknown. */
export function flagOf(r: Region | undefined): boolean | null {
  if (!r) return true;
  if (r.havoc || r.rg.size !== 1) return null;
  return r.rg.has(true);
}

/** Params under `tree` (the module at `path`) that require grad; null when any part is unknown. */
export function trainableUnder(tree: ModuleNode, path: string, regions: ReadonlyMap<string, Region> | undefined): number | null {
  let total = 0;
  const go = (n: ModuleNode, p: string): boolean => {
    if (n.params === null || n.partial) return false;
    const own = n.params - (n.tied ?? 0);
    if (own > 0) {
      const flag = regions ? flagOf(regionFor(regions, p)) : true;
      if (flag === null) return false;
      if (flag) total += own;
    }
    return n.children.every((c) => go(c, joinPath(p, c.name)));
  };
  return go(tree, path) ? total : null;
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
