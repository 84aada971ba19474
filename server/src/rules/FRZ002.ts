import { isUnder } from '../analysis/interp/paramSet';
import { describeRegion, isDefinitely, regionHasBatchNorm, regionsOf, siteSpan, steps } from './timelineQueries';
import type { SyntaxNode } from '@lezer/common';
import { enclosingStatement } from '../python/syntax';
import type { Site } from '../analysis/interp/state';
import { ensureTorchImport, insertLineAfter, insertTopLevel, sourceOf } from './fixes';
import type { Fix, Rule, TextEdit } from './types';
import type { Analysis } from '../analysis/analyze';

/**
 * FRZ002 frozen-bn-train-mode
 *
 * BatchNorm whose parameters are frozen still updates running_mean and
 * running_var whenever it runs in train mode, and normalises with batch
 * statistics. `model.train()` at the top of each epoch resets a one-off
 * `bn.eval()`, so the frozen statistics drift. Reported at the call that
 * put the frozen part in train mode, for each step where it trains that way.
 */
export const FRZ002: Rule = {
  meta: {
    id: 'FRZ002',
    name: 'frozen-bn-train-mode',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'Frozen BatchNorm runs in train mode: its running statistics drift and batch statistics are used.' },
    fixable: true,
    messages: {
      trainMode:
        '{{regions}} is frozen but its BatchNorm layers are in train mode here: each forward pass updates their running_mean/running_var and normalises with batch statistics, so the "frozen" backbone drifts. Put the frozen BatchNorm layers back in eval() after every train() call, or convert them to FrozenBatchNorm2d.',
      defaultMode:
        '{{regions}} is frozen but its BatchNorm layers never leave train mode (the default): each forward pass updates their running_mean/running_var. Call eval() on the frozen BatchNorm layers, or convert them to FrozenBatchNorm2d.',
      relatedFreeze: 'frozen here',
      relatedStep: 'trains in this state here',
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const reported = new Map<string, { root: number; path: string; stepSite: (typeof tl.events)[number]['site'] }[]>();
    const sites = new Map<string, (typeof tl.events)[number]['site'] | undefined>();
    for (const step of steps(tl)) {
      for (const [root, path, region] of regionsOf(step.state)) {
        if (region.havoc || !isDefinitely(region.rg, false) || !isDefinitely(region.mode, 'train') || !isDefinitely(region.bnEval, false)) continue;
        if (regionHasBatchNorm(tl, step.state, root, path) !== 'yes') continue;
        // track_running_stats switched off: the statistics no longer drift (FRZ012 explains what happens instead).
        // BatchNorm momentum set to 0: the running statistics cannot change either.
        if (tl.events.some((e) => (e.kind === 'trackRunningStats' || e.kind === 'bnMomentumZero') && e.set.root === root && e.set.prefixes.some((p) => isUnder(path, p)))) continue;
        if (!tl.events.some((e) => e.kind === 'forward' && e.root === root && (e.path === '' || path.startsWith(e.path)))) continue;
        const key = region.modeSite ? `${region.modeSite.unit}:${region.modeSite.node.from}` : 'default';
        const list = reported.get(key) ?? [];
        if (!list.some((r) => r.root === root && r.path === path)) list.push({ root, path, stepSite: step.site });
        reported.set(key, list);
        sites.set(key, region.modeSite);
      }
    }
    for (const [key, list] of reported) {
      const site = sites.get(key) ?? list[0].stepSite;
      const state = steps(tl).find((s) => s.site === list[0].stepSite)!.state;
      const regions = list.map((r) => describeRegion(tl, state, r.root, r.path)).join(', ');
      const related = list
        .map((r) => state.region(r.root, r.path).rgSite)
        .filter((s) => s !== undefined)
        .slice(0, 2)
        .map((s) => ({ span: siteSpan(s!), message: FRZ002.meta.messages.relatedFreeze }));
      const freezeSite = list.map((r) => state.region(r.root, r.path).rgSite).find((x) => x !== undefined);
      const fixes = sites.get(key) ? batchNormFixes(analysis, site, freezeSite) : [];
      report({ messageId: sites.get(key) ? 'trainMode' : 'defaultMode', data: { regions }, span: siteSpan(site), related, fixes });
    }
  },
};

