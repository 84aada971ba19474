#!/usr/bin/env node
// Runs the labelled rule fixtures (test/fixtures/rules/*.py, *.ipynb) with real
// PyTorch under the runtime oracle (freezelens_oracle.py) and prints, per
// fixture, its labels, the symptoms observed and whether they agree.
//
//   node test/oracle/run-fixtures.mjs                     # every fixture
//   node test/oracle/run-fixtures.mjs frz002_resnet.py    # some (names, stems or paths)
//   node test/oracle/run-fixtures.mjs --json report.json  # also write all results
//
// It installs nothing: PyTorch and torchvision must import under the system
// Python (override with FREEZELENS_PYTHON); scripts/oracle-setup.sh installs
// them on Debian. Each script runs with OMP_NUM_THREADS=2, in its own temp
// directory, with a 60 s timeout, at most 2 at a time.
//
// Also a library: oracle.test.mjs and findings.mjs import loadFixtures,
// runFixtures, evaluate and EVIDENCE (which symptom, located where, backs which rule).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
export const FIXTURE_DIR = join(ROOT, 'test', 'fixtures', 'rules');
export const PYTHON = process.env.FREEZELENS_PYTHON || '/usr/bin/python3';
export const TIMEOUT_MS = Number(process.env.FREEZELENS_ORACLE_TIMEOUT_MS || 60_000);
export const CONCURRENCY = 2;

// ---------------------------------------------------------------------------
// Fixture parsing

const RULE_RE = /FRZ\d{3}\??/g;

/** Labels written in one line's trailing comment: `# expect: FRZ001?, FRZ006  tolerate: FRZ013`. */
function labelsOfLine(text) {
  const hash = text.indexOf('#');
  if (hash < 0) return { expect: [], tolerate: [] };
  const comment = text.slice(hash);
  const grab = (kw) => {
    const m = comment.match(new RegExp(`${kw}:\\s*((?:FRZ\\d{3}\\??[\\s,]*)+)`));
    return m ? [...m[1].matchAll(RULE_RE)].map((x) => x[0]) : [];
  };
  return { expect: grab('expect'), tolerate: grab('tolerate') };
}

/** Turns a notebook into one script: code cells in order, magics blanked, line map kept. */
function notebookToScript(json) {
  const nb = JSON.parse(json);
  const out = [];
  const where = []; // per script line (1-based index - 1): {cell, line}
  let codeIndex = 0;
  nb.cells.forEach((cell, cellIndex) => {
    if (cell.cell_type !== 'code') return;
    const src = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
    out.push(`# %% cell ${cellIndex}`);
    where.push(null);
    src.split('\n').forEach((line, i) => {
      const magic = /^\s*[%!]/.test(line);
      out.push(magic ? `# (magic) ${line.trim()}` : line);
      where.push({ cell: cellIndex, line: i + 1 });
    });
    codeIndex++;
  });
  return { script: out.join('\n') + '\n', where, codeCells: codeIndex };
}

