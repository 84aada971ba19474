import { describeRegion, isDefinitely, optimizerCovers, regionsOf, siteSpan, steps } from './timelineQueries';
import type { Rule } from './types';
import { isUnder } from '../analysis/interp/paramSet';

/**
 * FRZ014 no-grad-but-trainable
 *
 * A submodule that requires grad and is in the optimizer, but only ever runs
 * under torch.no_grad(): no gradient reaches it, so it never trains, and
 * the optimizer and the requires_grad flag suggest otherwise.
 */
export const FRZ014: Rule = {
  meta: {
    id: 'FRZ014',
    name: 'no-grad-but-trainable',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'A trainable module in the optimizer only ever runs under no_grad, so it never trains.' },
    fixable: false,
    messages: {
      noGrad:
        '{{regions}} requires grad and is in {{optimizer}}, but it only runs under torch.no_grad() or with its output detached here, so no gradient ever reaches it and it never trains. Either run it with gradients, or freeze it and leave it out of the optimizer (a linear probe).',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const all = steps(tl);
    if (all.length === 0) return;
    const seen = new Set<string>();
    const [first] = all;
    for (const [root, path, region] of regionsOf(first.state)) {
      if (region.havoc || !isDefinitely(region.rg, true)) continue;
      // Calls of the region's module, of modules inside it, and of enclosing modules whose forward was not
      // followed (so which children they ran is unknown).
      const touching = tl.events.filter(
        (e) =>
          e.kind === 'forward' &&
          e.root === root &&
          (e.path === path || e.path.startsWith(path + '.') || (!e.followed && (e.path === '' || (path !== '' && path.startsWith(e.path + '.'))))),
      );
      if (touching.length === 0 || !touching.every((e) => e.kind === 'forward' && (e.noGrad || e.detached))) continue;
      const inOptimizer = all.every((s) => optimizerCovers(s.opt, root, path, s.state.region(root, path)) === 'yes' && isDefinitely(s.state.region(root, path).rg, true));
      const neverGrad = all.every((s) => isDefinitely(s.state.region(root, path).grad, 'none'));
      if (!inOptimizer || !neverGrad) continue;
      // Point at the outermost call that runs under no_grad: `self.embeddings(ids)`, not the lookups inside it.
      const outermost = tl.events.find(
        (e): e is Extract<typeof e, { kind: 'forward' }> => e.kind === 'forward' && e.root === root && (e.noGrad || !!e.detached) && (e.path === path || isUnder(path, e.path)),
      );
      const at = outermost ?? (touching[0] as Extract<(typeof touching)[0], { kind: 'forward' }>);
      const key = `${at.site.unit}:${at.site.node.from}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const shown = outermost ? outermost.path : path;
      report({ messageId: 'noGrad', data: { regions: describeRegion(tl, first.state, root, shown), optimizer: `${first.opt.kind}(...)` }, span: siteSpan(at.site) });
    }
  },
};
