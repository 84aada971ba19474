/**
 * Bounded work on bad input. Recursion, cyclic imports, huge functions,
 * deeply nested expressions and blocks, and thousands of loops hit depth,
 * work and time caps. The analysis then goes silent about the affected code,
 * says why in a note (the line the server writes to its log, and the CLI
 * prints with --verbose), and still reports everything else. Never an
 * exception, never a hang.
 *
 * Every program is generated: HEAD, then the bad code, then TAIL, whose two
 * findings lie outside the bad code — FRZ004 (syntax and value kinds) and
 * FRZ009 (the freeze-state timeline, on a model the bad code never names).
 * Each test asserts exactly those two findings: nothing lost outside, and
 * nothing from the affected code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkProgram } from '../../server/src/engine/check';
import type { AnalyzeOptions } from '../../server/src/analysis/analyze';
import type { ImportResolver } from '../../server/src/python/program';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import { Server } from './lspServer';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'bin', 'freezelens.js');

/**
 * The depth and work caps are what these tests exercise, so the clock must not
 * cut in first on a slow machine; the time cap has a test of its own.
 */
const ROOMY: AnalyzeOptions = { timeLimitMs: 60_000 };
/** Only a hang detector: each run takes well under a second on a laptop. */
const PROCESS_TIMEOUT_MS = 120_000;

// ---- generated programs ------------------------------------------------------

const HEAD = [
  'import torch',
  'import torch.nn as nn',
  'from torchvision import models',
  '',
  'model = models.resnet18(weights="DEFAULT")',
  'other = models.resnet50(weights="DEFAULT")',
  'opt2 = torch.optim.SGD(other.parameters(), lr=0.1)',
  '',
].join('\n');

const GOOD = 'model.layer1.requires_grad = False';
const WITNESS = 'other.fc = nn.Linear(2048, 10)';
const TAIL = [
  '',
  GOOD,
  WITNESS,
  'for x, y in loader:',
  '    opt2.zero_grad()',
  '    other(x).sum().backward()',
  '    opt2.step()',
  '',
].join('\n');

function program(bad: string): string {
  return `${HEAD}${bad}\n${TAIL}`;
}

function lineOf(source: string, text: string): number {
  const i = source.split('\n').findIndex((l) => l === text);
  assert.ok(i >= 0, `no line ${text}`);
  return i + 1;
}

/** The findings outside the bad code, as `RULE@line`. */
function outside(source: string): string[] {
  return [`FRZ004@${lineOf(source, GOOD)}`, `FRZ009@${lineOf(source, WITNESS)}`];
}

function indent(depth: number, width = 1): string {
  return ' '.repeat(depth * width);
}

function analyse(source: string, options: AnalyzeOptions = ROOMY, resolveImport?: ImportResolver) {
  const unit = new SourceUnit('bad.py', source);
  const result = checkProgram({ id: 'bad.py', units: [unit], resolveImport }, undefined, options);
  return {
    notes: result.notes,
    findings: result.findings.map((f) => `${f.ruleId}@${unit.lines.positionAt(f.span.from).line + 1}`),
  };
}

function assertNotes(notes: string[], expected: RegExp[]): void {
  for (const re of expected) assert.ok(notes.some((n) => re.test(n)), `a note matching ${re}; got:\n${notes.join('\n')}`);
}

/** Exactly the findings outside; the expected notes; and the caps, not the clock, stopped the work. */
function assertBounded(source: string, notes: RegExp[], resolveImport?: ImportResolver): string[] {
  const r = analyse(source, ROOMY, resolveImport);
  if (r.notes.some((n) => PARSER_GAVE_UP.test(n))) {
    assert.deepEqual(r.findings, []);
    return r.notes;
  }
  assert.deepEqual(r.findings, outside(source), `notes:\n${r.notes.join('\n')}`);
  assertNotes(r.notes, notes);
  assert.ok(!r.notes.some((n) => /took longer than/.test(n)), `the clock stopped it:\n${r.notes.join('\n')}`);
  return r.notes;
}

const NESTED_TOO_DEEP = /code nested deeper than \d+ levels; that code was skipped/;
const MODEL_SKIPPED = /model, used in code that was skipped .*; rules stay silent about that model/;
const RECURSION = (fn: string) => new RegExp(`${fn}\\(\\) is not followed \\(recursion\\); rules stay silent about that model`);

interface Case {
  name: string;
  bad: string;
  /** Notes the caps must leave: the log line. */
  notes: RegExp[];
}

/**
 * The parser recurses over the tree it builds, and on code nested thousands deep
 * whether it runs out of stack depends on how much is left and how warm the code
 * is. When it does, the whole file is empty to the analysis: silent, with this
 * note. A test below forces that case; the others accept it.
 */
