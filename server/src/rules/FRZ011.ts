import { describeRegion, isDefinitely, optimizerCovers, regionsOf, siteSpan, steps } from './timelineQueries';
import type { Fix, Rule } from './types';
import type { Analysis } from '../analysis/analyze';
import type { Site } from '../analysis/interp/state';
import { enclosingStatement } from '../python/syntax';
import { insertLineAfter, isSimpleModuleExpression, sourceOf } from './fixes';

/**
 * FRZ011 eval-as-freeze
 *
 * `module.eval()` changes how BatchNorm and Dropout behave; it does not
 * stop gradients. A submodule put in eval mode whose parameters still
 * require grad and are in the optimizer keeps training.
 */
export const FRZ011: Rule = {
  meta: {
    id: 'FRZ011',
    name: 'eval-as-freeze',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: '.eval() used as if it froze a module whose params still require grad and are in the optimizer.' },
    fixable: true,
    messages: {
      evalOnly:
        '{{regions}} is put in eval mode here, but eval() only changes BatchNorm/Dropout behaviour: its parameters still require grad and {{optimizer}} keeps updating them. If it should be frozen, also call `.requires_grad_(False)` on it.',
      relatedStep: 'still updated at this step',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const everFrozen = (root: number, path: string) =>
      tl.events.some((e) => e.kind === 'setFlag' && e.value === false && e.set.root === root && e.set.prefixes.some((p) => p === '' || path === p || path.startsWith(p + '.') || p.startsWith(path + '.') || path === ''));
    const seen = new Set<string>();
    for (const step of steps(tl)) {
      for (const [root, path, region] of regionsOf(step.state)) {
        if (region.havoc || !isDefinitely(region.mode, 'eval') || !isDefinitely(region.rg, true) || !isDefinitely(region.grad, 'held') || !region.modeSite) continue;
        const modeEvent = tl.events.find((e) => e.kind === 'mode' && e.site === region.modeSite);
        if (!modeEvent || modeEvent.kind !== 'mode' || modeEvent.batchNormOnly) continue;
        // eval() on a whole model can be a deliberate choice (train with fixed BN statistics); it reads as a
        // freeze only when it names a part, or when a new part added afterwards trains in train mode beside it.
        const trainingBeside = [...step.state.regions(root)].some(([p, r]) => p !== path && isDefinitely(r.mode, 'train') && isDefinitely(r.rg, true));
        if (!modeEvent.explicitPath && !trainingBeside) continue;
        if (optimizerCovers(step.opt, root, path, region) !== 'yes' || everFrozen(root, path)) continue;
        const key = `${region.modeSite.unit}:${region.modeSite.node.from}`;
        if (seen.has(key)) continue;
        seen.add(key);
        report({
          messageId: 'evalOnly',
          data: { regions: describeRegion(tl, step.state, root, path), optimizer: `${step.opt.kind}(...)` },
          span: siteSpan(region.modeSite),
          related: [{ span: siteSpan(step.site), message: FRZ011.meta.messages.relatedStep }],
          fixes: freezeFix(analysis, region.modeSite),
        });
      }
    }
  },
};

/** `X.requires_grad_(False)` after `X.eval()`: what the eval() was meant to do. */
function freezeFix(analysis: Analysis, evalSite: Site): Fix[] {
  const callee = evalSite.node.name === 'CallExpression' ? evalSite.node.firstChild : null;
  if (callee?.name !== 'MemberExpression' || !callee.firstChild) return [];
  const module = sourceOf(analysis, evalSite.unit, callee.firstChild);
  if (!isSimpleModuleExpression(module)) return [];
  return [
    {
      title: `Freeze \`${module}\` with requires_grad_(False)`,
      preferred: true,
      edits: [insertLineAfter(analysis, evalSite.unit, enclosingStatement(evalSite.node), `${module}.requires_grad_(False)`)],
    },
  ];
}
