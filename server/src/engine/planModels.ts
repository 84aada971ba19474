import type { SyntaxNode } from '@lezer/common';
import type { Span } from '../analysis/facts';
import type { Timeline } from '../analysis/interp/timeline';
import type { Program } from '../python/program';
import { optimizerEvents } from '../rules/timelineQueries';
import { modelReports, type ModelReport } from './models';
import { targetOf, type PlanTarget } from './planTarget';

/**
 * The models of a script as the planner plans them, each with where its
 * generated code goes: in place of the script's optimizer construction
 * (the code builds the optimizer), or, without one, after the last
 * top-level statement that builds or changes the model (its new head, the
 * script's own freezing).
 */
export interface ScriptPlanModel extends PlanTarget {
  /** Replace this statement (the optimizer's), or insert before `insertAt` when absent. */
  replace?: Span;
  /** Where to insert: the offset of the start of the line after the model's last top-level change. */
  insertAt?: { unit: number; offset: number };
}

export function scriptPlanModels(timeline: Timeline | undefined, program: Program): ScriptPlanModel[] {
  if (!timeline) return [];
  const text = program.units.map((u) => u.text).join('\n');
  return modelReports({ timeline }).map((report) => ({ ...targetOf(report, text), ...placement(timeline, program, report) }));
}

function placement(tl: Timeline, program: Program, report: ModelReport): Pick<ScriptPlanModel, 'replace' | 'insertAt'> {
  if (!report.site) return {};
  const unit = program.units[report.site.unit];
  // Only a model built at the top level of the script: inside a function, its variable is not the script's.
  const built = statementAt(unit.tree.topNode, report.site.from);
  if (built?.name !== 'AssignStatement') return {};
  const opt = optimizerEvents(tl).find((ev) => ev.opt.groups.some((g) => g.set.root === report.modelId));
  if (opt && opt.site.unit === report.site.unit) {
    const stmt = statementAt(unit.tree.topNode, opt.site.node.from);
    if (stmt?.name === 'AssignStatement' && stmt.from > built.from) return { replace: { unit: opt.site.unit, from: stmt.from, to: stmt.to } };
  }
  // The last top-level statement from the construction on that changes the model: assigns it or a part
  // (a new head), calls one of its methods (requires_grad_, to), or loops over its parts (freezing).
  const name = report.name;
  const changes = new RegExp(`^(${name}(\\.\\w+|\\[\\d+\\])*\\s*=(?!=)|${name}(\\.\\w+|\\[\\d+\\])*\\.(requires_grad_|to|cuda|apply|half|float|bfloat16|load_state_dict)\\(|for\\b[^\\n]*\\bin\\s+${name}\\b)`);
  let last: SyntaxNode = built;
  for (let n = built.nextSibling; n; n = n.nextSibling) {
    const head = unit.text.slice(n.from, Math.min(n.to, n.from + 200));
    if (/^(AssignStatement|ExpressionStatement|ForStatement)$/.test(n.name) && changes.test(head)) last = n;
    // The training loop starts: the model is built by then.
    else if (/^(ForStatement|WhileStatement|WithStatement)$/.test(n.name)) break;
  }
  const lineEnd = unit.text.indexOf('\n', last.to);
  return { insertAt: { unit: report.site.unit, offset: lineEnd < 0 ? unit.text.length : lineEnd + 1 } };
}

/** The top-level statement of the script that contains `offset`. */
function statementAt(top: SyntaxNode, offset: number): SyntaxNode | undefined {
  for (let n = top.firstChild; n; n = n.nextSibling) if (n.from <= offset && offset < n.to) return n;
  return undefined;
}
