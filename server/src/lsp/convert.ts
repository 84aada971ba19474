import {
  CodeActionKind,
  DiagnosticSeverity,
  type CodeAction,
  type Diagnostic,
  type Range,
  type TextEdit,
  type WorkspaceEdit,
} from 'vscode-languageserver';
import type { Span } from '../analysis/facts';
import type { Program } from '../python/program';
import { DIAGNOSTIC_SOURCE } from '../protocol';
import type { Finding, Fix, Severity } from '../rules/types';
import type { OnnxDiagnostic } from '../onnx/inspect';

/** Converts core findings (offsets in program units) into LSP objects (URIs and positions). */

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function spanRange(program: Program, span: Span): Range {
  const lines = program.units[span.unit].lines;
  return { start: lines.positionAt(span.from), end: lines.positionAt(span.to) };
}

/** A diagnostic on a binary .onnx file: it has no text to point into, so it sits at the start. */
export function onnxDiagnostic(d: OnnxDiagnostic, docUri: (ruleId: string) => string): Diagnostic {
  return {
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: SEVERITY[d.severity],
    source: DIAGNOSTIC_SOURCE,
    code: d.ruleId,
    codeDescription: { href: docUri(d.ruleId) },
    message: d.where ? `${d.message} (${d.where})` : d.message,
  };
}

export function toDiagnostic(program: Program, finding: Finding, docUri: (ruleId: string) => string): Diagnostic {
  return {
    range: spanRange(program, finding.span),
    severity: SEVERITY[finding.severity],
    source: DIAGNOSTIC_SOURCE,
    code: finding.ruleId,
    codeDescription: { href: docUri(finding.ruleId) },
    message: finding.message,
    relatedInformation: finding.related.map((r) => ({
      location: { uri: program.units[r.span.unit].id, range: spanRange(program, r.span) },
      message: r.message,
    })),
    data: { rule: finding.ruleName },
  };
}

export function toWorkspaceEdit(program: Program, fix: Fix): WorkspaceEdit {
  const changes: Record<string, TextEdit[]> = {};
  for (const edit of fix.edits) {
    const uri = program.units[edit.span.unit].id;
    (changes[uri] ??= []).push({ range: spanRange(program, edit.span), newText: edit.newText });
  }
  return { changes };
}

export function toCodeActions(program: Program, finding: Finding, diagnostic: Diagnostic): CodeAction[] {
  const actions: CodeAction[] = finding.fixes.map((fix) => ({
    title: fix.title,
    kind: CodeActionKind.QuickFix,
    diagnostics: [diagnostic],
    isPreferred: fix.preferred,
    edit: toWorkspaceEdit(program, fix),
  }));
  actions.push(suppressAction(program, finding, diagnostic));
  return actions;
}

/** "Ignore FRZ004 on this line": appends the suppression comment, after any existing comment. */
function suppressAction(program: Program, finding: Finding, diagnostic: Diagnostic): CodeAction {
  const unit = program.units[finding.span.unit];
  const line = unit.lines.positionAt(finding.span.from).line;
  const end = unit.lines.lineEnd(line);
  const trailing = /\s*$/.exec(unit.lines.lineText(line))![0].length;
  const at = end - trailing;
  const edit: Fix = {
    title: `Ignore ${finding.ruleId} on this line`,
    preferred: false,
    edits: [{ span: { unit: finding.span.unit, from: at, to: at }, newText: `  # freezelens: ignore[${finding.ruleId}]` }],
  };
  return { title: edit.title, kind: CodeActionKind.QuickFix, diagnostics: [diagnostic], isPreferred: false, edit: toWorkspaceEdit(program, edit) };
}