const SET_BN_EVAL = `

def set_bn_eval(module):
    """Put BatchNorm layers whose parameters are all frozen back in eval mode, so their running statistics stay fixed."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
            m.eval()
`;

const CONVERT_FROZEN_BN = `

def convert_frozen_batchnorm(module):
    """Replace BatchNorm2d layers whose parameters are all frozen by FrozenBatchNorm2d, whose statistics never change."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm2d) and not any(p.requires_grad for p in child.parameters()):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.load_state_dict(child.state_dict())
            setattr(module, name, frozen)
        else:
            convert_frozen_batchnorm(child)
`;

/**
 * (a) A helper that re-applies eval() to frozen BatchNorm, called right after
 * the train() call; (b) conversion of the frozen BatchNorm layers to
 * FrozenBatchNorm2d, right after the freeze.
 */
function batchNormFixes(analysis: Analysis, trainSite: Site, freezeSite: Site | undefined): Fix[] {
  const call = trainSite.node;
  const callee = call.firstChild;
  if (call.name !== 'CallExpression' || callee?.name !== 'MemberExpression' || !callee.firstChild) return [];
  const target = sourceOf(analysis, trainSite.unit, callee.firstChild);
  const fixes: Fix[] = [];
  const helper = withImport(analysis, insertTopLevel(analysis, SET_BN_EVAL, /^def set_bn_eval\(/m));
  fixes.push({
    title: `Keep frozen BatchNorm in eval mode: call set_bn_eval(${target}) after ${target}.train()`,
    preferred: true,
    edits: [...helper, insertLineAfter(analysis, trainSite.unit, call, `set_bn_eval(${target})`)],
  });
  if (freezeSite) {
    const after = outsideLoops(freezeSite.node);
    const model = freezeTarget(analysis, freezeSite) ?? target;
    const converter = withImport(analysis, insertTopLevel(analysis, CONVERT_FROZEN_BN, /^def convert_frozen_batchnorm\(/m));
    fixes.push({
      title: `Convert the frozen BatchNorm layers of ${model} to FrozenBatchNorm2d`,
      preferred: false,
      edits: [...converter, insertLineAfter(analysis, freezeSite.unit, after, `convert_frozen_batchnorm(${model})`)],
    });
  }
  return fixes;
}

/** The helper's insertion, preceded by `import torch` in the same edit when the file lacks it. */
function withImport(analysis: Analysis, helper: TextEdit | undefined): TextEdit[] {
  if (!helper) return [];
  const imp = ensureTorchImport(analysis);
  if (!imp) return [helper];
  if (imp.span.from === helper.span.from && imp.span.unit === helper.span.unit) return [{ ...helper, newText: imp.newText + helper.newText }];
  return [imp, helper];
}

/** A freeze inside `for p in ...:` is a loop body: insert after the loop, not inside it. */
function outsideLoops(node: SyntaxNode): SyntaxNode {
  let stmt = enclosingStatement(node);
  while (stmt.parent?.name === 'Body' && (stmt.parent.parent?.name === 'ForStatement' || stmt.parent.parent?.name === 'WhileStatement')) {
    stmt = enclosingStatement(stmt.parent.parent);
  }
  return stmt;
}

/** The model a freeze statement is about: the root name of its first dotted expression. */
function freezeTarget(analysis: Analysis, site: Site): string | undefined {
  const text = sourceOf(analysis, site.unit, outsideLoops(site.node));
  const m = /\b(?:in\s+)?([A-Za-z_][\w]*)(?:\.[A-Za-z_][\w]*)*\.(?:parameters|named_parameters|requires_grad_)\(/.exec(text);
  return m?.[1];
}