const PARSER_GAVE_UP = /the file could not be parsed: the parser ran out of stack/;

const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');

const CASES: Case[] = [
  // ---- recursion ----
  {
    name: 'direct recursion in a helper that receives the model',
    bad: [
      'def freeze(m, depth):',
      '    for p in m.parameters():',
      '        p.requires_grad = False',
      '    if depth > 0:',
      '        freeze(m, depth - 1)',
      '    m.fc.requires_grad_(True)',
      '',
      'freeze(model, 3)',
      'optimizer = torch.optim.SGD(model.parameters(), lr=0.01)',
    ].join('\n'),
    notes: [RECURSION('freeze')],
  },
  {
    name: 'mutual recursion between two helpers',
    bad: [
      'def freeze_a(m, n):',
      '    m.layer2.requires_grad_(False)',
      '    freeze_b(m, n - 1)',
      '',
      'def freeze_b(m, n):',
      '    if n > 0:',
      '        freeze_a(m, n)',
      '    m.layer3.requires_grad_(False)',
      '',
      'freeze_a(model, 10)',
      'optimizer = torch.optim.SGD(model.parameters(), lr=0.01)',
    ].join('\n'),
    notes: [RECURSION('freeze_a')],
  },
  {
    name: 'recursion through the methods of an nn.Module subclass and through forward()',
    bad: [
      'class Net(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.backbone = models.resnet18(weights="DEFAULT")',
      '        self.head = nn.Linear(512, 10)',
      '',
      '    def freeze(self, n):',
      '        self.backbone.requires_grad_(False)',
      '        if n:',
      '            self.unfreeze(n - 1)',
      '',
      '    def unfreeze(self, n):',
      '        self.head.requires_grad_(True)',
      '        self.freeze(n)',
      '',
      '    def forward(self, x):',
      '        if x is None:',
      '            return self(x)',
      '        return self.forward(self.head(self.backbone(x)))',
      '',
      'net = Net()',
      'net.freeze(3)',
      'opt = torch.optim.SGD(net.parameters(), lr=0.01)',
      'for x, y in loader:',
      '    opt.zero_grad()',
      '    net(x).sum().backward()',
      '    opt.step()',
    ].join('\n'),
    notes: [RECURSION('freeze'), RECURSION('forward')],
  },
  {
    name: 'a chain of 40 helpers, deeper than calls are followed',
    bad: [
      lines(40, (i) => `def step${i}(m):\n    step${i + 1}(m)\n`),
      'def step40(m):',
      '    m.layer2.requires_grad_(False)',
      '',
      'step0(model)',
      'optimizer = torch.optim.SGD(model.parameters(), lr=0.01)',
    ].join('\n'),
    notes: [/step\d+\(\) is not followed \(calls nested too deeply\); rules stay silent about that model/],
  },
  {
    name: 'classes that derive from each other, and names bound to each other',
    bad: ['class A(B):', '    pass', '', 'class B(A):', '    pass', '', 'a = A()', 'a.requires_grad = False', 'x = y', 'y = x', 'x.requires_grad = False'].join('\n'),
    notes: [],
  },
  // ---- huge code ----
  {
    name: 'a function of 20,000 statements that is called',
    bad: ['def setup(m):', lines(20_000, (i) => `    x${i} = torch.zeros(${i % 7})`), '    m.layer4.requires_grad_(False)', '    return m', '', 'setup(model)'].join('\n'),
    notes: [],
  },
  {
    name: 'a module-level script of 20,000 statements',
    bad: lines(20_000, (i) => (i % 1000 === 999 ? 'model.eval()' : `x${i} = torch.zeros(${i % 7})`)),
    notes: [],
  },
  // ---- deeply nested expressions ----
  {
    name: '5,000 nested parentheses around the model',
    bad: `x = ${'('.repeat(5000)}model${')'.repeat(5000)}`,
    notes: [],
  },
  {
    name: '5,000 nested calls around the model',
    bad: `x = ${'f('.repeat(5000)}model${')'.repeat(5000)}`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: '3,000 nested nn.Sequential(...) around the model',
    bad: `seq = ${'nn.Sequential('.repeat(3000)}model${')'.repeat(3000)}\nseq.requires_grad_(False)`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: '5,000 nested list literals around the model',
    bad: `x = ${'['.repeat(5000)}model${']'.repeat(5000)}`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: 'a 20,000-part attribute chain on the model, read and assigned',
    bad: `x = model${'.b'.repeat(20_000)}\nmodel${'.b'.repeat(20_000)}.requires_grad_(False)`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: 'a chain of 5,000 method calls on the model',
    bad: `model${'.to("cuda")'.repeat(5000)}.requires_grad_(False)`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: '20,000 nested `not` in a test on parameter names',
    bad: ['for n, p in model.named_parameters():', `    if ${'not '.repeat(20_000)}n.startswith("fc"):`, '        p.requires_grad = False'].join('\n'),
    notes: [NESTED_TOO_DEEP],
  },
  {
    name: '3,000 nested generator expressions as the optimizer parameters',
    bad: `optimizer = torch.optim.SGD(${'(p for p in '.repeat(3000)}model.parameters()${')'.repeat(3000)}, lr=0.01)`,
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: 'assignment and loop targets nested 5,000 deep',
    bad: [`${'['.repeat(5000)}a${']'.repeat(5000)} = model`, `for ${'['.repeat(5000)}b${']'.repeat(5000)} in model.parameters():`, '    b.requires_grad = False', 'a.requires_grad = False'].join('\n'),
    notes: [/assignment targets nested deeper than \d+ levels/, NESTED_TOO_DEEP],
  },
  {
    name: '2,000 nested f-strings',
    bad: `x = ${'f"{'.repeat(2000)}model${'}"'.repeat(2000)}`,
    notes: [],
  },
  {
    name: 'a call nested 300 deep that re-enables the parameters a loop runs over',
    // Followed, `p.requires_grad_(True)` makes the freeze before it useless (FRZ008); skipped, the
    // parameters must become unknown, or they would look frozen and FRZ002 would be reported.
    bad: [
      'model.layer2.requires_grad_(False)',
      'for p in model.layer2.parameters():',
      `    x = ${'f('.repeat(300)}p.requires_grad_(True)${')'.repeat(300)}`,
      'optimizer = torch.optim.SGD(model.parameters(), lr=0.01)',
      'for x, y in loader:',
      '    optimizer.zero_grad()',
      '    model(x).sum().backward()',
      '    optimizer.step()',
    ].join('\n'),
    notes: [NESTED_TOO_DEEP, /p, used in code that was skipped/],
  },
  // ---- deeply nested blocks ----
  {
    name: '500 nested ifs',
    bad: [lines(500, (i) => `${indent(i)}if x${i}:`), `${indent(500)}model.layer2.requires_grad_(False)`, `${indent(500)}optimizer = torch.optim.SGD(model.parameters(), lr=0.01)`].join('\n'),
    notes: [NESTED_TOO_DEEP, MODEL_SKIPPED],
  },
  {
    name: '300 nested blocks of every kind',
    bad: [
      lines(300, (i) => `${indent(i)}${['if a:', 'for x in y:', 'with torch.no_grad():', 'while b:', 'try:\n' + indent(i + 1) + 'pass\n' + indent(i) + 'except E:', 'else_ = 1\n' + indent(i) + 'if c:'][i % 6]}`),
      `${indent(300)}model.layer2.requires_grad_(False)`,
    ].join('\n'),
    notes: [/(code nested deeper than \d+ levels|loops nested deeper than \d+); that code was skipped/, MODEL_SKIPPED],
  },
  // ---- thousands of loops ----
  {
    name: '3,000 training loops one after the other',
    bad: ['optimizer = torch.optim.SGD(model.parameters(), lr=0.01)', lines(3000, () => 'for x, y in loader:\n    optimizer.zero_grad()\n    model(x).sum().backward()\n    optimizer.step()')].join('\n'),
    notes: [],
  },
  {
    name: 'loops nested 30 deep',
    bad: [lines(30, (i) => `${indent(i, 4)}${i % 2 ? 'while True:' : 'for x in loader:'}`), `${indent(30, 4)}model.layer2.requires_grad_(False)`, `${indent(30, 4)}model(x).sum().backward()`].join('\n'),
    notes: [/loops nested deeper than \d+; that code was skipped/, MODEL_SKIPPED],
  },
  {
    name: 'counted loops nested 8 deep (8^8 unrolled runs)',
    bad: [lines(8, (i) => `${indent(i, 4)}for e${i} in range(8):`), `${indent(8, 4)}if e7 == 3:`, `${indent(9, 4)}model.layer2.requires_grad_(False)`].join('\n'),
    notes: [/a loop body ran \d+ times; that code was skipped/, MODEL_SKIPPED],
  },
  {
    name: 'comprehensions over range(64) nested five deep, building modules',
    bad: 'blocks = [[[[[nn.Linear(2, 2) for a in range(64)] for b in range(64)] for c in range(64)] for d in range(64)] for e in range(64)]',
    notes: [],
  },
  {
    name: '2,000 loops over range(10**9) and 2,000 `while True` loops',
    bad: [
      lines(2000, () => 'for i in range(10**9):\n    if i == 3:\n        model.eval()'),
      lines(2000, () => 'while True:\n    model.train()\n    if done:\n        break'),
      'for epoch in range(10**9):\n    for x in loader:\n        model(x)',
    ].join('\n'),
    notes: [],
  },
];

