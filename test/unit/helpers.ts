import { spawnSync } from 'node:child_process';
import { checkProgram } from '../../server/src/engine/check';
import { DEFAULT_CONFIG, type EffectiveConfig } from '../../server/src/config/config';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import type { Finding, Fix } from '../../server/src/rules/types';

/** Checks one script and returns findings with 1-based lines, for readable assertions. */
export function check(source: string, config: EffectiveConfig = DEFAULT_CONFIG) {
  const unit = new SourceUnit('test.py', source);
  const result = checkProgram({ id: 'test.py', units: [unit] }, config);
  return {
    unit,
    notes: result.notes,
    findings: result.findings.map((f) => ({ ...f, line: unit.lines.positionAt(f.span.from).line + 1 })),
  };
}

/** Applies one fix to a single-unit source and returns the new text. */
export function applyFix(source: string, fix: Fix): string {
  const edits = [...fix.edits].sort((a, b) => b.span.from - a.span.from);
  let text = source;
  for (const e of edits) text = text.slice(0, e.span.from) + e.newText + text.slice(e.span.to);
  return text;
}

export function preferredFix(f: Finding): Fix | undefined {
  return f.fixes.find((x) => x.preferred);
}

/** Dedents a template literal so fixtures read like the Python they are. */
export function py(strings: TemplateStringsArray, ...values: unknown[]): string {
  const raw = strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '');
  const lines = raw.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** Whether CPython compiles the text: a quick fix must leave code that runs. */
export function pythonCompiles(source: string): boolean {
  return spawnSync('python3', ['-c', 'import sys; compile(sys.stdin.read(), "fixed.py", "exec")'], { input: source }).status === 0;
}
