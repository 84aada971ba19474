import { isDefinitely, modelName, optimizerEvents, optimizerKnown, regionsOf, siteSpan } from './timelineQueries';
import type { TimelineEvent } from '../analysis/interp/timeline';
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
      nothingAtBackward:
        'After this, nothing in {{models}} requires grad, and it is trained again: the backward() on line {{line}} raises "element 0 of tensors does not require grad and does not have a grad_fn". Freeze only the part that should stay fixed.',
      relatedBackward: 'the backward that fails',
      emptyOptimizer:
        'Every parameter given to {{optimizer}} is frozen at this point, so the filtered parameter list is empty and PyTorch raises "optimizer got an empty parameter list". Unfreeze the part that should train (for example the new head) before building the optimizer.',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const raising = new Set<TimelineEvent>();
    for (const ev of optimizerEvents(tl)) {
      const opt = ev.opt;
      if (!opt.filtered || !optimizerKnown(opt)) continue;
      const roots = new Set(opt.groups.map((g) => g.set.root));
      const regions = [...regionsOf(ev.state)].filter(([root]) => roots.has(root));
      if (regions.some(([, , r]) => r.havoc)) continue;
      // A region without parameters (a path the model does not have) adds nothing to the list.
      const anyMember = opt.groups.some((g) => [...g.covered].some(([path, c]) => c.member !== 'no' && !ev.state.models.get(g.set.root)?.get(path)?.empty));
      if (anyMember) continue;
      report({ messageId: opt.fromGroupDicts ? 'emptyGroups' : 'emptyOptimizer', data: { optimizer: `${opt.kind}(...)` }, span: siteSpan(ev.site) });
      if (!opt.fromGroupDicts) raising.add(ev);
    }
    trainingTime(analysis, report, raising);
  },
};

/**
 * The training-time half: a freeze after which every model that feeds the
 * next backward() is entirely frozen. The loss then has no grad_fn and
 * backward() raises. Reported at the freeze that took the last trainable part.
 */
/** `raising`: optimizers already reported as raising on an empty list; the program never gets past them. */
function trainingTime(analysis: Parameters<Rule['check']>[0]['analysis'], report: Parameters<Rule['check']>[0]['report'], raising: ReadonlySet<TimelineEvent>): void {
  const tl = analysis.timeline!;
  const seen = new Set<string>();
  tl.events.forEach((ev, i) => {
    if (ev.kind !== 'setFlag' || ev.value !== false) return;
    const nextBackward = tl.events.findIndex((e, j) => j > i && e.kind === 'backward');
    if (nextBackward < 0) return;
    const backward = tl.events[nextBackward] as Extract<TimelineEvent, { kind: 'backward' }>;
    if (tl.events.slice(i + 1, nextBackward).some((e) => raising.has(e))) return;
    // The models run with gradients between the freeze and that backward.
    const forwards = tl.events.slice(i + 1, nextBackward).filter((e): e is Extract<TimelineEvent, { kind: 'forward' }> => e.kind === 'forward' && !e.noGrad);
    const roots = new Set(forwards.map((f) => f.root));
    if (roots.size === 0 || !roots.has(ev.set.root)) return;
    const frozen = [...roots].every((root) => [...backward.state.regions(root).values()].every((r) => r.empty || (!r.havoc && isDefinitely(r.rg, false))));
    if (!frozen) return;
    // This freeze took the last trainable part: something trained just before it.
    if (![...roots].some((root) => [...ev.before.regions(root).values()].some((r) => !r.empty && r.rg.has(true)))) return;
    const key = `${ev.site.unit}:${ev.site.node.from}`;
    if (seen.has(key)) return;
    seen.add(key);
    const unit = analysis.program.units[backward.site.unit];
    report({
      messageId: 'nothingAtBackward',
      data: { models: [...roots].map((r) => `\`${modelName(tl, r)}\``).join(', '), line: unit.lines.positionAt(backward.site.node.from).line + 1 },
      span: siteSpan(ev.site),
      related: [{ span: siteSpan(backward.site), message: FRZ010.meta.messages.relatedBackward }],
    });
  });
}