export function parseFixture(file) {
  const name = basename(file);
  const raw = readFileSync(file, 'utf8');
  const isNotebook = extname(file) === '.ipynb';
  const { script, where } = isNotebook ? notebookToScript(raw) : { script: raw, where: null };
  const lines = script.split('\n');
  const labels = [];
  const tolerated = [];
  lines.forEach((text, i) => {
    const { expect, tolerate } = labelsOfLine(text);
    const loc = where ? where[i] : { line: i + 1 };
    for (const r of expect) labels.push({ rule: r.replace('?', ''), optional: r.endsWith('?'), ...loc, scriptLine: i + 1 });
    for (const r of tolerate) tolerated.push({ rule: r.replace('?', ''), ...loc, scriptLine: i + 1 });
  });
  const skip = script.match(/^#\s*oracle:\s*skip\b:?\s*(.*)$/m);
  const doc = script.match(/^\s*(?:#[^\n]*\n|\s)*("""|''')([\s\S]*?)\1/);
  const docstring = doc ? doc[2] : '';
  return {
    file,
    name,
    notebook: isNotebook,
    script,
    // Notebooks: per script line (index = line - 1), its {cell, line} or null.
    lineMap: where,
    labels,
    tolerated,
    clean: labels.length === 0,
    skip: skip ? skip[1].trim() || 'marked skip' : null,
    docstring,
  };
}

/** The script line of a fixture location: `{line}` in a script, `{cell, line}` in a notebook; null if none. */
export function scriptLineOf(fx, loc) {
  if (!fx.notebook) return loc.line;
  const i = fx.lineMap.findIndex((w) => w && w.cell === loc.cell && w.line === loc.line);
  return i < 0 ? null : i + 1;
}

export function loadFixtures(selectors = []) {
  const all = readdirSync(FIXTURE_DIR)
    .filter((f) => /\.(py|ipynb)$/.test(f))
    .sort()
    .map((f) => join(FIXTURE_DIR, f));
  if (selectors.length === 0) return all.map(parseFixture);
  const picked = [];
  for (const s of selectors) {
    const hit = all.filter((f) => f === resolve(s) || basename(f) === s || basename(f).replace(/\.(py|ipynb)$/, '') === s);
    if (hit.length === 0) throw new Error(`no fixture matches ${s}`);
    picked.push(...hit);
  }
  return [...new Set(picked)].map(parseFixture);
}

// ---------------------------------------------------------------------------
// Running

export function checkPython() {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop() || `exit status ${r.status}`;
    throw new Error(
      `The oracle needs PyTorch and torchvision under ${PYTHON}, but \`${PYTHON} -c "import torch, torchvision"\` failed` +
        ` (${why}). Install them with scripts/oracle-setup.sh (Debian: python3-torch python3-torchvision),` +
        ' or point FREEZELENS_PYTHON at a Python that has them.',
    );
  }
}

/**
 * Runs a command to the end, collecting its output; past `timeoutMs` it is
 * killed and reported `timedOut`. Never rejects: a failure is in the result.
 */
export function runProcess(cmd, args, { cwd, env = {}, timeoutMs }) {
  return new Promise((resolvePromise) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => (stderr += `\n${e.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, timedOut, stdout, stderr, ms: Date.now() - started });
    });
  });
}

async function runOne(fx, workRoot) {
  const dir = mkdtempSync(join(workRoot, fx.name.replace(/\W/g, '_') + '-'));
  const scriptPath = join(dir, fx.notebook ? fx.name.replace(/\.ipynb$/, '.py') : fx.name);
  // Notebooks run as their concatenated cells; scripts run in place so that
  // tracebacks point at the fixture itself.
  const target = fx.notebook ? scriptPath : fx.file;
  if (fx.notebook) writeFileSync(scriptPath, fx.script);
  const out = join(dir, 'oracle.json');
  const res = await runProcess(PYTHON, ['-m', 'freezelens_oracle', target], {
    cwd: dir,
    env: {
      OMP_NUM_THREADS: '2',
      MKL_NUM_THREADS: '2',
      // Two runs share two cores: spinning OpenMP workers would slow each other down 5x.
      OMP_WAIT_POLICY: 'PASSIVE',
      PYTHONHASHSEED: '0',
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONPATH: [HERE, process.env.PYTHONPATH].filter(Boolean).join(':'),
      FREEZELENS_ORACLE_OUT: out,
    },
    timeoutMs: TIMEOUT_MS,
  });
  let report = null;
  if (existsSync(out)) {
    try {
      report = JSON.parse(readFileSync(out, 'utf8'));
    } catch {
      report = null;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return { code: res.code, signal: res.signal, timedOut: res.timedOut, ms: res.ms, stdout: res.stdout, stderr: res.stderr, report };
}

export async function runFixtures(fixtures, { concurrency = CONCURRENCY, onResult } = {}) {
  checkPython();
  const workRoot = mkdtempSync(join(tmpdir(), 'freezelens-oracle-'));
  const results = new Map();
  const queue = fixtures.filter((f) => !f.skip);
  const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length > 0) {
      const fx = queue.shift();
      const res = await runOne(fx, workRoot);
      results.set(fx.name, res);
      onResult?.(fx, res);
    }
  });
  await Promise.all(workers);
  rmSync(workRoot, { recursive: true, force: true });
  return results;
}

// ---------------------------------------------------------------------------
// Judging: which symptom confirms which rule, and which rules explain a symptom

const S = (report, kind) => report?.symptoms?.[kind] ?? [];

/**
 * One piece of evidence: `what` names the param or module that showed the
 * symptom; `lines` are the script lines where its cause happened, of the
 * kinds (see "Locations" in freezelens_oracle.py) at which the rule's
 * diagnostic points; null where the oracle could not see where.
 */
const ev = (entries, kinds, key = 'name') =>
  entries.map((e) => {
    const lines = kinds.flatMap((k) => e.where?.[k] ?? []);
    return { what: String(e[key] ?? e.kind), lines: lines.length ? [...new Set(lines)] : null };
  });

/** Per rule: a function from the oracle report to the evidence (a non-empty list) or []. */
export const EVIDENCE = {
  // FRZ001 without `?`: frozen params inside the optimizer really held grads, or
  // were unfrozen later and trained in the head's param group. The diagnostic
  // points at the optimizer construction.
  FRZ001: (r) => [
    ...ev(S(r, 'frozen_grad_in_optimizer'), ['optimizer']),
    ...ev(S(r, 'frozen_changed').filter((e) => e.reason === 'requires_grad_false'), ['optimizer']),
    ...ev(S(r, 'unfrozen_at_head_lr'), ['optimizer']),
  ],
  FRZ002: (r) => ev(S(r, 'frozen_bn_drift'), ['mode'], 'module'),
  FRZ003: (r) => {
    // Heuristic: >= 2 top-level submodules trained, all with the same LRs.
    const lrs = Object.entries(r?.info?.trained_lr ?? {});
    if (lrs.length < 2) return [];
    const first = JSON.stringify(lrs[0][1]);
    return lrs.every(([, v]) => JSON.stringify(v) === first)
      ? lrs.map(([k, v]) => ({ what: `${k}@${v.join('/')}`, lines: null }))
      : [];
  },
  FRZ004: (r) => ev(S(r, 'still_trainable'), ['attribute']),
  FRZ005: (r) => ev(S(r, 'never_updated').filter((e) => !e.in_optimizer && e.had_grad), ['unfreeze']),
  FRZ006: (r) => ev(S(r, 'frozen_changed').filter((e) => e.reason === 'requires_grad_false'), ['freeze']),
  // A comparison used as a statement leaves no trace at run time.
  FRZ007: (r) => ev(S(r, 'still_trainable'), []),
  // The loop that re-enables requires_grad.
  FRZ008: (r) => ev(S(r, 'still_trainable'), ['unfreeze']),
  FRZ009: (r) => ev(S(r, 'never_updated').filter((e) => !e.in_optimizer), ['assigned']),
  // At build: the optimizer construction; at training time: the last freeze.
  FRZ010: (r) => ev(S(r, 'nothing_trainable'), ['optimizer', 'freeze'], 'kind'),
  FRZ011: (r) =>
    ev(S(r, 'frozen_changed').filter((e) => e.reason === 'eval_mode' || e.reason === 'intended'), ['mode', 'attribute']),
  FRZ012: (r) => ev(S(r, 'bn_untracked_train'), ['attribute'], 'module'),
  FRZ013: (r) => ev(S(r, 'frozen_dropout_train'), ['mode'], 'module'),
  FRZ014: (r) => ev(S(r, 'never_updated').filter((e) => e.in_optimizer && !e.had_grad), ['no_grad']),
  FRZ015: (r) => {
    // Heuristic: some top-level submodule trained at a higher LR than the last one
    // (the head, registered last).
    const lrs = r?.info?.trained_lr_order ?? [];
    if (lrs.length < 2) return [];
    const [headName, headLrs] = lrs[lrs.length - 1];
    const headMax = Math.max(...headLrs);
    return lrs
      .slice(0, -1)
      .filter(([, v]) => Math.max(...v) > headMax)
      .map(([k, v]) => ({ what: `${k}@${v.join('/')} > ${headName}@${headMax}`, lines: null }));
  },
  // A name filter matching nothing: what was meant to be frozen still trains, or
  // what was meant to stay trainable got frozen with everything else.
  FRZ016: (r) => [...ev(S(r, 'still_trainable'), []), ...ev(S(r, 'nothing_trainable'), [], 'kind')],
  FRZ017: (r) => ev(S(r, 'ddp_requires_grad_changed'), ['requires_grad']),
};

/** Per rule: the names of what showed its symptom (a non-empty list confirms a label). */
export const CONFIRM = Object.fromEntries(
  Object.entries(EVIDENCE).map(([rule, fn]) => [rule, (r) => fn(r).map((e) => e.what)]),
);

/**
 * FRZ001 in its harmless form (`FRZ001?`, information level): an optimizer
 * merely holds frozen params. Evidence: those optimizers, located where they
 * were built or given groups.
 */
export function frozenInOptimizerEvidence(r) {
  const opts = r?.info?.optimizers ?? [];
  const idx = new Set(r?.info?.frozen_in_optimizer_grad_none?.optimizers ?? []);
  const held = opts
    .filter((o) => o.n_frozen_at_build > 0 || idx.has(o.index))
    .map((o) => ({ what: `${o.class}#${o.index}`, lines: o.lines?.length ? o.lines : null }));
  return [...held, ...EVIDENCE.FRZ001(r)];
}
const frozenInOptimizer = (r) => frozenInOptimizerEvidence(r).length > 0;

/** Which rules explain each observed symptom; a symptom no label explains is a finding the labels miss. */
function explainers(kind, entry) {
  switch (kind) {
    case 'frozen_changed':
      if (entry.reason === 'requires_grad_false') return ['FRZ006', 'FRZ001'];
      if (entry.reason === 'eval_mode') return ['FRZ011'];
      return ['FRZ004', 'FRZ007', 'FRZ008', 'FRZ011', 'FRZ016'];
    case 'frozen_grad_in_optimizer':
      return ['FRZ001', 'FRZ006'];
    case 'frozen_bn_drift':
      return ['FRZ002'];
    case 'never_updated':
      if (entry.in_optimizer && !entry.had_grad) return ['FRZ014'];
      if (!entry.in_optimizer) return ['FRZ005', 'FRZ009'];
      return [];
    case 'still_trainable':
      return ['FRZ004', 'FRZ007', 'FRZ008', 'FRZ016'];
    case 'nothing_trainable':
      return ['FRZ010', 'FRZ016'];
    case 'bn_untracked_train':
      return ['FRZ012'];
    case 'frozen_dropout_train':
      return ['FRZ013'];
    case 'ddp_requires_grad_changed':
      return ['FRZ017'];
    case 'unfrozen_at_head_lr':
      return ['FRZ001', 'FRZ003'];
    default:
      return [];
  }
}

// Rules whose mechanism is a crash: the fixture may exit non-zero.
const CRASH_RULES = new Set(['FRZ010', 'FRZ017']);
// Rules checked by a heuristic over the LRs each top-level submodule trained
// with: a miss is a note, not a failure.
export const HEURISTIC_RULES = new Set(['FRZ003', 'FRZ015']);

/**
 * Judges one fixture's run. Returns
 *   {ok, problems, run, unconfirmed, unexplained, confirmed, notes}
 * where problems = run + unconfirmed + unexplained:
 * - run: the script timed out, wrote no report, crashed (allowed only when a
 *   crash is its labelled mechanism: FRZ010, FRZ017), the oracle itself
 *   failed, or a clean fixture took no optimizer step;
 * - unconfirmed: a label whose rule has a runtime symptom that did not occur
 *   (FRZ001 without `?` needs frozen params holding grads; `FRZ001?` only needs
 *   frozen params in an optimizer), or occurred with every cause located on
 *   other lines than the label's (a label without `scriptLine` is not placed);
 * - unexplained: an observed symptom that no `expect:` or `tolerate:` label
 *   explains; for a clean fixture, any symptom at all.
 */
export function evaluate(fx, res) {
  const run = [];
  const unconfirmed = [];
  const unexplained = [];
  const confirmed = [];
  const notes = [];
  const done = () => {
    const problems = [...run, ...unconfirmed, ...unexplained];
    return { ok: problems.length === 0, problems, run, unconfirmed, unexplained, confirmed, notes };
  };
  if (!res) {
    run.push('not run');
    return done();
  }
  const r = res.report;
  if (res.timedOut) run.push(`timed out after ${TIMEOUT_MS / 1000}s`);
  if (!r) {
    run.push(`no oracle report (exit ${res.code}${res.signal ? ', ' + res.signal : ''}): ${tail(res.stderr)}`);
    return done();
  }
  if (r.oracle_errors?.length) run.push(`oracle internal errors: ${r.oracle_errors.join('; ')}`);
  const rules = new Set(fx.labels.map((l) => l.rule));
  const allowed = new Set([...rules, ...fx.tolerated.map((t) => t.rule)]);
  const crashOk = [...rules].some((x) => CRASH_RULES.has(x));
  if (res.code !== 0 && !crashOk) run.push(`exited ${res.code}: ${r.exit?.exception ?? tail(res.stderr)}`);
  if (fx.clean && r.steps === 0) run.push('clean fixture took no optimizer step');

  for (const l of fx.labels) {
    const where = l.cell !== undefined ? `cell ${l.cell} line ${l.line}` : `line ${l.line}`;
    if (l.optional) {
      if (l.rule === 'FRZ001') {
        if (frozenInOptimizer(r)) confirmed.push(`${l.rule}? @${where}: optimizer holds frozen params`);
        else unconfirmed.push(`${l.rule}? @${where}: no optimizer holds a frozen param`);
      }
      continue;
    }
    const fn = EVIDENCE[l.rule];
    if (!fn) {
      notes.push(`${l.rule} @${where}: no runtime symptom (static only)`);
      continue;
    }
    const found = fn(r);
    // Labels sit where the diagnostic should point, i.e. at the cause. Where the
    // oracle located every cause, one of them must be on the label's line.
    const located = found.filter((e) => e.lines);
    const causes = [...new Set(located.flatMap((e) => e.lines))].sort((a, b) => a - b);
    if (found.length > 0 && l.scriptLine != null && located.length === found.length && !causes.includes(l.scriptLine)) {
      unconfirmed.push(`${l.rule} @${where}: symptom observed, but caused at script line(s) ${causes.join(', ')}`);
    } else if (found.length > 0) confirmed.push(`${l.rule} @${where}: ${summarize(found.map((e) => e.what))}`);
    else if (HEURISTIC_RULES.has(l.rule)) notes.push(`${l.rule} @${where}: LR heuristic not met (check by hand)`);
    else unconfirmed.push(`${l.rule} @${where}: symptom not observed`);
  }

  for (const [kind, entries] of Object.entries(r.symptoms ?? {})) {
    const bad = entries.filter((e) => !explainers(kind, e).some((rule) => allowed.has(rule)));
    if (bad.length > 0) {
      unexplained.push(
        `${fx.clean ? 'clean fixture shows' : 'unlabelled symptom'} ${kind}: ` +
          summarize(bad.map((e) => e.name ?? e.module ?? e.kind ?? JSON.stringify(e))),
      );
    }
  }
  return done();
}

function summarize(list, n = 4) {
  const uniq = [...new Set(list.map(String))];
  return uniq.slice(0, n).join(', ') + (uniq.length > n ? ` (+${uniq.length - n} more)` : '');
}

function tail(text, n = 300) {
  const t = (text || '').trim();
  return t.length > n ? '…' + t.slice(-n) : t;
}

// ---------------------------------------------------------------------------
// CLI

function describe(fx, res, verdict) {
  const lines = [];
  const head = res
    ? `${verdict.ok ? 'ok  ' : 'FAIL'} ${fx.name}  (${(res.ms / 1000).toFixed(1)}s, ${res.report?.steps ?? '?'} steps${res.code ? `, exit ${res.code}` : ''})`
    : `skip ${fx.name}  (${fx.skip})`;
  lines.push(head);
  const lab = fx.labels.map((l) => `${l.rule}${l.optional ? '?' : ''}@${l.cell !== undefined ? `c${l.cell}:` : 'L'}${l.line}`);
  const tol = fx.tolerated.map((t) => `${t.rule}@${t.cell !== undefined ? `c${t.cell}:` : 'L'}${t.line}`);
  lines.push(`     labels: ${fx.clean ? 'clean' : lab.join(' ')}${tol.length ? `  tolerate: ${tol.join(' ')}` : ''}`);
  if (!res) return lines.join('\n');
  const r = res.report;
  if (r) {
    const obs = Object.entries(r.symptoms)
      .filter(([, v]) => v.length)
      .map(([k, v]) => `${k}=${v.length} [${summarize(v.map((e) => e.name ?? e.module ?? e.kind), 3)}]`);
    lines.push(`     symptoms: ${obs.length ? obs.join('; ') : 'none'}`);
    const opts = (r.info.optimizers ?? []).map(
      (o) =>
        `${o.class}@L${o.line ?? '?'} lr=[${o.groups.map((g) => g.lr).join(',')}] frozen-at-build=${o.n_frozen_at_build}`,
    );
    const lrs = Object.entries(r.info.trained_lr ?? {}).map(([k, v]) => `${k}:${v.join('/')}`);
    lines.push(`     info: ${opts.join('; ') || 'no optimizer'}${lrs.length ? ` | trained lr ${lrs.join(' ')}` : ''}`);
    if (!r.exit.ok) lines.push(`     exit: ${r.exit.exception}${r.exit.line ? ` (line ${r.exit.line})` : ''}`);
  }
  for (const c of verdict.confirmed) lines.push(`     confirmed ${c}`);
  for (const n of verdict.notes) lines.push(`     note ${n}`);
  for (const p of verdict.problems) lines.push(`     PROBLEM ${p}`);
  return lines.join('\n');
}

async function main(argv) {
  let jsonOut = null;
  const selectors = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') jsonOut = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node test/oracle/run-fixtures.mjs [--json out.json] [fixture ...]');
      return 0;
    } else selectors.push(argv[i]);
  }
  try {
    checkPython();
  } catch (e) {
    console.error(`error: ${e.message}`);
    return 2;
  }
  const fixtures = loadFixtures(selectors);
  const t0 = Date.now();
  const verdicts = new Map();
  const results = await runFixtures(fixtures, {
    onResult: (fx, res) => {
      const v = evaluate(fx, res);
      verdicts.set(fx.name, v);
      console.log(describe(fx, res, v));
    },
  });
  for (const fx of fixtures.filter((f) => f.skip)) console.log(describe(fx, null, null));

  // Summary: fixtures per rule.
  const perRule = {};
  for (const fx of fixtures) {
    for (const rule of new Set(fx.labels.map((l) => l.rule + (l.optional ? '?' : '')))) {
      perRule[rule] = (perRule[rule] ?? 0) + 1;
    }
  }
  const clean = fixtures.filter((f) => f.clean).length;
  const failed = [...verdicts.entries()].filter(([, v]) => !v.ok).map(([n]) => n);
  console.log('');
  console.log(`fixtures: ${fixtures.length} (${clean} clean, ${fixtures.length - clean} with findings, ${fixtures.filter((f) => f.skip).length} skipped)`);
  console.log(
    'fixtures per label: ' +
      Object.keys(perRule)
        .sort()
        .map((k) => `${k}=${perRule[k]}`)
        .join(' '),
  );
  console.log(`oracle time: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  console.log(failed.length ? `FAILED (${failed.length}): ${failed.join(', ')}` : 'all labels confirmed, all clean fixtures silent');
  if (jsonOut) {
    const dump = fixtures.map((fx) => ({
      fixture: fx.name,
      clean: fx.clean,
      skip: fx.skip,
      labels: fx.labels,
      tolerated: fx.tolerated,
      exitCode: results.get(fx.name)?.code ?? null,
      ms: results.get(fx.name)?.ms ?? null,
      report: results.get(fx.name)?.report ?? null,
      verdict: verdicts.get(fx.name) ?? null,
    }));
    mkdirSync(dirname(resolve(jsonOut)), { recursive: true });
    writeFileSync(jsonOut, JSON.stringify(dump, null, 1));
  }
  return failed.length ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
