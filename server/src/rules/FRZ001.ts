import { coveringGroups, isDefinitely, describeRegion, optimizerCovers, optimizerEvents, regionsOf, siteSpan, stepsOf, optimizerLabel } from './timelineQueries';
import { isUnder } from '../analysis/interp/paramSet';
import { paramsArgument, sourceOf, spanOf } from './fixes';
import type { Fix, Rule } from './types';

/**
 * FRZ001 optimizer-includes-frozen
 *
 * An optimizer built over parameters that are frozen at that moment. PyTorch
 * skips a parameter whose .grad is None — weight decay and momentum
 * included — so this is harmless on its own (Information). It is a Warning
 * when the frozen parameters do hold gradients at a step, because then the
 * optimizer moves them. A frozen part that the script unfreezes later is
 * the gradual-unfreezing idiom: the optimizer is meant to hold it, so the
 * rule stays silent.
 */
export const FRZ001: Rule = {
  meta: {
    id: 'FRZ001',
    name: 'optimizer-includes-frozen',
    type: 'suggestion',
    defaultSeverity: 'information',
    docs: { description: 'The optimizer is built over frozen parameters; harmless while their grad is None, a bug once they hold gradients.' },
    fixable: true,
    messages: {
      harmless:
        '{{optimizer}} is built over frozen parameters of {{regions}}. They have no gradients, so the optimizer skips them (weight decay included) and this is harmless as written; filter to trainable parameters so a later change cannot silently train them.',
      harmful:
        '{{optimizer}} is built over frozen parameters of {{regions}}, and at the step on line {{stepLine}} they still hold gradients (zeroed, not None), so {{kind}} updates them: {{how}}.',
      unfrozenAtHeadLr:
        '{{optimizer}} holds the frozen {{regions}} in the same param group as the trainable head; when {{unfrozen}} is unfrozen on line {{line}} it trains at that group\'s learning rate{{lr}}, the head\'s, with no lower rate for the pretrained part. Give it its own param group (or add it with add_param_group at the unfreeze) with a lower lr.',
      relatedUnfreeze: 'unfrozen here, into the head\'s param group',
      relatedFreeze: 'frozen here',
      relatedStep: 'the optimizer steps here while the frozen parameters hold gradients',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    for (const ev of optimizerEvents(tl)) {
      const opt = ev.opt;
      if (opt.filtered) continue;
      const frozen: { root: number; path: string }[] = [];
      for (const [root, path, region] of regionsOf(ev.state)) {
        if (region.havoc || !isDefinitely(region.rg, false)) continue;
        if (optimizerCovers(opt, root, path, region) !== 'yes') continue;
        frozen.push({ root, path });
      }
      if (frozen.length === 0) continue;
      const later = stepsOf(tl, opt);
      if (later.length === 0) {
        // Never stepped here (a helper that only builds it): nothing to judge.
        continue;
      }
      // Gradual unfreezing relies on the optimizer holding the frozen part. That is right when the part has a
      // param group of its own; in the head's group it trains at the head's learning rate once unfrozen.
      const headGroups = new Set(
        [...regionsOf(ev.state)].filter(([, , r]) => !r.havoc && isDefinitely(r.rg, true)).flatMap(([root, path, r]) => coveringGroups(opt, root, path, r)),
      );
      let unfrozen: { root: number; path: string; step: (typeof later)[number] } | undefined;
      let anyUnfrozen = false;
      for (const s of later) {
        for (const [root, path, r] of regionsOf(s.state)) {
          if (r.havoc || !isDefinitely(r.rg, true) || !frozen.some((f) => f.root === root && isUnder(path, f.path))) continue;
          if (!isDefinitely(ev.state.region(root, path).rg, false)) continue;
          anyUnfrozen = true;
          if (!unfrozen && coveringGroups(opt, root, path, r).some((g) => headGroups.has(g))) unfrozen = { root, path, step: s };
        }
      }
      if (unfrozen) {
        const u = unfrozen;
        const site = u.step.state.region(u.root, u.path).rgSite;
        const lr = coveringGroups(opt, u.root, u.path, u.step.state.region(u.root, u.path))[0]?.lr;
        report({
          messageId: 'unfrozenAtHeadLr',
          severity: 'warning',
          data: {
            optimizer: optimizerLabel(opt),
            regions: frozen.map(({ root, path }) => describeRegion(tl, ev.state, root, path)).join(', '),
            unfrozen: describeRegion(tl, u.step.state, u.root, u.path),
            line: site ? analysis.program.units[site.unit].lines.positionAt(site.node.from).line + 1 : '?',
            lr: lr !== undefined ? ` (lr=${lr})` : '',
          },
          span: siteSpan(ev.site),
          related: site ? [{ span: siteSpan(site), message: FRZ001.meta.messages.relatedUnfreeze }] : [],
        });
        continue;
      }
      if (anyUnfrozen) continue;
      const harmfulStep = later.find(
        (s) =>
          // Frozen since the build, so the optimizer has no momentum or moments for them: only decay moves them.
          opt.decaysZeroGrad === 'yes' &&
          frozen.some(({ root, path }) => {
            const r = s.state.region(root, path);
            return isDefinitely(r.rg, false) && isDefinitely(r.grad, 'held') && optimizerCovers(opt, root, path, r) === 'yes';
          }),
      );
      const regions = frozen.map(({ root, path }) => describeRegion(tl, ev.state, root, path)).join(', ');
      const freezeSites = frozen.map(({ root, path }) => ev.state.region(root, path).rgSite).filter((s) => s !== undefined);
      const fixes = filterFix(analysis, ev.site);
      const related = freezeSites.slice(0, 3).map((s) => ({ span: siteSpan(s!), message: FRZ001.meta.messages.relatedFreeze }));
      if (harmfulStep) {
        const unit = analysis.program.units[harmfulStep.site.unit];
        report({
          messageId: 'harmful',
          severity: 'warning',
          data: {
            optimizer: optimizerLabel(opt),
            regions,
            kind: opt.kind,
            stepLine: unit.lines.positionAt(harmfulStep.site.node.from).line + 1,
            how: opt.kind === 'ASGD' ? "ASGD's decay term shrinks every weight it holds" : 'its weight decay shrinks the frozen weights at every step',
          },
          span: siteSpan(ev.site),
          related: [...related, { span: siteSpan(harmfulStep.site), message: FRZ001.meta.messages.relatedStep }],
          fixes,
        });
      } else {
        report({ messageId: 'harmless', data: { optimizer: optimizerLabel(opt), regions }, span: siteSpan(ev.site), related, fixes });
      }
    }
  },
};

/** `SGD(model.parameters(), ...)` -> `SGD(filter(lambda p: p.requires_grad, model.parameters()), ...)`; not for param-group lists. */
function filterFix(analysis: Parameters<Rule['check']>[0]['analysis'], site: Parameters<typeof paramsArgument>[1]): Fix[] {
  const arg = paramsArgument(analysis, site);
  if (!arg || arg.name === 'ArrayExpression' || arg.name === 'DictionaryExpression' || arg.name === 'TupleExpression') return [];
  return [
    {
      title: 'Only pass trainable parameters: filter(lambda p: p.requires_grad, ...)',
      preferred: true,
      edits: [{ span: spanOf(site.unit, arg), newText: `filter(lambda p: p.requires_grad, ${sourceOf(analysis, site.unit, arg)})` }],
    },
  ];
}
