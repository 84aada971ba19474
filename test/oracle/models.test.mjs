// Static model trees against real PyTorch: for every model call named in the
// fixtures of test/fixtures/models/, builds the model with torch
// (model_tree.py) and asks FreezeLens for the same tree
// (`freezelens models FILE --call CALL --format json`), then checks
//   - `# oracle: CALL` lines: the static tree is exact: the same module paths
//     in the same (named_modules) order and nesting, the same class, own
//     params and own buffers at every path, the same total and trainable
//     param counts;
//   - `# oracle-unknown: CALL` lines (sizes read from files or the environment,
//     layers from code outside the project, getattr / eval): the total is
//     unknown (null), every static path exists in torch's tree, and every
//     count the static side does give equals torch's;
//   - that the fixture set is big enough: >= 40 exact calls, >= 6 unknown
//     ones, >= 45 classes.
// It prints a table of static vs torch totals per call.
//
//   npm run test:oracle                                    (with the rule oracle)
//   node --test test/oracle/models.test.mjs                (about 1 min on 2 cores)
//   FREEZELENS_MODELS_ONLY=vision.py,blocks node --test test/oracle/models.test.mjs
//
// Each fixture file is imported once by Python (torch's import costs ~2 s),
// building all its calls; the fixture folder is the working directory and
// the import root, on both sides. Needs torch + torchvision under
// /usr/bin/python3 or FREEZELENS_PYTHON (scripts/oracle-setup.sh).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';

import { ensureCliBuilt } from './findings.mjs';
import { PYTHON, ROOT, checkPython, runProcess } from './run-fixtures.mjs';

export const MODEL_DIR = join(ROOT, 'test', 'fixtures', 'models');
const DUMPER = join(ROOT, 'test', 'oracle', 'model_tree.py');
const CLI = join(ROOT, 'bin', 'freezelens.js');
const CONCURRENCY = 2;
const PY_TIMEOUT_MS = Number(process.env.FREEZELENS_ORACLE_TIMEOUT_MS || 180_000);
const CLI_TIMEOUT_MS = 60_000;
const HOUR = 60 * 60 * 1000;
const ONLY = (process.env.FREEZELENS_MODELS_ONLY ?? '').split(',').filter(Boolean);

// ---------------------------------------------------------------------------
// Fixtures

const DIRECTIVE = /^#\s*(oracle|oracle-unknown):\s*(.+?)\s*$/;

/** Every top-level *.py of the folder: its calls ({call, unknown}) and the classes it defines. */
export function loadModelFixtures(selectors = []) {
  const files = readdirSync(MODEL_DIR).filter((f) => f.endsWith('.py')).sort();
  const picked = selectors.length
    ? files.filter((f) => selectors.some((s) => s === f || s === f.replace(/\.py$/, '') || basename(s) === f))
    : files;
  for (const s of selectors) {
    if (!files.some((f) => s === f || s === f.replace(/\.py$/, '') || basename(s) === f)) {
      throw new Error(`no model fixture matches ${s}`);
    }
  }
  return picked.map((name) => {
    const text = readFileSync(join(MODEL_DIR, name), 'utf8');
    const calls = [];
    for (const line of text.split('\n')) {
      const m = DIRECTIVE.exec(line);
      if (m) calls.push({ file: name, call: m[2], unknown: m[1] === 'oracle-unknown' });
    }
    const classes = [...text.matchAll(/^class\s+(\w+)/gm)].map((m) => m[1]);
    return { name, file: join(MODEL_DIR, name), calls, classes };
  });
}

// ---------------------------------------------------------------------------
// Running

function run(cmd, args, { env = {}, timeoutMs }) {
  return runProcess(cmd, args, { cwd: MODEL_DIR, env, timeoutMs });
}

/** Runs `fn` over `items`, `n` at a time. */
async function pool(items, n, fn) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(n, queue.length) }, async () => {
      while (queue.length) await fn(queue.shift());
    }),
  );
}

