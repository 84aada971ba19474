// FreezeLens's own findings against real PyTorch: runs the CLI over the rule
// fixtures and judges every finding by the runtime symptoms that the oracle
// (run-fixtures.mjs) observed for that fixture.
//
// Precision against behaviour: a finding of a rule with a runtime symptom must
// be backed by that symptom, where the oracle knows the cause's location at the
// finding's line. Recall is only reported: how many of the labelled symptoms
// that really occurred FreezeLens found.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { CONFIRM, EVIDENCE, HEURISTIC_RULES, ROOT, frozenInOptimizerEvidence, scriptLineOf } from './run-fixtures.mjs';

const CLI_BUNDLE = join(ROOT, 'dist', 'cli', 'freezelens.js');
const CLI = join(ROOT, 'bin', 'freezelens.js');

/** Bundles dist/ (`npm run build`) when the CLI is missing or older than a source file under server/src. */
export function ensureCliBuilt() {
  const built = existsSync(CLI_BUNDLE) ? statSync(CLI_BUNDLE).mtimeMs : 0;
  const src = join(ROOT, 'server', 'src');
  const stale = readdirSync(src, { recursive: true }).some((f) => statSync(join(src, f)).mtimeMs > built);
  if (!stale) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
}

/**
 * Runs `freezelens check --format json` once over the fixtures. They are copied
 * into a temp dir next to a requirements.txt that pins the torch the oracle
 * ran (`torchVersion`, e.g. "1.13.0"): the analysis depends on the version
 * for zero_grad()'s default, and must judge the same torch that ran. The copy
 * also keeps the repository's own configuration out.
 *
 * Returns {findings: Map<fixture name, finding[]>, implemented: Set<rule id>}.
 */
