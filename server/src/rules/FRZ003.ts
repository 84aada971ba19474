import { backboneAndHead } from './lrSplit';
import { modelName, optimizerEvents, siteSpan } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ003 missing-lr-split
 *
 * A pretrained backbone that trains alongside a freshly initialised head,
 * at the head's learning rate. The large early gradients from the random
 * head then overwrite the pretrained features; the usual remedy is a lower
 * learning rate for the backbone (discriminative learning rates).
 */
export const FRZ003: Rule = {
  meta: {
    id: 'FRZ003',
    name: 'missing-lr-split',
    type: 'suggestion',
    defaultSeverity: 'warning',
    docs: { description: 'An unfrozen pretrained backbone is trained at the new head\'s learning rate, with no param groups.' },
    fixable: true,
    messages: {
      noSplit:
        'The pretrained backbone of `{{model}}` trains at the same learning rate as the new head{{lr}}. Fine-tuning usually gives the backbone a lower rate (for example the head\'s /10) in its own param group, so the random head\'s early gradients do not wash out the pretrained features.',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of optimizerEvents(tl)) {
      const split = backboneAndHead(tl, ev);
      if (!split) continue;
      const shared = split.backbone.some((g) => split.head.includes(g));
      const lrs = (gs: typeof split.head) => new Set(gs.map((g) => g.lr));
      const b = lrs(split.backbone);
      const h = lrs(split.head);
      const sameLr = b.size === 1 && h.size === 1 && [...b][0] !== undefined && [...b][0] === [...h][0];
      if (!shared && !sameLr) continue;
      const root = ev.opt.groups.find((g) => split.backbone.includes(g))!.set.root;
      const lr = [...h][0];
      report({
        messageId: 'noSplit',
        data: { model: modelName(tl, root), lr: lr !== undefined ? ` (lr=${lr})` : '' },
        span: siteSpan(ev.site),
      });
    }
  },
};