const firstLine = (text) =>
  (text || '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';

/**
 * Builds every call of every fixture with torch: one Python process per file.
 * Returns Map<key, {ok: true, json} | {ok: false, error}>.
 */
async function runTorch(fixtures) {
  const results = new Map();
  await pool(fixtures, CONCURRENCY, async (fx) => {
    const res = await run(PYTHON, [DUMPER, fx.file, ...fx.calls.map((c) => c.call)], {
      env: {
        OMP_NUM_THREADS: '2',
        MKL_NUM_THREADS: '2',
        OMP_WAIT_POLICY: 'PASSIVE',
        PYTHONHASHSEED: '0',
        PYTHONDONTWRITEBYTECODE: '1',
      },
      timeoutMs: PY_TIMEOUT_MS,
    });
    const lines = res.stdout.split('\n').filter((l) => l.trim());
    fx.calls.forEach((c, i) => {
      let out;
      try {
        out = lines[i] === undefined ? undefined : JSON.parse(lines[i]);
      } catch {
        out = undefined;
      }
      if (out?.models) results.set(key(c), { ok: true, json: out });
      else if (out?.error) results.set(key(c), { ok: false, error: `${out.error}\n${out.traceback ?? ''}` });
      else {
        const why = res.timedOut ? `timed out after ${PY_TIMEOUT_MS / 1000}s` : `exit ${res.code}${res.signal ? `, ${res.signal}` : ''}`;
        results.set(key(c), { ok: false, error: `model_tree.py ${fx.name} printed no result (${why}): ${res.stderr.trim().slice(-800)}` });
      }
    });
  });
  return results;
}

/** `freezelens models FILE --call CALL --format json` for every call. Returns Map<key, {ok, json} | {ok: false, error}>. */
async function runStatic(calls) {
  const results = new Map();
  await pool(calls, CONCURRENCY, async (c) => {
    const res = await run(process.execPath, [CLI, 'models', c.file, '--call', c.call, '--format', 'json'], {
      timeoutMs: CLI_TIMEOUT_MS,
    });
    if (res.timedOut) {
      results.set(key(c), { ok: false, error: `freezelens models timed out after ${CLI_TIMEOUT_MS / 1000}s` });
    } else if (res.code !== 0) {
      // Exit status 2 is a usage error: a CLI without the `models` verb or its options ends here.
      const why = firstLine(res.stderr) || firstLine(res.stdout) || '(no output)';
      const usage = res.code === 2 ? ' (usage error)' : '';
      results.set(key(c), { ok: false, error: `freezelens models exited ${res.code}${usage}${res.signal ? ` (${res.signal})` : ''}: ${why}` });
    } else {
      try {
        results.set(key(c), { ok: true, json: JSON.parse(res.stdout) });
      } catch (e) {
        results.set(key(c), { ok: false, error: `freezelens models printed no JSON (${e.message}): ${res.stdout.slice(0, 300)}` });
      }
    }
  });
  return results;
}

const key = (c) => `${c.file} ${c.call}`;

/** A failed `npm run build` in a few lines: esbuild's summary lines ("file:line:col: ERROR: ..."), once each. */
function buildFailure(e) {
  const msg = String(e?.message ?? e);
  const errors = [...new Set(msg.split('\n').filter((l) => /^\S+:\d+:\d+: ERROR: /.test(l.trim())).map((l) => l.trim()))];
  if (!errors.length) return `could not build the CLI: ${msg.slice(0, 1500)}`;
  return `could not build the CLI (npm run build):\n  ${errors.slice(0, 8).join('\n  ')}${errors.length > 8 ? `\n  (+${errors.length - 8} more)` : ''}`;
}

// ---------------------------------------------------------------------------
// Judging

/** The nodes of a tree in pre-order (the named_modules order). */
function flatten(root) {
  const out = [];
  const walk = (n) => {
    out.push(n);
    for (const c of n.children ?? []) walk(c);
  };
  if (root) walk(root);
  return out;
}

const isCount = (v) => v === null || (Number.isInteger(v) && v >= 0);
const parentOf = (path) => (path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '');
const fmt = (v) => (v === null ? 'null' : v === undefined ? 'missing' : typeof v === 'number' ? v.toLocaleString('en-US') : JSON.stringify(v));

/** Shape problems of a `freezelens models --format json` answer; [] when well-formed. */
function shapeProblems(json) {
  const p = [];
  if (!Array.isArray(json?.models) || json.models.length !== 1) {
    return [`expected {"models": [one model]}, got ${JSON.stringify(json).slice(0, 200)}`];
  }
  const m = json.models[0];
  if (m.source !== 'class') p.push(`source ${fmt(m.source)}, expected "class"`);
  if (typeof m.name !== 'string') p.push(`name ${fmt(m.name)} is not a string`);
  if (typeof m.call !== 'string') p.push(`call ${fmt(m.call)} is not a string`);
  for (const k of ['totalParams', 'trainableParams']) if (!isCount(m[k])) p.push(`${k} ${fmt(m[k])} is not a count or null`);
  if (!m.root || typeof m.root !== 'object') return [...p, 'no root'];
  if (m.root.path !== '') p.push(`root path ${fmt(m.root.path)}, expected ""`);
  const bad = [];
  const walk = (n) => {
    if (typeof n.path !== 'string' || typeof n.class !== 'string' || !isCount(n.params) || !isCount(n.buffers) || !Array.isArray(n.children)) {
      bad.push(`node ${fmt(n.path)}: needs path, class (strings), params, buffers (count or null), children (array)`);
      return;
    }
    for (const c of n.children) {
      if (typeof c?.path === 'string' && parentOf(c.path) !== n.path) bad.push(`node ${fmt(c.path)} is listed under ${fmt(n.path)}`);
      walk(c);
    }
  };
  walk(m.root);
  return [...p, ...bad.slice(0, 10), ...(bad.length > 10 ? [`(+${bad.length - 10} more)`] : [])];
}

/** Differences of an exact call's static tree from torch's; [] when they agree. */
export function exactProblems(stat, torch) {
  const shape = shapeProblems(stat);
  if (shape.length) return shape;
  const s = stat.models[0];
  const t = torch.models[0];
  const p = [];
  const sNodes = flatten(s.root);
  const tNodes = flatten(t.root);
  const sPaths = sNodes.map((n) => n.path);
  const tPaths = tNodes.map((n) => n.path);
  if (sPaths.join('\n') !== tPaths.join('\n')) {
    const i = sPaths.findIndex((x, k) => x !== tPaths[k]);
    const at = i < 0 ? sPaths.length : i;
    const end = (v) => (v === undefined ? '(end of list)' : fmt(v));
    p.push(`module paths differ at #${at}: static ${end(sPaths[at])}, torch ${end(tPaths[at])} (static ${sPaths.length} modules, torch ${tPaths.length})`);
    const tSet = new Set(tPaths);
    const sSet = new Set(sPaths);
    const extra = sPaths.filter((x) => !tSet.has(x));
    const missing = tPaths.filter((x) => !sSet.has(x));
    if (extra.length) p.push(`  not in torch: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ` (+${extra.length - 8})` : ''}`);
    if (missing.length) p.push(`  missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}`);
  }
  const tByPath = new Map(tNodes.map((n) => [n.path, n]));
  const diffs = [];
  for (const n of sNodes) {
    const tn = tByPath.get(n.path);
    if (!tn) continue;
    const where = n.path === '' ? '(root)' : n.path;
    if (n.class !== tn.class) diffs.push(`${where}: class ${n.class}, torch ${tn.class}`);
    if (n.params !== tn.params) diffs.push(`${where} (${tn.class}): params ${fmt(n.params)}, torch ${fmt(tn.params)}`);
    if (n.buffers !== tn.buffers) diffs.push(`${where} (${tn.class}): buffers ${fmt(n.buffers)}, torch ${fmt(tn.buffers)}`);
  }
  p.push(...diffs.slice(0, 20), ...(diffs.length > 20 ? [`(+${diffs.length - 20} more node differences)`] : []));
  if (s.totalParams !== t.totalParams) p.push(`totalParams ${fmt(s.totalParams)}, torch ${fmt(t.totalParams)}`);
  if (s.trainableParams !== t.trainableParams) p.push(`trainableParams ${fmt(s.trainableParams)}, torch ${fmt(t.trainableParams)}`);
  return p;
}

/** Problems of an unknown call's static tree: a known total, a path torch lacks, or a count torch contradicts. */
export function unknownProblems(stat, torch) {
  const shape = shapeProblems(stat);
  if (shape.length) return shape;
  const s = stat.models[0];
  const t = torch.models[0];
  const p = [];
  if (s.totalParams !== null) {
    p.push(`totalParams ${fmt(s.totalParams)} (torch ${fmt(t.totalParams)}): expected null, the call cannot be resolved statically`);
  }
  if (s.trainableParams !== null && s.trainableParams !== t.trainableParams) {
    p.push(`trainableParams ${fmt(s.trainableParams)}, torch ${fmt(t.trainableParams)}`);
  }
  const tByPath = new Map(flatten(t.root).map((n) => [n.path, n]));
  const diffs = [];
  for (const n of flatten(s.root)) {
    const tn = tByPath.get(n.path);
    const where = n.path === '' ? '(root)' : n.path;
    if (!tn) {
      diffs.push(`${where}: not in torch's tree`);
      continue;
    }
    if (n.params !== null && n.params !== tn.params) diffs.push(`${where} (${tn.class}): params ${fmt(n.params)}, torch ${fmt(tn.params)}`);
    if (n.buffers !== null && n.buffers !== tn.buffers) diffs.push(`${where} (${tn.class}): buffers ${fmt(n.buffers)}, torch ${fmt(tn.buffers)}`);
  }
  p.push(...diffs.slice(0, 20), ...(diffs.length > 20 ? [`(+${diffs.length - 20} more node differences)`] : []));
  return p;
}

/** How much of an unknown call's tree the static side knew: "known k/n nodes". */
function coverage(stat, torch) {
  const t = flatten(torch.models[0].root).length;
  const known = flatten(stat.models[0]?.root).filter((n) => n.params !== null && n.buffers !== null).length;
  return `${known}/${t} nodes known`;
}

function formatTable(calls, torch, stat, cliError) {
  const rows = [['fixture', 'call', 'torch total', 'static total', 'torch train', 'static train', 'verdict']];
  const counts = { ok: 0, diff: 0, error: 0 };
  for (const c of calls) {
    const t = torch.get(key(c));
    const s = stat?.get(key(c));
    const tm = t?.ok ? t.json.models[0] : null;
    const sm = s?.ok ? s.json.models?.[0] : null;
    let verdict;
    if (!t?.ok) verdict = 'torch error';
    else if (cliError) verdict = 'cli not built';
    else if (!s) verdict = 'not run';
    else if (!s.ok) verdict = 'cli error';
    else {
      const probs = c.unknown ? unknownProblems(s.json, t.json) : exactProblems(s.json, t.json);
      verdict = probs.length ? `DIFF (${probs.length})` : c.unknown ? `ok, unknown (${coverage(s.json, t.json)})` : 'ok';
    }
    if (verdict.startsWith('ok')) counts.ok++;
    else if (verdict.startsWith('DIFF')) counts.diff++;
    else counts.error++;
    const call = c.call.length > 58 ? c.call.slice(0, 57) + '…' : c.call;
    rows.push([
      c.file.replace(/\.py$/, ''),
      (c.unknown ? '? ' : '') + call,
      tm ? fmt(tm.totalParams) : '-',
      sm ? fmt(sm.totalParams) : '-',
      tm ? fmt(tm.trainableParams) : '-',
      sm ? fmt(sm.trainableParams) : '-',
      verdict,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const right = new Set([2, 3, 4, 5]);
  const line = (r) => r.map((x, i) => (right.has(i) ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ').trimEnd();
  return [
    line(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    '',
    `${calls.length} calls (${calls.filter((c) => !c.unknown).length} exact, ${calls.filter((c) => c.unknown).length} unknown "? "): ` +
      `${counts.ok} agree, ${counts.diff} differ, ${counts.error} could not be compared`,
  ].join('\n');
}

// ---------------------------------------------------------------------------
// Tests

const fixtures = loadModelFixtures(ONLY);
const calls = fixtures.flatMap((fx) => fx.calls);

describe('model fixture set', { skip: ONLY.length > 0 && 'subset selected' }, () => {
  test('names at least 40 exact calls and 6 unknown ones, over at least 45 classes', () => {
    const exact = calls.filter((c) => !c.unknown).length;
    const unknown = calls.filter((c) => c.unknown).length;
    const classes = new Set(fixtures.flatMap((fx) => fx.classes));
    assert.ok(exact >= 40, `${exact} "# oracle:" calls, need 40`);
    assert.ok(unknown >= 6, `${unknown} "# oracle-unknown:" calls, need 6`);
    assert.ok(classes.size >= 45, `${classes.size} distinct classes, need 45`);
  });

  test('no call is named twice', () => {
    const seen = new Set();
    const dup = calls.filter((c) => (seen.has(key(c)) ? true : (seen.add(key(c)), false))).map(key);
    assert.deepEqual(dup, []);
  });
});

describe('models', () => {
  let torch;
  let stat;
  let cliError = null;
  before(async () => {
    checkPython();
    torch = await runTorch(fixtures);
    try {
      ensureCliBuilt();
      stat = await runStatic(calls.filter((c) => torch.get(key(c))?.ok));
    } catch (e) {
      // Reported by every comparison below; the torch side is still checked.
      cliError = new Error(buildFailure(e));
    }
  }, { timeout: HOUR });

  describe('torch builds every model', () => {
    for (const c of calls) {
      test(`${c.file}: ${c.call}`, () => {
        const t = torch.get(key(c));
        if (!t.ok) throw new Error(`torch could not build ${c.call}: ${t.error}`);
      });
    }
  });

  describe('static trees agree with torch', () => {
    for (const c of calls) {
      test(`${c.file}: ${c.unknown ? '(unknown) ' : ''}${c.call}`, () => {
        const t = torch.get(key(c));
        // Plain Errors: the reporter then prints just the message, no assertion fields.
        if (!t.ok) throw new Error(`torch could not build ${c.call}, nothing to compare`);
        if (cliError) throw cliError;
        const s = stat.get(key(c));
        if (!s.ok) throw new Error(s.error);
        const problems = c.unknown ? unknownProblems(s.json, t.json) : exactProblems(s.json, t.json);
        if (problems.length) {
          throw new Error(`${c.call}: ${problems.length} difference(s) from torch:\n  ${problems.join('\n  ')}`);
        }
      });
    }
  });

  test('static vs torch totals per call (report)', () => {
    console.log(`\nFreezeLens model trees vs PyTorch (${fixtures.length} fixture files)\n\n${formatTable(calls, torch, stat, cliError)}`);
  });
});
