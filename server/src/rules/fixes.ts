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

/** The nearest enclosing node of one of `names`, or undefined. */
function ancestor(node: SyntaxNode, ...names: string[]): SyntaxNode | undefined {
  for (let n = node.parent; n; n = n.parent) if (names.includes(n.name)) return n;
  return undefined;
}

/**
 * The expression that names the optimizer built at `opt` from the code at
 * `at`: `optimizer` when it is bound at module level or in the same function,
 * `self.optimizer` from another method of the same class. Undefined when a
 * fix could not name it reliably (a returned optimizer, another function's local).
 */
export function optimizerNameAt(analysis: Analysis, opt: Site, at: Site): string | undefined {
  const stmt = enclosingStatement(opt.node);
  if (stmt.name !== 'AssignStatement' || !stmt.firstChild) return undefined;
  const target = stmt.firstChild;
  const text = sourceOf(analysis, opt.unit, target);
  const defFn = ancestor(stmt, 'FunctionDefinition');
  const atFn = ancestor(at.node, 'FunctionDefinition');
  if (target.name === 'VariableName') {
    if (!defFn) return text;
    return opt.unit === at.unit && atFn && atFn.from === defFn.from ? text : undefined;
  }
  if (target.name === 'MemberExpression' && /^self\.\w+$/.test(text)) {
    const defCls = ancestor(stmt, 'ClassDefinition');
    const atCls = ancestor(at.node, 'ClassDefinition');
    return defCls && atCls && opt.unit === at.unit && defCls.from === atCls.from ? text : undefined;
  }
  return undefined;
}

/** A module expression simple enough to repeat in generated code: `model.layer4`, `self.backbone[0]`. */
export function isSimpleModuleExpression(text: string): boolean {
  return /^[A-Za-z_]\w*(\.\w+|\[\d+\])*$/.test(text);
}

/**
 * What an unfreeze (or freeze) statement acts on, as code: `X` for
 * `X.requires_grad_(...)`, or for a loop `for p in X.parameters(): ...` whose
 * body sets the flag. `after` is the statement a follow-up line goes after
 * (the call's statement, or the whole loop); `param` is the loop variable.
 */
export function flagTarget(analysis: Analysis, site: Site): { module: string; after: SyntaxNode; param?: string; stmt: SyntaxNode } | undefined {
  const node = site.node;
  const stmt = enclosingStatement(node);
  const loop = ancestor(node, 'ForStatement');
  const kids: SyntaxNode[] = [];
  for (let k = loop?.firstChild; k; k = k.nextSibling) kids.push(k);
  const inIdx = kids.findIndex((k) => k.name === 'in');
  const iter = kids[inIdx + 1];
  const targets = kids.slice(1, inIdx).filter((k) => k.name === 'VariableName');
  const m = iter ? /^(.+)\.(named_)?parameters\(\)$/.exec(sourceOf(analysis, site.unit, iter)) : null;
  const param = targets.length > 0 ? sourceOf(analysis, site.unit, targets[targets.length - 1]) : undefined;
  const call = node.name === 'CallExpression' ? node : undefined;
  if (call?.firstChild?.name === 'MemberExpression' && call.firstChild.lastChild && sourceOf(analysis, site.unit, call.firstChild.lastChild) === 'requires_grad_') {
    const module = sourceOf(analysis, site.unit, call.firstChild.firstChild!);
    // `p.requires_grad_(False)` on the variable of a loop over parameters acts on the loop's module.
    if (!(m && module === param)) return isSimpleModuleExpression(module) ? { module, after: stmt, stmt } : undefined;
  }
  if (!loop || !m || !isSimpleModuleExpression(m[1]) || !param) return undefined;
  return { module: m[1], after: loop, param, stmt };
}

/**
 * `optimizer.add_param_group(...)` for the trainable parameters of `module`
 * that the optimizer does not hold yet: adding a tensor twice raises, and a
 * name filter may have unfrozen only part of the module.
 */
export function addParamGroupCode(optimizer: string, module: string): string {
  return `${optimizer}.add_param_group({"params": [p for p in ${module}.parameters() if p.requires_grad and not any(p is q for g in ${optimizer}.param_groups for q in g["params"])]})`;
}
