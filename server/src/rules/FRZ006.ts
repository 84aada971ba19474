import { describeRegion, isDefinitely, optimizerCovers, regionsOf, siteSpan, steps } from './timelineQueries';
import { callArgs } from '../python/syntax';
import { flagTarget, insertLineAfter, spanOf } from './fixes';
import type { Site } from '../analysis/interp/state';
import type { Fix, Rule, TextEdit } from './types';

/**
 * FRZ006 stale-gradient-update
 *
 * Setting requires_grad=False does not clear .grad. Parameters frozen after
 * they received gradients, still held by an optimizer whose grads are
 * zeroed rather than set to None, keep being updated: momentum, Adam's
 * moments and weight decay all act on a zero gradient tensor.
 */
export const FRZ006: Rule = {
  meta: {
    id: 'FRZ006',
    name: 'stale-gradient-update',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'Parameters frozen after they got gradients keep moving: momentum and weight decay act on zeroed (not None) gradients.' },
    fixable: true,
    messages: {
      stale:
        '{{regions}} is frozen here after it already received gradients, and it is still in {{optimizer}}. Its .grad is zeroed rather than set to None{{why}}, so {{kind}} keeps moving the "frozen" weights through momentum/weight decay at the step on line {{stepLine}}. Use `zero_grad(set_to_none=True)`, or set `p.grad = None` when freezing.',
      relatedStep: 'the frozen weights still move at this step',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const seen = new Set<string>();
    const explicitNotNone = tl.events.some((e) => e.kind === 'zeroGrad' && e.setToNone === 'no' && !e.defaulted);
    for (const step of steps(tl)) {
      const opt = step.opt;
      if (opt.movesZeroGrad !== 'yes') continue;
      for (const [root, path, region] of regionsOf(step.state)) {
        if (region.havoc || !isDefinitely(region.rg, false) || !isDefinitely(region.grad, 'held') || !region.rgSite) continue;
        if (optimizerCovers(opt, root, path, region) !== 'yes') continue;
        // Frozen after gradients existed: the freeze came after some backward.
        const freezeAt = tl.events.findIndex((e) => e.kind === 'setFlag' && e.site === region.rgSite);
        if (!tl.events.slice(0, freezeAt).some((e) => e.kind === 'backward')) continue;
        // An optimizer built after the freeze has no momentum for these params; its weight decay alone is FRZ001's case.
        const builtAt = tl.events.findIndex((e) => e.kind === 'optimizer' && e.opt === opt);
        if (builtAt > freezeAt) continue;
        const key = `${region.rgSite.unit}:${region.rgSite.node.from}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const v = tl.torchVersion;
        const why = explicitNotNone ? ' (zero_grad(set_to_none=False))' : v.major < 2 ? ` (zero_grad() defaults to set_to_none=False in torch ${v.major}.${v.minor}, ${v.source})` : '';
        report({
          messageId: 'stale',
          data: {
            regions: describeRegion(tl, step.state, root, path),
            optimizer: `${opt.kind}(...)`,
            kind: opt.kind,
            why,
            stepLine: analysis.program.units[step.site.unit].lines.positionAt(step.site.node.from).line + 1,
          },
          span: siteSpan(region.rgSite),
          related: [{ span: siteSpan(step.site), message: FRZ006.meta.messages.relatedStep }],
          fixes: [...setToNoneFix(analysis, tl), ...clearGradFix(analysis, region.rgSite)],
        });
      }
    }
  },
};

/** Every zero_grad() that keeps zeroed gradients becomes zero_grad(set_to_none=True). */
function setToNoneFix(analysis: Parameters<Rule['check']>[0]['analysis'], tl: NonNullable<Parameters<Rule['check']>[0]['analysis']['timeline']>): Fix[] {
  const edits: TextEdit[] = [];
  const done = new Set<number>();
  for (const e of tl.events) {
    if (e.kind !== 'zeroGrad' || e.setToNone !== 'no' || done.has(e.site.node.from)) continue;
    done.add(e.site.node.from);
    const argList = e.site.node.lastChild;
    if (argList?.name !== 'ArgList') continue;
    const text = analysis.program.units[e.site.unit].text;
    const args = callArgs(text, argList);
    const existing = args.keyword.get('set_to_none') ?? args.positional[0];
    if (existing) edits.push({ span: spanOf(e.site.unit, existing), newText: 'True' });
    else edits.push({ span: { unit: e.site.unit, from: argList.from + 1, to: argList.to - 1 }, newText: 'set_to_none=True' });
  }
  return edits.length > 0 ? [{ title: 'Use zero_grad(set_to_none=True) so frozen parameters have no gradient', preferred: true, edits }] : [];
}

/** Drop the frozen parameters' gradients where they are frozen: `p.grad = None`. */
function clearGradFix(analysis: Parameters<Rule['check']>[0]['analysis'], freeze: Site): Fix[] {
  const target = flagTarget(analysis, freeze);
  if (!target) return [];
  const u = analysis.program.units[freeze.unit];
  const edit = target.param
    ? insertLineAfter(analysis, freeze.unit, target.stmt, `${target.param}.grad = None`)
    : (() => {
        const indent = /^[ \t]*/.exec(u.lines.lineText(u.lines.positionAt(target.stmt.from).line))![0];
        const step = /^\t/.test(indent) ? '\t' : '    ';
        return insertLineAfter(analysis, freeze.unit, target.stmt, `for p in ${target.module}.parameters():\n${indent}${step}p.grad = None`);
      })();
  return [{ title: 'Clear the gradients of the parameters frozen here', preferred: false, edits: [edit] }];
}