// ---- the core --------------------------------------------------------------

describe('the core on bad input', () => {
  test('the program around the bad code has exactly the two findings outside it', () => {
    assertBounded(program('pass'), []);
  });

  for (const c of CASES) {
    test(`${c.name}: finishes, nothing reported from it${c.notes.length > 0 ? ', a note says why' : ''}, the rest still reported`, () => {
      assertBounded(program(c.bad), c.notes);
    });
  }

  test('cyclic imports with recursion across the modules: each module is loaded once, the rest is reported', () => {
    const modules: Record<string, string> = {
      a: ['import a', 'from b import step_b', '', 'def step_a(m, n):', '    m.layer2.requires_grad_(False)', '    step_b(m, n)', ''].join('\n'),
      b: ['from c import step_c', '', 'def step_b(m, n):', '    step_c(m, n)', ''].join('\n'),
      // `import a`, not `from a import step_a`: a is half-initialised while c runs, as in Python.
      c: ['import a', 'import b', '', 'def step_c(m, n):', '    if n > 0:', '        a.step_a(m, n - 1)', ''].join('\n'),
    };
    const units = new Map(Object.entries(modules).map(([name, text]) => [name, new SourceUnit(`${name}.py`, text)]));
    const asked: string[] = [];
    const resolve: ImportResolver = (module) => {
      asked.push(module);
      return units.get(module);
    };
    const source = program('from a import step_a\nstep_a(model, 5)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01)');
    assertBounded(source, [RECURSION('step_a')], resolve);
    // Once per import statement (9 names in 7 statements), not once per trip round the cycle.
    assert.equal(asked.length, 9, asked.join(' '));
  });

  test('a tiny time budget: the clock stops the analysis, with a note and no diagnostics for the file', () => {
    const source = program(CASES.find((c) => c.name.startsWith('a module-level script'))!.bad);
    const r = analyse(source, { timeLimitMs: 1 });
    assert.deepEqual(r.findings, []);
    assertNotes(r.notes, [/bad\.py: analysis took longer than 1 ms; no diagnostics for this file/]);
  });

  test('huge input with the default budget: whatever the machine, never a finding from cut-off code, and a note when the clock cut', () => {
    for (const name of ['a function of 20,000 statements', 'a module-level script', 'counted loops nested 8 deep']) {
      const source = program(CASES.find((c) => c.name.startsWith(name))!.bad);
      const r = analyse(source, {});
      const expected = outside(source);
      assert.ok(
        r.findings.every((f) => expected.includes(f)),
        `${name}: ${r.findings.join(' ')}`,
      );
      if (r.findings.length < expected.length) assertNotes(r.notes, [/took longer than \d+ ms/]);
    }
  });

  test('when the parser itself runs out of stack, the file is silent with a note, and the next file is analysed', () => {
    // A small stack makes the parser's own recursion fail on 2,000 nested f-strings, as a deeper
    // call stack or colder code could on the default one.
    const check = require.resolve('../../server/src/engine/check');
    const unit = require.resolve('../../server/src/python/sourceUnit');
    const script = `
      const { checkProgram } = require(${JSON.stringify(check)});
      const { SourceUnit } = require(${JSON.stringify(unit)});
      const run = (id, text) => checkProgram({ id, units: [new SourceUnit(id, text)] });
      const bad = run('bad.py', ${JSON.stringify(program(CASES.find((c) => c.name.startsWith('2,000 nested f-strings'))!.bad))});
      const good = run('good.py', ${JSON.stringify(program('pass'))});
      process.stdout.write(JSON.stringify({ bad: bad.findings.length, notes: bad.notes, good: good.findings.length }));
    `;
    const r = spawnSync(process.execPath, ['--stack-size=300', '-e', script], { encoding: 'utf8', timeout: PROCESS_TIMEOUT_MS });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.bad, 0);
    assertNotes(out.notes, [PARSER_GAVE_UP]);
    assert.equal(out.good, 2);
  });
});

