import { coveringGroups, isDefinitely, regionsOf, stepsOf, type OptimizerEvent } from './timelineQueries';
import type { Timeline } from '../analysis/interp/timeline';
import type { OptimizerGroup } from '../analysis/interp/state';

/**
 * What FRZ003 and FRZ015 both need: at a training step, the groups that train
 * the pretrained backbone and the groups that train the new head.
 */
export interface SplitAtStep {
  backbone: OptimizerGroup[];
  head: OptimizerGroup[];
}

export function backboneAndHead(tl: Timeline, ev: OptimizerEvent): SplitAtStep | undefined {
  for (const step of stepsOf(tl, ev.opt)) {
    const backbone = new Set<OptimizerGroup>();
    const head = new Set<OptimizerGroup>();
    for (const [root, path, region] of regionsOf(step.state)) {
      if (region.havoc || !isDefinitely(region.rg, true)) continue;
      const info = tl.models.get(root);
      if (!info?.pretrained) continue;
      const groups = coveringGroups(ev.opt, root, path, region);
      if (groups.length === 0) continue;
      for (const g of groups) (region.pretrained ? backbone : head).add(g);
    }
    if (backbone.size > 0 && head.size > 0) return { backbone: [...backbone], head: [...head] };
  }
  return undefined;
}
