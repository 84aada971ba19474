import { modelName, optimizerCovers, siteSpan, steps } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ009 module-replaced-after-optimizer
 *
 * An optimizer holds parameter tensors, not module attributes. Assigning a
 * new head (`model.fc = nn.Linear(...)`) after the optimizer was built
 * creates new tensors that no optimizer updates: the head never trains.
 */
export const FRZ009: Rule = {
  meta: {
    id: 'FRZ009',
    name: 'module-replaced-after-optimizer',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'A new module assigned after the optimizer was built is not in the optimizer and never trains.' },
    fixable: true,
    messages: {
      replaced:
        '`{{target}}` is replaced here, after {{optimizer}} was built: the optimizer still holds the old module\'s tensors, so the new one gets gradients and never changes. Build the optimizer after replacing the head, or add it with `optimizer.add_param_group(...)`.',
      relatedOptimizer: 'the optimizer is built here, before the replacement',
      relatedStep: 'steps here without the new module',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of tl.events) {
      if (ev.kind !== 'replace') continue;
      const idx = tl.events.indexOf(ev);
      const step = steps(tl).find((s) => {
        if (tl.events.indexOf(s) < idx) return false;
        const built = tl.events.findIndex((e) => e.kind === 'optimizer' && e.opt === s.opt);
        if (built > idx || !s.opt.groups.some((g) => g.set.root === ev.root)) return false;
        const region = s.state.region(ev.root, ev.path);
        return !region.havoc && region.rg.has(true) && region.rg.size === 1 && optimizerCovers(s.opt, ev.root, ev.path, region) === 'no';
      });
      if (!step) continue;
      const name = modelName(tl, ev.root);
      report({
        messageId: 'replaced',
        data: { target: `${name}.${ev.path}`, optimizer: `${step.opt.kind}(...)` },
        span: siteSpan(ev.site),
        related: [
          { span: siteSpan(step.opt.site), message: FRZ009.meta.messages.relatedOptimizer },
          { span: siteSpan(step.site), message: FRZ009.meta.messages.relatedStep },
        ],
      });
    }
  },
};
