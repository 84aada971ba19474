import { optimizerEvents, optimizerKnown, regionsOf, siteSpan } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ010 nothing-trainable
 *
 * An optimizer built when nothing it is given is trainable: filtered to
 * trainable parameters while everything is frozen, PyTorch raises
 * "optimizer got an empty parameter list".
 */
export const FRZ010: Rule = {
  meta: {
    id: 'FRZ010',
    name: 'nothing-trainable',
    type: 'problem',
    defaultSeverity: 'error',
    docs: { description: 'Everything is frozen when the optimizer is built or when training runs.' },
    fixable: false,
    messages: {
      emptyGroups:
        'Every param group given to {{optimizer}} is empty at this point: all their parameters are frozen. PyTorch accepts empty groups without an error, so this optimizer silently updates nothing. Unfreeze the part that should train (for example the new head) before building the optimizer.',
      emptyOptimizer:
        'Every parameter given to {{optimizer}} is frozen at this point, so the filtered parameter list is empty and PyTorch raises "optimizer got an empty parameter list". Unfreeze the part that should train (for example the new head) before building the optimizer.',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of optimizerEvents(tl)) {
      const opt = ev.opt;
      if (!opt.filtered || !optimizerKnown(opt)) continue;
      const roots = new Set(opt.groups.map((g) => g.set.root));
      const regions = [...regionsOf(ev.state)].filter(([root]) => roots.has(root));
      if (regions.some(([, , r]) => r.havoc)) continue;
      const anyMember = opt.groups.some((g) => [...g.covered.values()].some((c) => c.member !== 'no'));
      if (anyMember) continue;
      report({ messageId: opt.fromGroupDicts ? 'emptyGroups' : 'emptyOptimizer', data: { optimizer: `${opt.kind}(...)` }, span: siteSpan(ev.site) });
    }
  },
};
