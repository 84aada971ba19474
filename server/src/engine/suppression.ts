import type { Span } from '../analysis/facts';
import type { Program } from '../python/program';

/**
 * `# freezelens: ignore[FRZ004, FRZ002]` or `# freezelens: ignore` at the end
 * of the line where a finding starts.
 */
const DIRECTIVE = /#\s*freezelens:\s*ignore(?:\[([^\]]*)\])?/gi;

export function isSuppressed(program: Program, span: Span, ruleId: string): boolean {
  const unit = program.units[span.unit];
  const line = unit.lines.positionAt(span.from).line;
  const lineStart = unit.lines.lineStart(line);
  const lineText = unit.lines.lineText(line);
  for (const m of lineText.matchAll(DIRECTIVE)) {
    // Only a real comment counts, not the same text inside a string literal.
    const node = unit.tree.resolveInner(lineStart + m.index! + 1, 1);
    if (node.name !== 'Comment') continue;
    if (m[1] === undefined) return true;
    const codes = m[1].split(',').map((c) => c.trim().toUpperCase());
    if (codes.includes(ruleId)) return true;
  }
  return false;
}
