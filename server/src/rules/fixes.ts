import type { SyntaxNode } from '@lezer/common';
import type { Analysis } from '../analysis/analyze';
import type { Span } from '../analysis/facts';
import type { Site } from '../analysis/interp/state';
import { callArgs, enclosingStatement, nodeText } from '../python/syntax';
import type { TextEdit } from './types';

/**
 * Building blocks for quick fixes: edits that keep the user's indentation
 * and add an import only when the file lacks it.
 */

export function spanOf(unit: number, node: SyntaxNode): Span {
  return { unit, from: node.from, to: node.to };
}

/** The parameters argument of an optimizer call (first positional or `params=`). */
export function paramsArgument(analysis: Analysis, site: Site): SyntaxNode | undefined {
  const text = analysis.program.units[site.unit].text;
  const args = callArgs(text, site.node.lastChild?.name === 'ArgList' ? site.node.lastChild : null);
  return args.keyword.get('params') ?? args.positional[0];
}

export function sourceOf(analysis: Analysis, unit: number, node: SyntaxNode): string {
  return nodeText(analysis.program.units[unit].text, node);
}

/** Leading whitespace of the line where the statement around `node` starts. */
export function indentOf(analysis: Analysis, unit: number, node: SyntaxNode): string {
  const u = analysis.program.units[unit];
  const stmt = enclosingStatement(node);
  const line = u.lines.positionAt(stmt.from).line;
  return /^[ \t]*/.exec(u.lines.lineText(line))![0];
}

/** Inserts `code` as a new line after the statement that contains `node`, at the same indentation. */
export function insertLineAfter(analysis: Analysis, unit: number, node: SyntaxNode, code: string): TextEdit {
  const u = analysis.program.units[unit];
  const stmt = enclosingStatement(node);
  const lastLine = u.lines.positionAt(Math.max(stmt.from, stmt.to - 1)).line;
  const at = u.lines.lineEnd(lastLine);
  return { span: { unit, from: at, to: at }, newText: `\n${indentOf(analysis, unit, node)}${code}` };
}

/**
 * A top-level definition or import inserted after the last top-level import
 * of the first unit (or at the top), unless the program already has `marker`.
 */
export function insertTopLevel(analysis: Analysis, code: string, marker: RegExp): TextEdit | undefined {
  if (analysis.program.units.some((u) => marker.test(u.text))) return undefined;
  const u = analysis.program.units[0];
  let lastImport: SyntaxNode | undefined;
  for (let s = u.tree.topNode.firstChild; s; s = s.nextSibling) {
    if (s.name === 'ImportStatement') lastImport = s;
    else if (s.name !== 'Comment' && !(s.name === 'ExpressionStatement' && s.firstChild?.name === 'String')) break;
  }
  if (!lastImport) return { span: { unit: 0, from: 0, to: 0 }, newText: `${code}\n` };
  const at = u.lines.lineEnd(u.lines.positionAt(lastImport.to).line);
  return { span: { unit: 0, from: at, to: at }, newText: `\n${code}` };
}

/** `import torch` unless the name `torch` is already bound to the torch package at module level. */
export function ensureTorchImport(analysis: Analysis): TextEdit | undefined {
  const bound = analysis.binder.moduleScope.bindings.get('torch') ?? [];
  if (bound.some((b) => b.source.type === 'import' && b.source.qualified === 'torch')) return undefined;
  return insertTopLevel(analysis, 'import torch', /^import torch$/m);
}
