import { backboneAndHead } from './lrSplit';
import { optimizerEvents, siteSpan } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ015 inverted-lr-split
 *
 * Param groups whose learning rates are the wrong way round: the pretrained
 * backbone gets a higher rate than the freshly initialised head.
 */
export const FRZ015: Rule = {
  meta: {
    id: 'FRZ015',
    name: 'inverted-lr-split',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'The backbone group\'s learning rate is higher than the new head\'s.' },
    fixable: false,
    messages: {
      inverted:
        'The pretrained backbone group trains at lr={{backbone}}, higher than the new head\'s lr={{head}}. The split is inverted: the backbone should get the lower rate.',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of optimizerEvents(tl)) {
      const split = backboneAndHead(tl, ev);
      if (!split || split.backbone.some((g) => split.head.includes(g))) continue;
      const b = split.backbone.map((g) => g.lr);
      const h = split.head.map((g) => g.lr);
      if (b.some((x) => x === undefined) || h.some((x) => x === undefined)) continue;
      const minBackbone = Math.min(...(b as number[]));
      const maxHead = Math.max(...(h as number[]));
      if (!(minBackbone > maxHead)) continue;
      report({ messageId: 'inverted', data: { backbone: minBackbone, head: maxHead }, span: siteSpan(ev.site) });
    }
  },
};