// ---- the CLI ---------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`freezelens ${args.join(' ')} did not finish\n${stderr}`));
    }, PROCESS_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function tempDir(prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  // Pins the defaults: no pyproject.toml above the temp dir can leak in.
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\n');
  return dir;
}

describe('the CLI on bad input', () => {
  let dir: string;
  before(() => {
    dir = tempDir('freezelens-bounds-cli-');
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('files importing each other in a cycle, recursing across them: the run finishes and the other files are reported', async () => {
    const p = path.join(dir, 'cycle');
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'a.py'), 'import a\nfrom b import step_b\n\ndef step_a(m, n):\n    m.layer2.requires_grad_(False)\n    step_b(m, n)\n');
    fs.writeFileSync(path.join(p, 'b.py'), 'from c import step_c\n\ndef step_b(m, n):\n    step_c(m, n)\n');
    fs.writeFileSync(path.join(p, 'c.py'), 'import a\nimport b\n\ndef step_c(m, n):\n    if n > 0:\n        a.step_a(m, n - 1)\n');
    const train = program('from a import step_a\nstep_a(model, 5)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01)');
    fs.writeFileSync(path.join(p, 'train.py'), train);
    fs.writeFileSync(path.join(p, 'good.py'), program('pass'));
    const run = await runCli(['check', '--format', 'json', '--verbose', 'cycle'], dir);
    assert.equal(run.code, 1, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.errors, []);
    assert.equal(out.filesChecked, 5);
    const got = out.findings.map((f: { path: string; rule: string; line: number }) => `${path.basename(f.path)}:${f.rule}@${f.line}`).sort();
    const want = [...outside(program('pass')).map((f) => `good.py:${f}`), ...outside(train).map((f) => `train.py:${f}`)].sort();
    assert.deepEqual(got, want);
    assert.match(run.stderr, /^note: .*train\.py: step_a\(\) is not followed \(recursion\)/m);
  });

  test('every case at once, as files in one folder: each gets exactly its findings outside, and the notes', async () => {
    const p = path.join(dir, 'cases');
    fs.mkdirSync(p);
    const files = CASES.map((c, i) => ({ c, name: `case${String(i).padStart(2, '0')}.py`, text: program(c.bad) }));
    for (const f of files) fs.writeFileSync(path.join(p, f.name), f.text);
    const run = await runCli(['check', '--format', 'json', '--verbose', 'cases'], dir);
    assert.equal(run.code, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /error|at .*\.js:\d+/i, 'no error, no stack trace');
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.errors, []);
    assert.equal(out.filesChecked, files.length);
    for (const f of files) {
      const got = out.findings.filter((x: { path: string }) => path.basename(x.path) === f.name).map((x: { rule: string; line: number }) => `${x.rule}@${x.line}`);
      const expected = outside(f.text);
      // The CLI runs with the default time budget: on a slow machine the clock may cut in, and then only silence.
      assert.ok(got.every((g: string) => expected.includes(g)), `${f.c.name}: ${got.join(' ')}`);
      const noted = run.stderr.split('\n').filter((l) => l.includes(`${f.name}:`));
      if (got.length < expected.length) assert.ok(noted.some((l) => /took longer than/.test(l) || PARSER_GAVE_UP.test(l)), `${f.c.name}: findings lost without a note\n${noted.join('\n')}`);
      else for (const re of f.c.notes) assert.ok(noted.some((l) => re.test(l)), `${f.c.name}: a note matching ${re}\n${noted.join('\n')}`);
    }
  });
});

