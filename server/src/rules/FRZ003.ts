import { backboneAndHead } from './lrSplit';
import { isDefinitely, modelName, optimizerEvents, siteSpan, stepsOf, type OptimizerEvent } from './timelineQueries';
import type { Fix, Rule } from './types';
import type { Analysis } from '../analysis/analyze';
import { isUnder } from '../analysis/interp/paramSet';
import { callArgs } from '../python/syntax';
import { isSimpleModuleExpression, paramsArgument, sourceOf, spanOf } from './fixes';

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

  check({ analysis, config, report }) {
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
        fixes: paramGroupsFix(analysis, ev, root, config.backboneLrFactor),
      });
    }
  },
};

/**
 * Replaces `X.parameters()` with two param groups split by name: the new
 * head(s) at the optimizer's LR, everything else (the pretrained backbone)
 * at that LR divided by the configured factor.
 */
function paramGroupsFix(analysis: Analysis, ev: OptimizerEvent, root: number, factor: number): Fix[] {
  const arg = paramsArgument(analysis, ev.site);
  if (!arg || ev.opt.groups.length !== 1 || ev.opt.groups[0].set.prefixes.join() !== '' || ev.opt.groups[0].set.predicate) return [];
  const m = /^(.+)\.parameters\(\)$/.exec(sourceOf(analysis, ev.site.unit, arg));
  if (!m || !isSimpleModuleExpression(m[1])) return [];
  const text = analysis.program.units[ev.site.unit].text;
  const args = callArgs(text, ev.site.node.lastChild?.name === 'ArgList' ? ev.site.node.lastChild : null);
  const lrNode = args.keyword.get('lr') ?? args.positional[1];
  if (!lrNode) return [];
  const lr = sourceOf(analysis, ev.site.unit, lrNode);
  // The head: trainable parts that did not come from the checkpoint, outermost only.
  const step = stepsOf(analysis.timeline!, ev.opt)[0];
  if (!step) return [];
  const heads = [...step.state.regions(root)]
    .filter(([p, r]) => p !== '' && !r.pretrained && isDefinitely(r.rg, true))
    .map(([p]) => p)
    .filter((p, _, all) => !all.some((q) => q !== p && isUnder(p, q)));
  if (heads.length === 0) return [];
  const names = `(${heads.map((h) => JSON.stringify(h + '.')).join(', ')}${heads.length === 1 ? ',' : ''})`;
  const model = m[1];
  const backboneLr = /^[\w.]+$/.test(lr) ? `${lr} / ${factor}` : `(${lr}) / ${factor}`;
  const groups =
    `[{"params": [p for n, p in ${model}.named_parameters() if not n.startswith(${names})], "lr": ${backboneLr}}, ` +
    `{"params": [p for n, p in ${model}.named_parameters() if n.startswith(${names})]}]`;
  return [{ title: `Give the pretrained backbone its own param group at lr / ${factor}`, preferred: true, edits: [{ span: spanOf(ev.site.unit, arg), newText: groups }] }];
}
