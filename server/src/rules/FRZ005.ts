import { describeRegion, isDefinitely, optimizerCovers, optimizerKnown, regionsOf, siteSpan, steps } from './timelineQueries';
import type { Fix, Rule } from './types';
import type { Analysis } from '../analysis/analyze';
import type { OptimizerInfo, Site } from '../analysis/interp/state';
import { addParamGroupCode, flagTarget, insertLineAfter, optimizerNameAt } from './fixes';

/**
 * FRZ005 unfrozen-not-in-optimizer
 *
 * A filtered optimizer (`filter(lambda p: p.requires_grad, ...)`) snapshots
 * the trainable parameters when it is built. Parameters unfrozen later get
 * gradients but no optimizer updates them, unless they are added with
 * `add_param_group` or the optimizer is rebuilt.
 */
export const FRZ005: Rule = {
  meta: {
    id: 'FRZ005',
    name: 'unfrozen-not-in-optimizer',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'Parameters unfrozen after the optimizer was built, and never added to it, never train.' },
    fixable: true,
    messages: {
      notAdded:
        '{{regions}} is unfrozen here, but {{optimizer}} was built before, over the parameters trainable then, and it is never given these: they get gradients and never change. Add them with `optimizer.add_param_group(...)` or rebuild the optimizer.',
      relatedOptimizer: 'the optimizer is built here, without these parameters',
      relatedStep: 'steps here without them',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const seen = new Set<string>();
    for (const step of steps(tl)) {
      const opt = step.opt;
      if (!optimizerKnown(opt)) continue;
      const built = tl.events.findIndex((e) => e.kind === 'optimizer' && e.opt === opt);
      const ownsModel = (root: number) => opt.groups.some((g) => g.set.root === root);
      for (const [root, path, region] of regionsOf(step.state)) {
        if (!ownsModel(root) || region.havoc || !isDefinitely(region.rg, true) || !region.rgSite) continue;
        if (optimizerCovers(opt, root, path, region) !== 'no') continue;
        // The unfreeze must come after the optimizer was built, and be a flag write we saw.
        const unfreeze = tl.events.findIndex((e) => e.kind === 'setFlag' && e.value === true && e.site === region.rgSite);
        if (unfreeze < built) continue;
        const key = `${region.rgSite.unit}:${region.rgSite.node.from}`;
        if (seen.has(key)) continue;
        seen.add(key);
        report({
          messageId: 'notAdded',
          data: { regions: describeRegion(tl, step.state, root, path), optimizer: `${opt.kind}(...)` },
          span: siteSpan(region.rgSite),
          related: [
            { span: siteSpan(opt.site), message: FRZ005.meta.messages.relatedOptimizer },
            { span: siteSpan(step.site), message: FRZ005.meta.messages.relatedStep },
          ],
          fixes: addParamGroupFix(analysis, opt, region.rgSite),
        });
      }
    }
  },
};

/** `optimizer.add_param_group(...)` right after the unfreeze (after the loop, for a loop over parameters). */
function addParamGroupFix(analysis: Analysis, opt: OptimizerInfo, unfreeze: Site): Fix[] {
  const target = flagTarget(analysis, unfreeze);
  const name = optimizerNameAt(analysis, opt.site, unfreeze);
  if (!target || !name) return [];
  return [
    {
      title: `Add the unfrozen parameters to ${name} with add_param_group`,
      preferred: true,
      edits: [insertLineAfter(analysis, unfreeze.unit, target.after, addParamGroupCode(name, target.module))],
    },
  ];
}
