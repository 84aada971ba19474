// Runs every labelled fixture in test/fixtures/rules through the core and
// compares the findings with the labels, exactly: rule and line. It prints a
// per-rule precision/recall table and asserts the overall targets, and every
// clean fixture must be silent. The label format is in the fixtures' README.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadFile } from '../../server/src/cli/files';
import { checkProgram } from '../../server/src/engine/check';
import { DEFAULT_CONFIG } from '../../server/src/config/config';
import { readNotebook } from '../../server/src/python/notebook';
import { RULES } from '../../server/src/rules';

const DIR = path.resolve(__dirname, '../../../test/fixtures/rules');

interface Label {
  required: Set<string>;
  optional: Set<string>;
  tolerated: Set<string>;
}

/** Labels keyed by location: "12" in a script, "3:5" (cell index : line in cell) in a notebook. */
function readLabels(file: string): Map<string, Label> {
  const labels = new Map<string, Label>();
  const scan = (key: (i: number) => string, text: string) => {
    text.split('\n').forEach((line, i) => {
      const expect = /#.*?\bexpect:\s*((?:FRZ\d{3}\??\s*,?\s*)+)/.exec(line);
      const tolerate = /#.*?\btolerate:\s*((?:FRZ\d{3}\s*,?\s*)+)/.exec(line);
      if (!expect && !tolerate) return;
      const l: Label = { required: new Set(), optional: new Set(), tolerated: new Set() };
      for (const code of expect?.[1].match(/FRZ\d{3}\??/g) ?? []) {
        if (code.endsWith('?')) l.optional.add(code.slice(0, -1));
        else l.required.add(code);
      }
      for (const code of tolerate?.[1].match(/FRZ\d{3}/g) ?? []) l.tolerated.add(code);
      labels.set(key(i), l);
    });
  };
  const text = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.ipynb')) {
    for (const cell of readNotebook(text)) scan((i) => `${cell.index}:${i + 1}`, cell.source);
  } else scan((i) => String(i + 1), text);
  return labels;
}

function torchVersionOf(file: string) {
  const m = /#\s*torch-version:\s*(\d+)\.(\d+)/.exec(fs.readFileSync(file, 'utf8'));
  return m ? { major: Number(m[1]), minor: Number(m[2]), source: 'fixture header' } : undefined;
}

interface Tally {
  tp: number;
  fp: number;
  fn: number;
}

const fixtures = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.py') || f.endsWith('.ipynb'))
  .sort();

const perRule = new Map<string, Tally>();
const tally = (rule: string) => {
  let t = perRule.get(rule);
  if (!t) perRule.set(rule, (t = { tp: 0, fp: 0, fn: 0 }));
  return t;
};
const mismatches: string[] = [];
const IMPLEMENTED = new Set(RULES.map((r) => r.meta.id));

test('there are at least 80 fixtures and a third of them are clean', () => {
  assert.ok(fixtures.length >= 80, `${fixtures.length} fixtures`);
  const clean = fixtures.filter((f) => f.startsWith('clean_')).length;
  assert.ok(clean * 3 >= fixtures.length, `${clean} clean of ${fixtures.length}`);
  assert.ok(fixtures.some((f) => f.endsWith('.ipynb')), 'notebooks are among the fixtures');
});

for (const name of fixtures) {
  test(`fixture ${name}`, () => {
    const file = path.join(DIR, name);
    const loaded = loadFile(file);
    const result = checkProgram(loaded.program, DEFAULT_CONFIG, { torchVersion: torchVersionOf(file) });
    const labels = readLabels(file);
    const got = new Set<string>();
    const problems: string[] = [];
    for (const f of result.findings) {
      const loc = loaded.locate(f.span);
      const key = loc.cell ? `${loc.cell.index}:${loc.cell.line}` : String(loc.line);
      got.add(`${f.ruleId}@${key}`);
    }
    for (const item of got) {
      const [rule, key] = item.split('@');
      const l = labels.get(key);
      if (l?.required.has(rule)) tally(rule).tp++;
      else if (l?.optional.has(rule) || l?.tolerated.has(rule)) continue;
      else {
        tally(rule).fp++;
        problems.push(`unexpected ${rule} at ${key}`);
      }
    }
    for (const [key, l] of labels) {
      for (const rule of l.required) {
        // Labels for rules that have not landed yet (FRZ016 needs model knowledge) are not scored.
        if (!IMPLEMENTED.has(rule)) continue;
        if (got.has(`${rule}@${key}`)) continue;
        tally(rule).fn++;
        problems.push(`missed ${rule} at ${key}`);
      }
    }
    if (problems.length) mismatches.push(`${name}: ${problems.join('; ')}`);
    if (name.startsWith('clean_')) assert.deepEqual(problems, [], `clean fixture reported findings`);
  });
}

test('precision ≥ 0.95 and recall ≥ 0.85 over all fixtures', () => {
  const rows = [...perRule.entries()].sort(([a], [b]) => a.localeCompare(b));
  const total: Tally = { tp: 0, fp: 0, fn: 0 };
  const ratio = (a: number, b: number) => (b === 0 ? '—' : (a / b).toFixed(2));
  const lines = ['rule     tp  fp  fn  precision  recall'];
  for (const [rule, t] of rows) {
    total.tp += t.tp;
    total.fp += t.fp;
    total.fn += t.fn;
    lines.push(`${rule}  ${String(t.tp).padStart(3)} ${String(t.fp).padStart(3)} ${String(t.fn).padStart(3)}  ${ratio(t.tp, t.tp + t.fp).padStart(9)}  ${ratio(t.tp, t.tp + t.fn).padStart(6)}`);
  }
  const precision = total.tp / (total.tp + total.fp);
  const recall = total.tp / (total.tp + total.fn);
  lines.push(`all     ${String(total.tp).padStart(3)} ${String(total.fp).padStart(3)} ${String(total.fn).padStart(3)}  ${precision.toFixed(3).padStart(9)}  ${recall.toFixed(3).padStart(6)}`);
  console.log(lines.join('\n'));
  if (mismatches.length) console.log(`mismatches:\n  ${mismatches.join('\n  ')}`);
  assert.ok(precision >= 0.95, `precision ${precision.toFixed(3)}`);
  assert.ok(recall >= 0.85, `recall ${recall.toFixed(3)}`);
});
