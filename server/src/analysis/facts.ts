import type { SyntaxNode } from '@lezer/common';
import type { Program } from '../python/program';
import { children, forEachStatement, memberParts, nodeText } from '../python/syntax';
import type { AnalysisBudget } from './budget';
import type { ValueKind, ValueKinds } from './valueKind';

/** A half-open offset range inside one unit of the program. */
export interface Span {
  unit: number;
  from: number;
  to: number;
}

/**
 * `x.requires_grad = v`, or a misspelling of it: an assignment to an
 * attribute that decides (or is meant to decide) whether something trains.
 */
export interface GradFlagWrite {
  /** The whole assignment statement. */
  statement: Span;
  /** `x.requires_grad = v`: from the target's start to the value's end. */
  assignment: Span;
  receiver: Span;
  receiverText: string;
  attribute: string;
  attributeSpan: Span;
  valueText: string;
  /** True for `a.requires_grad = b = v`: no simple rewrite exists. */
  chained: boolean;
  receiverKind: ValueKind;
}

/** Attribute names that users write when they mean `requires_grad`. */
export const REQUIRES_GRAD_MISSPELLINGS = new Set([
  'require_grad',
  'requires_grads',
  'required_grad',
  'require_grads',
  'requires_gradient',
  'requiresgrad',
  'requires_grad_',
]);

/** `p.requires_grad == False` written as a statement: a comparison whose result is thrown away. */
export interface FlagComparison {
  statement: Span;
  /** The `==` operator, which the fix turns into `=`. */
  operator: Span;
  receiverText: string;
  valueText: string;
}

export interface SyntacticFacts {
  gradFlagWrites: GradFlagWrite[];
  flagComparisons: FlagComparison[];
}

const FACT_STATEMENTS = new Set(['ExpressionStatement', 'AssignStatement']);

/**
 * Sorted offsets of `grad` in a text. Every attribute name a fact is about
 * (`requires_grad` and its misspellings) contains it, so a statement whose
 * text does not is skipped without looking at its nodes.
 */
function gradMentions(text: string): number[] {
  const at: number[] = [];
  for (let i = text.indexOf('grad'); i >= 0; i = text.indexOf('grad', i + 4)) at.push(i);
  return at;
}

function mentionsGrad(mentions: readonly number[], from: number, to: number): boolean {
  let lo = 0;
  let hi = mentions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mentions[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < mentions.length && mentions[lo] + 4 <= to;
}

/** One walk over the statements of every unit, collecting the facts that need only syntax and value kinds. */
export function collectFacts(program: Program, kinds: ValueKinds, budget: AnalysisBudget): SyntacticFacts {
  const writes: GradFlagWrite[] = [];
  const comparisons: FlagComparison[] = [];
  program.units.forEach((unit, unitIndex) => {
    const text = unit.text;
    const mentions = gradMentions(text);
    const statement = (stmt: SyntaxNode): void => {
      budget.tick();
      if (!mentionsGrad(mentions, stmt.from, stmt.to)) return;
      if (stmt.name === 'ExpressionStatement') {
        const c = flagComparison(unitIndex, text, stmt);
        if (c) comparisons.push(c);
        return;
      }
      const kids = children(stmt);
      const ops = kids.filter((k) => k.name === 'AssignOp');
      if (ops.length === 0) return;
      const lastOp = ops[ops.length - 1];
      const value = kids[kids.indexOf(lastOp) + 1];
      // `x.requires_grad = ` while the user is still typing: nothing to judge yet, and a fix
      // built from the half-typed statement would be wrong (`requires_grad_()` unfreezes).
      if (!value) return;
      for (const target of kids.slice(0, kids.indexOf(lastOp))) {
        const write = gradFlagWrite(unitIndex, text, stmt, target, value, ops.length > 1, kinds);
        if (write && !containsError(stmt)) writes.push(write);
      }
    };
    forEachStatement(unit.tree.topNode, FACT_STATEMENTS, statement);
  });
  return { gradFlagWrites: writes, flagComparisons: comparisons };
}

function flagComparison(unit: number, text: string, stmt: SyntaxNode): FlagComparison | undefined {
  const expr = stmt.firstChild;
  if (expr?.name !== 'BinaryExpression') return undefined;
  const kids = children(expr);
  const op = kids.find((k) => k.name === 'CompareOp');
  if (!op || nodeText(text, op) !== '==' || kids.length !== 3) return undefined;
  const m = memberParts(kids[0]);
  if (!m?.property) return undefined;
  const attribute = nodeText(text, m.property);
  if (attribute !== 'requires_grad' && !REQUIRES_GRAD_MISSPELLINGS.has(attribute)) return undefined;
  return {
    statement: { unit, from: stmt.from, to: stmt.to },
    operator: { unit, from: op.from, to: op.to },
    receiverText: nodeText(text, m.object),
    valueText: nodeText(text, kids[2]),
  };
}

function gradFlagWrite(
  unit: number,
  text: string,
  stmt: SyntaxNode,
  target: SyntaxNode,
  value: SyntaxNode,
  chained: boolean,
  kinds: ValueKinds,
): GradFlagWrite | undefined {
  const m = memberParts(target);
  if (!m?.property) return undefined;
  const attribute = nodeText(text, m.property);
  if (attribute !== 'requires_grad' && !REQUIRES_GRAD_MISSPELLINGS.has(attribute)) return undefined;
  return {
    statement: { unit, from: stmt.from, to: stmt.to },
    assignment: { unit, from: target.from, to: value.to },
    receiver: { unit, from: m.object.from, to: m.object.to },
    receiverText: nodeText(text, m.object),
    attribute,
    attributeSpan: { unit, from: m.property.from, to: m.property.to },
    valueText: nodeText(text, value),
    chained,
    receiverKind: kinds.of(unit, m.object),
  };
}

/** Whether a parse error lies anywhere inside `node`; iterative, so deep nesting is safe. */
function containsError(node: SyntaxNode): boolean {
  const c = node.cursor();
  let depth = 0;
  for (;;) {
    if (c.type.isError) return true;
    if (c.firstChild()) {
      depth++;
      continue;
    }
    while (depth > 0 && !c.nextSibling()) {
      c.parent();
      depth--;
    }
    if (depth === 0) return false;
  }
}
