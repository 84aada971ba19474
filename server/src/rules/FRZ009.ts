import { modelName, optimizerCovers, siteSpan, steps } from './timelineQueries';
import type { Fix, Rule } from './types';
import type { Analysis } from '../analysis/analyze';
import type { OptimizerInfo, Site } from '../analysis/interp/state';
import { enclosingStatement } from '../python/syntax';
import { insertLineAfter, isSimpleModuleExpression, optimizerNameAt, sourceOf } from './fixes';

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
        return !region.havoc && !region.empty && region.rg.has(true) && region.rg.size === 1 && optimizerCovers(s.opt, ev.root, ev.path, region) === 'no';
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
        fixes: replacementFixes(analysis, step.opt, ev.site),
      });
    }
  },
};

/**
 * Two fixes: build the optimizer after the replacement (when both statements
 * sit in the same block and nothing between them feeds the replacement), or
 * add the new module's parameters with add_param_group right after it.
 */
function replacementFixes(analysis: Analysis, opt: OptimizerInfo, replace: Site): Fix[] {
  const fixes: Fix[] = [];
  const assign = enclosingStatement(replace.node);
  const target = assign.name === 'AssignStatement' && assign.firstChild ? sourceOf(analysis, replace.unit, assign.firstChild) : undefined;
  const optStmt = enclosingStatement(opt.site.node);
  const unit = analysis.program.units[replace.unit];
  if (opt.site.unit === replace.unit && optStmt.parent === assign.parent && optStmt.from < assign.from) {
    // Names the replacement reads must not be (re)bound between the two statements.
    const between = unit.text.slice(optStmt.to, assign.from);
    const reads = new Set(sourceOf(analysis, replace.unit, assign).match(/[A-Za-z_]\w*/g) ?? []);
    const optName = optStmt.firstChild ? sourceOf(analysis, opt.site.unit, optStmt.firstChild) : '';
    const rebinds = [...between.matchAll(/^[ \t]*([A-Za-z_]\w*)\s*=/gm)].some((m) => reads.has(m[1]));
    if (!rebinds && !reads.has(optName)) {
      const lineStart = (pos: number) => unit.lines.offsetAt({ line: unit.lines.positionAt(pos).line, character: 0 });
      const assignFrom = lineStart(assign.from);
      const assignEnd = unit.lines.offsetAt({ line: unit.lines.positionAt(assign.to).line + 1, character: 0 });
      const optFrom = lineStart(optStmt.from);
      fixes.push({
        title: 'Build the optimizer after replacing the module',
        preferred: false,
        edits: [
          { span: { unit: replace.unit, from: assignFrom, to: Math.min(assignEnd, unit.text.length) }, newText: '' },
          { span: { unit: replace.unit, from: optFrom, to: optFrom }, newText: unit.text.slice(assignFrom, assignEnd).replace(/\n?$/, '\n') },
        ],
      });
    }
  }
  const name = optimizerNameAt(analysis, opt.site, replace);
  if (target && name && isSimpleModuleExpression(target)) {
    fixes.unshift({
      title: `Add the new \`${target}\` to ${name} with add_param_group`,
      preferred: true,
      edits: [insertLineAfter(analysis, replace.unit, assign, `${name}.add_param_group({"params": ${target}.parameters()})`)],
    });
  }
  return fixes;
}
