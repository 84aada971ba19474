import type { SyntaxNode } from '@lezer/common';

/** Small, allocation-light helpers over @lezer/python syntax nodes. */

export function nodeText(text: string, node: SyntaxNode): string {
  return text.slice(node.from, node.to);
}

/** Child nodes, including anonymous tokens such as `=` and `,`. */
export function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/** Drops punctuation tokens and error nodes, keeping the meaningful children. */
export function namedChildren(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) if (!PUNCTUATION.has(c.name) && !c.type.isError) out.push(c);
  return out;
}

const PUNCTUATION = new Set(['(', ')', '[', ']', '{', '}', ',', '.', ':', 'AssignOp', '*', '**', 'Comment']);

/** Strips redundant parentheses: `((a.b))` -> `a.b`. */
export function unparen(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (n.name === 'ParenthesizedExpression') {
    const inner = namedChildren(n);
    if (inner.length !== 1) break;
    n = inner[0];
  }
  return n;
}

/**
 * `a.b.c` -> ['a', 'b', 'c']; undefined when the expression is not a plain
 * dotted name (calls, subscripts and the like in between).
 */
export function dottedParts(text: string, node: SyntaxNode): string[] | undefined {
  const n = unparen(node);
  if (n.name === 'VariableName') return [nodeText(text, n)];
  if (n.name === 'MemberExpression') {
    const object = n.firstChild;
    const prop = n.lastChild;
    if (!object || !prop || prop.name !== 'PropertyName') return undefined;
    const head = dottedParts(text, object);
    return head ? [...head, nodeText(text, prop)] : undefined;
  }
  return undefined;
}

/** For `obj.prop` returns [obj, prop]; for `obj[idx]` returns [obj, undefined]. */
export function memberParts(node: SyntaxNode): { object: SyntaxNode; property?: SyntaxNode; subscript: boolean } | undefined {
  if (node.name !== 'MemberExpression') return undefined;
  const object = node.firstChild;
  if (!object) return undefined;
  const last = node.lastChild;
  if (last?.name === 'PropertyName') return { object, property: last, subscript: false };
  return { object, subscript: true };
}

/** The positional and keyword arguments of a call's ArgList. */
export interface CallArgs {
  positional: SyntaxNode[];
  keyword: Map<string, SyntaxNode>;
  /** True when `*args`/`**kwargs` make positions unknowable. */
  hasStar: boolean;
}

export function callArgs(text: string, argList: SyntaxNode | null): CallArgs {
  const result: CallArgs = { positional: [], keyword: new Map(), hasStar: false };
  if (!argList) return result;
  const kids = children(argList);
  for (let i = 0; i < kids.length; i++) {
    const k = kids[i];
    if (k.name === '(' || k.name === ')' || k.name === ',' || k.name === 'Comment') continue;
    if (k.name === '*' || k.name === '**') {
      result.hasStar = true;
      i++;
      continue;
    }
    if (k.name === 'VariableName' && kids[i + 1]?.name === 'AssignOp' && kids[i + 2]) {
      result.keyword.set(nodeText(text, k), kids[i + 2]);
      i += 2;
      continue;
    }
    result.positional.push(k);
  }
  return result;
}

/** The statement node that contains `node` (the closest ancestor whose parent is a Body or Script). */
export function enclosingStatement(node: SyntaxNode): SyntaxNode {
  let n: SyntaxNode = node;
  while (n.parent && n.parent.name !== 'Body' && n.parent.name !== 'Script') n = n.parent;
  return n;
}

export function isAncestor(ancestor: SyntaxNode, node: SyntaxNode): boolean {
  return ancestor.from <= node.from && node.to <= ancestor.to && ancestor !== node;
}

/**
 * Nodes that can hold statements. The parser puts statements only in these,
 * also when it recovers from syntax errors, so a walk over the statements of
 * a tree can skip every expression: most of the tree.
 */
const STATEMENT_CONTAINERS = new Set([
  'Script', 'Body', 'StatementGroup', 'IfStatement', 'WhileStatement', 'ForStatement', 'WithStatement', 'TryStatement',
  'FunctionDefinition', 'ClassDefinition', 'DecoratedStatement', 'MatchStatement', 'MatchBody', 'MatchClause',
]);

/**
 * Calls `visit` for every node named one of `names` that sits where a
 * statement can (at any depth: bodies of functions, classes, loops, ...), in
 * source order. Nothing below a match is searched.
 */
export function forEachStatement(root: SyntaxNode, names: ReadonlySet<string>, visit: (node: SyntaxNode) => void): void {
  // Iterative: no recursion however deeply the blocks nest.
  const open: SyntaxNode[] = [];
  let c = root.firstChild;
  for (;;) {
    while (c) {
      const name = c.name;
      if (names.has(name)) visit(c);
      else if (STATEMENT_CONTAINERS.has(name)) {
        const first = c.firstChild;
        if (first) {
          open.push(c);
          c = first;
          continue;
        }
      }
      c = c.nextSibling;
    }
    const done = open.pop();
    if (!done) return;
    c = done.nextSibling;
  }
}
