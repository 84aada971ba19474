import type { MachineState, Region, Site } from '../analysis/interp/state';
import type { TimelineEvent } from '../analysis/interp/timeline';
import type { SetFlagEvent } from './timelineQueries';
import { describeRegion, isDefinitely, regionsOf, siteSpan } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ008 freeze-undone
 *
 * A freeze followed, before any training step, by a write that re-enables
 * requires_grad on everything it froze: the freeze has no effect at all.
 * Unfreezing only part of it (the usual "freeze all, then unfreeze the
 * head") is fine and stays silent.
 */
export const FRZ008: Rule = {
  meta: {
    id: 'FRZ008',
    name: 'freeze-undone',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'A later loop re-enables requires_grad before any training step, so the freeze has no effect.' },
    fixable: false,
    messages: {
      undone:
        'This re-enables requires_grad on everything frozen on line {{freezeLine}} ({{regions}}) before any training step, so that freeze has no effect and the whole part trains.',
      relatedFreeze: 'the freeze that is undone',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const flags = tl.events.filter((e): e is SetFlagEvent => e.kind === 'setFlag');
    for (const unfreeze of flags) {
      if (unfreeze.value !== true) continue;
      // Per unfreeze, read once for every freeze it is compared with (a long script has
      // hundreds of both, and every state holds every model's regions).
      let frozenBySite: Map<Site | undefined, [number, string, Region][]> | undefined;
      let stillFrozenSites: Set<Site | undefined> | undefined;
      let firstStep: TimelineEvent | undefined | null = null;
      for (const freeze of flags) {
        if (freeze === unfreeze || freeze.value !== false || freeze.stepsBefore !== unfreeze.stepsBefore) continue;
        // What `freeze` froze and still holds, right before the unfreeze.
        frozenBySite ??= frozenRegionsBySite(unfreeze.before);
        const frozen = frozenBySite.get(freeze.site) ?? [];
        if (frozen.length === 0) continue;
        if (!frozen.every(([root, path]) => isDefinitely(unfreeze.after.region(root, path).rg, true))) continue;
        // Everything the freeze touched must be undone, not just a head carved out of it.
        stillFrozenSites ??= new Set([...regionsOf(unfreeze.after)].filter(([, , r]) => r.rg.has(false)).map(([, , r]) => r.rgSite));
        if (stillFrozenSites.has(freeze.site)) continue;
        // And still undone when training starts: frozen again before the first step is fine.
        if (firstStep === null) firstStep = tl.events.slice(tl.events.indexOf(unfreeze)).find((e) => e.kind === 'step');
        const step = firstStep;
        if (step?.kind === 'step' && !frozen.every(([root, path]) => isDefinitely(step.state.region(root, path).rg, true))) continue;
        const unit = analysis.program.units[freeze.site.unit];
        report({
          messageId: 'undone',
          data: {
            freezeLine: unit.lines.positionAt(freeze.site.node.from).line + 1,
            regions: frozen.map(([root, path]) => describeRegion(tl, unfreeze.before, root, path)).join(', '),
          },
          span: siteSpan(unfreeze.site),
          related: [{ span: siteSpan(freeze.site), message: FRZ008.meta.messages.relatedFreeze }],
        });
      }
    }
  },
};

/** The regions of a state that are certainly frozen (and not havoc), by the statement that froze them, in state order. */
function frozenRegionsBySite(state: MachineState): Map<Site | undefined, [number, string, Region][]> {
  const bySite = new Map<Site | undefined, [number, string, Region][]>();
  for (const entry of regionsOf(state)) {
    const r = entry[2];
    if (r.havoc || !isDefinitely(r.rg, false)) continue;
    const list = bySite.get(r.rgSite);
    if (list) list.push(entry);
    else bySite.set(r.rgSite, [entry]);
  }
  return bySite;
}
