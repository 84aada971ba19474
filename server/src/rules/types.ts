import type { EffectiveConfig } from '../config/config';
import type { Analysis } from '../analysis/analyze';
import type { Span } from '../analysis/facts';

export type Severity = 'error' | 'warning' | 'information' | 'hint';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'information', 'hint'];

/** Everything about a rule except its logic, after ESLint's `meta`. */
export interface RuleMeta {
  /** Stable code, FRZnnn. */
  id: string;
  /** kebab-case name, stable too. */
  name: string;
  /** 'problem': the code does not do what it says. 'suggestion': it works, but there is a better way. */
  type: 'problem' | 'suggestion';
  defaultSeverity: Severity;
  docs: { description: string };
  fixable: boolean;
  /** Message templates keyed by id, with `{{placeholders}}`. */
  messages: Record<string, string>;
}

export interface TextEdit {
  span: Span;
  newText: string;
}

export interface Fix {
  title: string;
  /** The fix an editor applies with "Quick Fix" when only one is wanted. */
  preferred: boolean;
  edits: TextEdit[];
}

export interface Related {
  span: Span;
  message: string;
}

export interface ReportDescriptor {
  messageId: string;
  data?: Record<string, string | number>;
  span: Span;
  related?: Related[];
  fixes?: Fix[];
  /** Set by the engine when the site was in an imported module: `helpers.py:12`. */
  via?: string;
  /** Overrides the rule's default severity when harm depends on context. */
  severity?: Severity;
}

export interface RuleContext {
  analysis: Analysis;
  /** For the few options rules and fixes read (the backbone LR factor). */
  config: EffectiveConfig;
  report(descriptor: ReportDescriptor): void;
}

export interface Rule {
  meta: RuleMeta;
  check(context: RuleContext): void;
}

/** A rule's report after formatting, configuration and suppression. */
export interface Finding {
  ruleId: string;
  ruleName: string;
  severity: Severity;
  message: string;
  span: Span;
  related: Related[];
  fixes: Fix[];
}

export function formatMessage(template: string, data: Record<string, string | number> = {}): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => (key in data ? String(data[key]) : whole));
}