// ---- the server --------------------------------------------------------------

describe('the server on bad input', () => {
  test('the caps are written to the log, and the diagnostics outside the bad code are published', async () => {
    const ws = tempDir('freezelens-bounds-lsp-');
    const server = await Server.start();
    try {
      const uri = pathToFileURL(path.join(ws, 'bad.py')).toString();
      const bad = [CASES[0].bad, CASES.find((c) => c.name.startsWith('5,000 nested calls'))!.bad, CASES.find((c) => c.name.startsWith('loops nested 30'))!.bad].join('\n');
      const text = program(bad);
      const got = (await server.open(uri, text, PROCESS_TIMEOUT_MS)).map((d) => `${d.code}@${d.range.start.line + 1}`);
      const noted = server.logs.filter((l) => l.includes(uri));
      // The server runs with the default time budget: on a slow machine the clock may cut in first, and then only silence.
      assert.ok(got.every((g) => outside(text).includes(g)), got.join(' '));
      if (!noted.some((l) => /took longer than/.test(l) || PARSER_GAVE_UP.test(l))) {
        assert.deepEqual(got, outside(text));
        assertNotes(noted, [RECURSION('freeze'), NESTED_TOO_DEEP, /loops nested deeper than \d+; that code was skipped/]);
      }
    } finally {
      await server.stop();
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
});