export function runFreezeLens(fixtures, torchVersion) {
  ensureCliBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'freezelens-cli-'));
  try {
    for (const fx of fixtures) copyFileSync(fx.file, join(dir, fx.name));
    const pin = /^(\d+)\.(\d+)/.exec(torchVersion ?? '');
    if (pin) writeFileSync(join(dir, 'requirements.txt'), `torch==${pin[1]}.${pin[2]}\n`);
    const cli = (args) => {
      const r = spawnSync(process.execPath, [CLI, 'check', ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
      // Exit status 1 only means "findings".
      if (r.status !== 0 && r.status !== 1) throw new Error(`freezelens check exited ${r.status}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    const json = cli(['--format', 'json', ...fixtures.map((fx) => fx.name)]);
    if (json.errors.length) throw new Error(`freezelens check could not read: ${JSON.stringify(json.errors)}`);
    const findings = new Map(fixtures.map((fx) => [fx.name, []]));
    for (const f of json.findings) findings.get(basename(f.path))?.push(f);
    // The rules the CLI implements: SARIF lists them all, findings or not.
    const sarif = cli(['--format', 'sarif', fixtures[0].name]);
    const implemented = new Set(sarif.runs[0].tool.driver.rules.map((r) => r.id));
    return { findings, implemented };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HARMLESS = new Set(['information', 'hint']);

/** The rule a finding claims: FRZ001 at information level claims only that the optimizer holds frozen params. */
export const claimOf = (f) => (f.rule === 'FRZ001' && HARMLESS.has(f.severity) ? 'FRZ001 (info)' : f.rule);

/** The script lines a finding covers (a notebook finding: mapped through its cell). */
function findingLines(fx, f) {
  const at = (line, cell) =>
    cell ? scriptLineOf(fx, { cell: cell.index, line: cell.line }) : scriptLineOf(fx, { line });
  const first = at(f.line, f.cell);
  if (first === null) return [];
  // A notebook finding's end is a line of the .ipynb file; keep to its first line there.
  const last = f.cell ? first : Math.max(first, f.endLine ?? first);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * Judges one fixture's findings. Each gets a status:
 *   line        backed: the symptom's cause happened on the finding's line(s)
 *   file        backed: the symptom occurred, and the oracle cannot locate its cause
 *   not-run     the finding's lines never ran (the script stopped before), so
 *               no symptom could be observed either way
 *   heuristic   FRZ003 / FRZ015: no hard runtime symptom; not judged
 *   static      a rule with no runtime symptom; not judged
 *   elsewhere   FAIL: the symptom occurred, but its causes are on other lines
 *   unbacked    FAIL: no symptom of the rule at all
 *   no-report   FAIL: the oracle has no report for the fixture
 * Returns {judged: [{finding, claim, lines, status, detail}], failures: [string]}.
 */
export function judgeFindings(fx, res, findings) {
  const judged = [];
  const report = res?.report ?? null;
  const executed = new Set(report?.executed_lines ?? []);
  for (const f of findings) {
    const claim = claimOf(f);
    const lines = findingLines(fx, f);
    const at = f.cell ? `cell ${f.cell.index} line ${f.cell.line}` : `line ${f.line}`;
    const judge = (status, detail = '') => judged.push({ finding: f, claim, at, lines, status, detail });
    if (HEURISTIC_RULES.has(f.rule)) {
      judge('heuristic');
      continue;
    }
    const fn = claim === 'FRZ001 (info)' ? frozenInOptimizerEvidence : EVIDENCE[f.rule];
    if (!fn) {
      judge('static');
      continue;
    }
    if (!report) {
      judge('no-report');
      continue;
    }
    const evidence = fn(report);
    const located = evidence.filter((e) => e.lines);
    const hit = located.filter((e) => e.lines.some((l) => lines.includes(l)));
    const ran = lines.some((l) => executed.has(l));
    if (hit.length) judge('line', hit.map((e) => e.what));
    else if (evidence.length > located.length) judge('file', evidence.filter((e) => !e.lines).map((e) => e.what));
    else if (!ran) judge('not-run');
    else if (evidence.length) judge('elsewhere', `caused at line(s) ${[...new Set(located.flatMap((e) => e.lines))].sort((a, b) => a - b).join(', ')}`);
    else judge('unbacked');
  }
  const failures = judged
    .filter((j) => ['elsewhere', 'unbacked', 'no-report'].includes(j.status))
    .map((j) => `${j.claim} @${j.at} ${j.status}${j.detail ? ` (${j.detail})` : ''}: ${j.finding.message.slice(0, 160)}`);
  return { judged, failures };
}

/**
 * Recall: each required label whose symptom the oracle confirmed, and whether
 * FreezeLens reported its rule there (`found`), only on another line of the
 * file (`other-line`), or not at all (`missed`). Labels of rules the CLI does
 * not implement yet count as `not-implemented`.
 */
export function recallOf(fx, res, findings, implemented) {
  const out = [];
  const report = res?.report;
  for (const l of fx.labels) {
    if (l.optional || !CONFIRM[l.rule] || !report || CONFIRM[l.rule](report).length === 0) continue;
    const at = l.cell !== undefined ? `cell ${l.cell} line ${l.line}` : `line ${l.line}`;
    const same = findings.filter((f) => f.rule === l.rule);
    const here = same.filter((f) => (f.cell ? f.cell.index === l.cell && f.cell.line === l.line : f.line === l.line));
    let status;
    if (!implemented.has(l.rule)) status = 'not-implemented';
    else if (here.length) status = 'found';
    else if (same.length) status = 'other-line';
    else status = 'missed';
    // A harmful FRZ001 reported at information level understates it.
    const note = l.rule === 'FRZ001' && here.length && here.every((f) => HARMLESS.has(f.severity)) ? 'reported as information' : '';
    out.push({ fixture: fx.name, rule: l.rule, at, status, note });
  }
  return out;
}

/** The per-rule table of findings vs symptoms, as text. */
export function formatTable(judged, recall) {
  const COUNTS = ['findings', 'line', 'file', 'not-run', 'not-judged', 'fail', 'labels', 'found', 'other-line', 'missed', 'not-implemented'];
  const rows = new Map();
  const row = (k) => rows.get(k) ?? rows.set(k, Object.fromEntries(COUNTS.map((c) => [c, 0]))).get(k);
  for (const j of judged) {
    const r = row(j.claim);
    r.findings++;
    if (j.status === 'line' || j.status === 'file' || j.status === 'not-run') r[j.status]++;
    else if (j.status === 'heuristic' || j.status === 'static') r['not-judged']++;
    else r.fail++;
  }
  for (const l of recall) {
    const r = row(l.rule);
    r.labels++;
    r[l.status]++;
  }
  const total = Object.fromEntries(COUNTS.map((c) => [c, [...rows.values()].reduce((n, r) => n + r[c], 0)]));
  const header = ['rule', 'findings', 'backed@line', 'backed@file', 'not run', 'not judged', 'UNBACKED',
    'symptoms labelled', 'found', 'other line', 'missed', 'not impl.'];
  const cells = [header, ...[...rows.keys()].sort().map((k) => [k, ...COUNTS.map((c) => String(rows.get(k)[c]))]),
    ['all', ...COUNTS.map((c) => String(total[c]))]];
  const width = header.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return cells.map((c) => c.map((v, i) => (i === 0 ? v.padEnd(width[i]) : v.padStart(width[i]))).join('  ')).join('\n');
}
