import type { Analysis } from '../analysis/analyze';
import type { Span } from '../analysis/facts';
import { countWhere, flagOf, percent } from '../models/counts';
import { formatCount, subtreeParams } from '../models/tree';
import { describeRegion, isDefinitely, modelName, optimizerCovers, optimizerEvents, regionsOf, type OptimizerEvent } from '../rules/timelineQueries';

/**
 * What the editor shows besides diagnostics: hover on a module expression
 * and a lens above each optimizer. Both read the same timeline the rules
 * read; nothing here knows about LSP.
 */

export interface HoverInfo {
  span: Span;
  markdown: string;
}

/** The part of an analysis that hover and CodeLens read; the language server keeps only this. */
export type InspectedAnalysis = Pick<Analysis, 'timeline'>;

export function hoverAt(analysis: InspectedAnalysis, unit: number, offset: number): HoverInfo | undefined {
  const tl = analysis.timeline;
  if (!tl) return undefined;
  let best: (typeof tl.observations extends Map<string, infer O> ? O : never) | undefined;
  for (const o of tl.observations.values()) {
    if (o.unit !== unit || offset < o.from || offset > o.to) continue;
    if (!best || o.to - o.from < best.to - best.from) best = o;
  }
  if (!best) return undefined;
  const name = best.path === '' ? modelName(tl, best.root) : `${modelName(tl, best.root)}.${best.path}`;
  const describe = (v: { flags: string; mode: string; counts?: string }) =>
    v.flags === 'unknown' ? 'unknown (a call FreezeLens does not follow received this model)' : `${v.flags}, ${v.mode} mode${v.counts ? `; ${v.counts}` : ''}`;
  const lines = best.visits.map(describe);
  const body = lines.length === 1 ? lines[0] : lines.map((l, i) => `${i + 1}. ${l}`).join('\n');
  return {
    span: { unit, from: best.from, to: best.to },
    markdown: lines.length === 1 ? `**\`${name}\`** here: ${body}` : `**\`${name}\`** here, as execution reaches it:\n\n${body}`,
  };
}

/**
 * Exact counts for an optimizer: the params it holds that require grad, of
 * all params of the models it touches. Undefined unless every model's
 * structure and every region's flags are known.
 */
function optimizerCounts(ev: OptimizerEvent): { trains: number; total: number } | undefined {
  const roots = new Set(ev.opt.groups.map((g) => g.set.root));
  let trains = 0;
  let total = 0;
  for (const root of roots) {
    const tree = ev.state.trees.get(root);
    const regions = ev.state.models.get(root);
    if (!tree || !regions) return undefined;
    const all = subtreeParams(tree);
    if (all === null) return undefined;
    total += all;
    const held = countWhere(tree, '', regions, (regionPath, region) => {
      if (!region) return null;
      const covered = optimizerCovers(ev.opt, root, regionPath, region);
      const flag = flagOf(region);
      if (covered === 'maybe' || flag === null) return null;
      return covered === 'yes' && flag;
    });
    if (held === null) return undefined;
    trains += held;
  }
  return total > 0 ? { trains, total } : undefined;
}

export interface Lens {
  span: Span;
  title: string;
}

/** "trains model.fc · skips model (all but fc), frozen" above each optimizer construction. */
export function optimizerLenses(analysis: InspectedAnalysis): Lens[] {
  const tl = analysis.timeline;
  if (!tl) return [];
  const lenses: Lens[] = [];
  for (const ev of optimizerEvents(tl)) {
    const trains: string[] = [];
    const frozen: string[] = [];
    let unknown = false;
    for (const [root, path, region] of regionsOf(ev.state)) {
      const covered = optimizerCovers(ev.opt, root, path, region);
      if (covered === 'maybe' || region.havoc) unknown = true;
      if (covered !== 'yes') continue;
      (isDefinitely(region.rg, false) ? frozen : trains).push(describeRegion(tl, ev.state, root, path).replace(/`/g, ''));
    }
    const total = trains.length + frozen.length;
    const counted = unknown ? undefined : optimizerCounts(ev);
    let title: string;
    if (unknown && total === 0) title = `${ev.opt.kind}: parameters not known here`;
    else {
      title = counted
        ? `${ev.opt.kind} trains ${formatCount(counted.trains)} of ${formatCount(counted.total)} params${percent(counted.trains, counted.total)}`
        : `${ev.opt.kind} trains ${trains.length} of ${total} part${total === 1 ? '' : 's'}`;
      if (trains.length > 0) title += `: ${trains.slice(0, 3).join(', ')}${trains.length > 3 ? ', …' : ''}`;
      if (frozen.length > 0) title += ` · holds frozen: ${frozen.slice(0, 2).join(', ')}${frozen.length > 2 ? ', …' : ''}`;
      if (unknown) title += ' · partly unknown';
    }
    lenses.push({ span: { unit: ev.site.unit, from: ev.site.node.from, to: ev.site.node.to }, title });
  }
  return lenses;
}
