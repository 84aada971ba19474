import { siteSpan, type SetFlagEvent } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ017 ddp-freeze-after-wrap
 *
 * DistributedDataParallel records which parameters require grad when it is
 * constructed and builds its gradient buckets and reducer from that. Toggling
 * requires_grad afterwards leaves the reducer expecting gradients that never
 * come (an error, or a hang with find_unused_parameters=False) or skipping
 * parameters that now train.
 */
export const FRZ017: Rule = {
  meta: {
    id: 'FRZ017',
    name: 'ddp-freeze-after-wrap',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'requires_grad is toggled after DistributedDataParallel wrapping.' },
    fixable: false,
    messages: {
      afterWrap:
        'requires_grad is changed here after the model was wrapped in DistributedDataParallel, which fixed its set of trainable parameters when it was built. Freeze before wrapping, or rebuild the DDP wrapper after changing what trains.',
      relatedWrap: 'wrapped here',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of tl.events) {
      if (ev.kind !== 'setFlag') continue;
      const flag = ev as SetFlagEvent;
      if (!flag.before.ddpWrapped.has(flag.set.root) || flag.value === undefined) continue;
      const wrap = tl.events.find((e): e is Extract<typeof e, { kind: 'ddp' }> => e.kind === 'ddp' && e.root === flag.set.root);
      // A write that changes nothing (requires_grad_(True) on what already trains) is harmless.
      const changed = flag.before.membership(flag.set).some(([, r, m]) => m !== 'no' && !r.havoc && r.rg.has(!flag.value));
      if (!changed) continue;
      // With find_unused_parameters=True, DDP tolerates params that stop getting gradients: a freeze after the
      // wrap does not fail (an unfreeze still goes unsynchronised, since DDP never registered those params).
      if (flag.value === false && wrap?.findUnused !== false) continue;
      report({
        messageId: 'afterWrap',
        span: siteSpan(flag.site),
        related: wrap ? [{ span: siteSpan(wrap.site), message: FRZ017.meta.messages.relatedWrap }] : [],
      });
    }
  },
};
