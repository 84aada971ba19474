import { describeRegion, isDefinitely, regionHasDropout, regionsOf, siteSpan, steps } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ013 frozen-dropout-train-mode
 *
 * A frozen submodule that still applies Dropout in train mode: its features
 * are noisy although it does not learn. Sometimes intended (regularising the
 * head's input), hence Information.
 */
export const FRZ013: Rule = {
  meta: {
    id: 'FRZ013',
    name: 'frozen-dropout-train-mode',
    type: 'suggestion',
    defaultSeverity: 'information',
    docs: { description: 'A frozen submodule still applies Dropout in train mode.' },
    fixable: false,
    messages: {
      dropout:
        '{{regions}} is frozen but its Dropout layers run in train mode, so the features it feeds the trainable part are randomly masked. If the frozen part should act as a fixed feature extractor, put it in eval() after each train().',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const seen = new Set<string>();
    for (const step of steps(tl)) {
      for (const [root, path, region] of regionsOf(step.state)) {
        if (region.havoc || !isDefinitely(region.rg, false) || !isDefinitely(region.mode, 'train') || !region.modeSite) continue;
        if (regionHasDropout(tl, step.state, root, path) !== 'yes') continue;
        const key = `${region.modeSite.unit}:${region.modeSite.node.from}:${root}:${path}`;
        if (seen.has(key)) continue;
        seen.add(key);
        report({ messageId: 'dropout', data: { regions: describeRegion(tl, step.state, root, path) }, span: siteSpan(region.modeSite) });
      }
    }
  },
};
