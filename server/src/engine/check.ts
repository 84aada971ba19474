import { analyze, type Analysis, type AnalyzeOptions } from '../analysis/analyze';
import { BudgetExceeded } from '../analysis/budget';
import type { Span } from '../analysis/facts';
import { DEFAULT_CONFIG, isRuleEnabled, severityFor, type EffectiveConfig } from '../config/config';
import type { Program } from '../python/program';
import { RULES } from '../rules';
import { formatMessage, type Finding, type ReportDescriptor, type Rule } from '../rules/types';
import { isSuppressed } from './suppression';

export interface CheckResult {
  findings: Finding[];
  /** The facts behind the findings, for hover and CodeLens; absent when the analysis gave up. */
  analysis?: Analysis;
  /** Things the user or the log should know: skipped code, a rule that failed. Never findings. */
  notes: string[];
}

/**
 * The one entry point that the language server, the CLI and the tests share:
 * analyse a program, run the enabled rules, apply severities and
 * suppression comments.
 */
export function checkProgram(program: Program, config: EffectiveConfig = DEFAULT_CONFIG, options: AnalyzeOptions = {}): CheckResult {
  const notes: string[] = [];
  let analysis;
  try {
    analysis = analyze(program, options);
  } catch (e) {
    if (e instanceof BudgetExceeded) return { findings: [], notes: [`${program.id}: ${e.message}; no diagnostics for this file`] };
    // The passes cap their own depth; this is the backstop for a recursion they missed:
    // silence for the file and a line in the log, not a failed check.
    if (e instanceof RangeError && /call stack/i.test(e.message)) return { findings: [], notes: [`${program.id}: analysis ran out of stack (${e.message}); no diagnostics for this file`] };
    throw e;
  }
  notes.push(...analysis.notes.map((n) => `${program.id}: ${n}; that code was skipped`));

  const findings: Finding[] = [];
  for (const rule of RULES) {
    if (!isRuleEnabled(config, rule.meta.id)) continue;
    const reports: ReportDescriptor[] = [];
    try {
      rule.check({ analysis, config, report: (d) => reports.push(d) });
    } catch (e) {
      // A bug in one rule must not take the others (or the server) down with it.
      notes.push(`${program.id}: rule ${rule.meta.id} failed: ${(e as Error).stack ?? e}`);
      continue;
    }
    const moved = new Set<string>();
    for (const raw of reports) {
      const d = withinProgram(raw, analysis);
      if (!d) continue;
      // Several sites inside one helper call land on the same call: report it once.
      const key = `${d.span.unit}:${d.span.from}:${d.span.to}`;
      if (d.via && moved.has(key)) continue;
      if (d.via) moved.add(key);
      if (isSuppressed(program, d.span, rule.meta.id)) continue;
      findings.push(toFinding(rule, d, config));
    }
  }
  findings.sort((a, b) => compareSpans(a.span, b.span) || a.ruleId.localeCompare(b.ruleId));
  // Once each, and short: a loop or a recursion repeats the same reason many
  // times, and a name taken from generated code can be kilobytes long.
  for (const why of new Set(analysis.timeline?.unknowns ?? [])) notes.push(`${program.id}: ${clip(why)}; rules stay silent about that model`);
  return { findings, notes, analysis };
}

function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Keeps a report inside the checked program. One about code in an imported
 * module moves to the program's call that ran that code (`freeze(model)`),
 * naming the module, without fixes: they would edit the other file. Related
 * sites and fixes in imported modules are dropped. Undefined: nothing in the
 * program to point at (that file reports it when it is checked itself).
 */
function withinProgram(d: ReportDescriptor, analysis: Analysis): ReportDescriptor | undefined {
  const main = analysis.mainUnits;
  const related = d.related?.filter((r) => r.span.unit < main);
  if (d.span.unit < main) return { ...d, related, fixes: d.fixes?.filter((f) => f.edits.every((e) => e.span.unit < main)) };
  const caller = analysis.timeline?.callers.get(`${d.span.unit}:${d.span.from}:${d.span.to}`);
  if (!caller) return undefined;
  const module = analysis.program.units[d.span.unit];
  const line = module.lines.positionAt(d.span.from).line + 1;
  return {
    ...d,
    span: { unit: caller.unit, from: caller.node.from, to: caller.node.to },
    related,
    fixes: [],
    via: `${module.id.replace(/^.*[\\/]/, '')}:${line}`,
  };
}

function toFinding(rule: Rule, d: ReportDescriptor, config: EffectiveConfig): Finding {
  const template = rule.meta.messages[d.messageId];
  if (template === undefined) throw new Error(`${rule.meta.id} reported unknown messageId ${d.messageId}`);
  return {
    ruleId: rule.meta.id,
    ruleName: rule.meta.name,
    severity: severityFor(config, rule.meta.id, d.severity ?? rule.meta.defaultSeverity),
    message: formatMessage(template, d.data) + (d.via ? ` (in code this call runs, at ${d.via})` : ''),
    span: d.span,
    related: d.related ?? [],
    fixes: d.fixes ?? [],
  };
}

function compareSpans(a: Span, b: Span): number {
  return a.unit - b.unit || a.from - b.from || a.to - b.to;
}
