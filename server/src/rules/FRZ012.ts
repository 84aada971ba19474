import { siteSpan } from './timelineQueries';
import { sourceOf, spanOf } from './fixes';
import type { Rule } from './types';

/**
 * FRZ012 track-running-stats-toggle
 *
 * Setting `track_running_stats = False` on an existing BatchNorm does not
 * make it use its stored statistics: in train mode it then normalises with
 * batch statistics and simply stops updating the running ones (in eval mode
 * the stored buffers are still used, as before). eval() or
 * FrozenBatchNorm2d is almost always what was meant.
 */
export const FRZ012: Rule = {
  meta: {
    id: 'FRZ012',
    name: 'track-running-stats-toggle',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: '`bn.track_running_stats = False` after construction does not freeze BatchNorm statistics.' },
    fixable: true,
    messages: {
      toggle:
        'Setting `track_running_stats = False` on an existing BatchNorm does not freeze it: in train mode it still normalises with the statistics of each batch, and only stops updating running_mean/running_var. To use the stored pretrained statistics, call `.eval()` on it (again after every `train()`) or convert it to FrozenBatchNorm2d.',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of tl.events) {
      if (ev.kind !== 'trackRunningStats') continue;
      // The statement is `X.track_running_stats = False`: its target's object is the BatchNorm.
      const target = ev.site.node.firstChild;
      const object = target?.name === 'MemberExpression' ? target.firstChild : null;
      const fixes = object
        ? [{ title: `Call ${sourceOf(analysis, ev.site.unit, object)}.eval() instead`, preferred: true, edits: [{ span: spanOf(ev.site.unit, ev.site.node), newText: `${sourceOf(analysis, ev.site.unit, object)}.eval()` }] }]
        : [];
      report({ messageId: 'toggle', span: siteSpan(ev.site), fixes });
    }
  },
};
