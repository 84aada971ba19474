/**
 * Input an editor or a repository really contains while someone works:
 * half-typed code, huge and generated files, binary junk, broken notebooks,
 * files that cannot be read. The real server and the real CLI must answer,
 * and keep answering correctly afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DidChangeTextDocumentNotification,
  DidOpenNotebookDocumentNotification,
  NotebookCellKind,
  type Diagnostic,
} from 'vscode-languageserver-protocol/node';

import { ROOT, Server } from './lspServer';

const CLI = path.join(ROOT, 'bin', 'freezelens.js');
/** Generous: a 2 MB file on a busy 2-core CI machine still answers well within this. */
const SLOW_MS = 20_000;


// ---- the inputs ------------------------------------------------------------

const HEAD = 'import torch\nfrom torchvision import models\n\nmodel = models.resnet18()\n';
const GOOD_LINE = 'model.layer1.requires_grad = False';

function nested(open: string, inner: string, close: string, depth: number): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

function nestedIfs(depth: number): string {
  let s = '';
  for (let i = 0; i < depth; i++) s += `${' '.repeat(i)}if x${i}:\n`;
  return `${s}${' '.repeat(depth)}model.layer2.requires_grad = False\n`;
}

/** Text decoded from bytes that are not UTF-8, as an editor shows it: U+FFFD where bytes were bad. */
const MOJIBAKE = Buffer.from([0x73, 0x20, 0x3d, 0x20, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x22, 0x0a]).toString('utf8');

/** `lspOnly`: text that cannot be stored as such in a UTF-8 file. */
const BAD_INPUTS: { name: string; text: string; lspOnly?: true }[] = [
  { name: 'a half-typed assignment', text: `${HEAD}model.layer1.requires_grad = ` },
  { name: 'an unclosed def', text: `${HEAD}def f(\n` },
  { name: 'a class with no body', text: `${HEAD}class X(nn.Module):` },
  { name: 'all three half-typed at once', text: `${HEAD}model.layer1.requires_grad = \ndef f(\nclass X(nn.Module):\n` },
  { name: 'unterminated strings and brackets', text: `${HEAD}s = """never closed\nx = [1, 2,\nf"{model\nmodel.(` },
  { name: 'inconsistent indentation', text: `${HEAD}  x = 1\n y = 2\n\tmodel.layer1.requires_grad = False\n` },
  { name: 'a 50,000-line file', text: HEAD + Array.from({ length: 50_000 }, (_, i) => `x${i} = torch.zeros(${i})  # line ${i}`).join('\n') + `\n${GOOD_LINE}\n` },
  { name: 'a NUL byte', text: `${HEAD}s = "a\0b"\n\0\n${GOOD_LINE}\n` },
  { name: 'invalid UTF-8 decoded to U+FFFD', text: `${HEAD}${MOJIBAKE}\uFFFD\uFFFD = 1\n${GOOD_LINE}\n` },
  { name: 'lone UTF-16 surrogates', text: `${HEAD}s = "\uD800 \uDFFF"\n${GOOD_LINE}\n`, lspOnly: true },
  { name: 'an empty file', text: '' },
  { name: 'only line breaks of every kind', text: '\r\n\r\r\n\n\r' },
  { name: 'a single 1 MB line', text: `${HEAD}x = [${'1, '.repeat(350_000)}]\n${GOOD_LINE}\n` },
  { name: 'a 1 MB chain of binary operators', text: `${HEAD}x = ${'a + '.repeat(250_000)}a\n` },
  { name: '5,000 nested parentheses', text: `${HEAD}x = ${nested('(', 'model', ')', 5000)}\n${GOOD_LINE}\n` },
  { name: '5,000 nested unclosed brackets', text: `${HEAD}x = ${'['.repeat(5000)}\n${GOOD_LINE}\n` },
  { name: '500 nested ifs', text: HEAD + nestedIfs(500) + `${GOOD_LINE}\n` },
  { name: 'a 20,000-part attribute chain', text: `${HEAD}model${'.b'.repeat(20_000)}.requires_grad = False\n${GOOD_LINE}\n` },
];

// ---- harness: the real server over stdio (lspServer.ts) --------------------

function tempDir(prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  // Pins the defaults: no pyproject.toml above the temp dir can leak in.
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\n');
  return dir;
}

// ---- the server --------------------------------------------------------------

describe('the server on bad input', () => {
  let server: Server;
  let ws: string;
  let goodUri: string;
  let goodVersion = 1;
  const goodText = `${HEAD}${GOOD_LINE}\n`;
  const goodLine = 4;

  /** The server still analyses a normal file correctly and still answers requests. */
  const assertStillServes = async () => {
    assert.ok(server.alive, 'the server process is still running');
    // Toggle a trailing blank line so every call really re-analyses.
    const text = goodVersion % 2 === 0 ? goodText : `${goodText}\n`;
    const diags = await server.change(goodUri, ++goodVersion, [{ text }]);
    assert.equal(diags.length, 1, `FRZ004 still reported for a good file: ${JSON.stringify(diags)}`);
    assert.equal(diags[0].code, 'FRZ004');
    assert.equal(diags[0].range.start.line, goodLine);
    const actions = await server.codeActions(goodUri, diags[0].range);
    assert.deepEqual(
      actions.map((a) => a.title),
      ['Call model.layer1.requires_grad_(False)', 'Ignore FRZ004 on this line'],
    );
  };

  before(async () => {
    ws = tempDir('freezelens-bad-lsp-');
    server = await Server.start({ debounceMs: 0 });
    server.timeoutMs = SLOW_MS;
    goodUri = pathToFileURL(path.join(ws, 'good.py')).toString();
    assert.equal((await server.open(goodUri, goodText)).length, 1);
  });
  after(async () => {
    try {
      await server?.stop();
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  BAD_INPUTS.forEach((input, i) => {
    test(`${input.name}: diagnostics arrive, and a good file is still served`, async () => {
      const uri = pathToFileURL(path.join(ws, `bad${i}.py`)).toString();
      const diags = await server.open(uri, input.text);
      assert.ok(Array.isArray(diags));
      for (const d of diags) {
        assert.equal(d.code, 'FRZ004');
        assert.ok(d.range.start.line >= 0 && d.range.end.line >= d.range.start.line, JSON.stringify(d.range));
      }
      // Code actions on the bad document answer too (empty or not).
      assert.ok(Array.isArray(await server.codeActions(uri, { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } })));
      await assertStillServes();
    });
  });

  test('half-typed assignments are not judged until they parse', async () => {
    const uri = pathToFileURL(path.join(ws, 'typing.py')).toString();
    // `model.layer1.requires_grad = ` with nothing after `=`: a fix built from it would be
    // `requires_grad_()`, which unfreezes. Nothing is reported until the value is there.
    assert.deepEqual(await server.open(uri, `${HEAD}model.layer1.requires_grad = \n`), []);
    assert.deepEqual(await server.change(uri, 2, [{ text: `${HEAD}model.layer1.requires_grad = False if\n` }]), []);
    const diags = await server.change(uri, 3, [{ text: `${HEAD}model.layer1.requires_grad = False if x else True\n` }]);
    assert.equal(diags.length, 1);
  });

  test('typing a whole file one character at a time: every keystroke is answered, the last one with FRZ004', async () => {
    const uri = pathToFileURL(path.join(ws, 'keystrokes.py')).toString();
    assert.deepEqual(await server.open(uri, ''), []);
    const text = `${HEAD}${GOOD_LINE}\n`;
    let line = 0;
    let character = 0;
    let diags: Diagnostic[] = [];
    for (let i = 0; i < text.length; i++) {
      const pos = { line, character };
      diags = await server.change(uri, i + 2, [{ range: { start: pos, end: pos }, text: text[i] }]);
      if (text[i] === '\n') {
        line++;
        character = 0;
      } else character++;
      if (i < text.length - GOOD_LINE.length - 1) assert.deepEqual(diags, [], `nothing to report after ${JSON.stringify(text.slice(0, i + 1))}`);
    }
    assert.equal(diags.length, 1);
    assert.equal(diags[0].range.start.line, 4);
    await assertStillServes();
  });

  test('one keystroke in a 50,000-line file is answered', async () => {
    const uri = pathToFileURL(path.join(ws, 'big-edit.py')).toString();
    const big = BAD_INPUTS.find((b) => b.name.startsWith('a 50,000'))!.text;
    await server.open(uri, big);
    const at = { line: 10, character: 0 };
    const diags = await server.change(uri, 2, [{ range: { start: at, end: at }, text: '#' }]);
    assert.ok(Array.isArray(diags));
    await assertStillServes();
  });

  test('CRLF and lone CR line breaks: the diagnostic is on the right line', async () => {
    const crlf = `${HEAD}${GOOD_LINE}\n`.replace(/\n/g, '\r\n');
    const diags = await server.open(pathToFileURL(path.join(ws, 'crlf.py')).toString(), crlf);
    assert.equal(diags.length, 1);
    assert.deepEqual(diags[0].range, { start: { line: 4, character: 0 }, end: { line: 4, character: GOOD_LINE.length } });
    const cr = await server.open(pathToFileURL(path.join(ws, 'cr.py')).toString(), `${HEAD}\r${GOOD_LINE}\r`);
    assert.equal(cr.length, 1);
    assert.equal(cr[0].range.start.line, 5);
  });

  test('a file over the size limit gets one message and no diagnostics, quickly', async () => {
    const uri = pathToFileURL(path.join(ws, 'huge.py')).toString();
    const text = `${HEAD}${GOOD_LINE}\n${`${'#'.repeat(99)}\n`.repeat(85_000)}`; // 8.5 MB, over the 8 MB limit
    const since = server.messages.length;
    assert.deepEqual(await server.open(uri, text), []);
    const about = server.messages.slice(since).filter((m) => m.message.includes(uri));
    assert.equal(about.length, 1, JSON.stringify(server.messages.slice(since)));
    assert.match(about[0].message, /MB/);
    await assertStillServes();
  });

  test('edits with out-of-range positions do not break the document', async () => {
    const uri = pathToFileURL(path.join(ws, 'ranges.py')).toString();
    await server.open(uri, `${HEAD}${GOOD_LINE}\n`);
    // Past the last line and past the end of a line: clamped, as the LSP spec asks.
    await server.change(uri, 2, [{ range: { start: { line: 900, character: 0 }, end: { line: 901, character: 5 } }, text: '\nx = 1\n' }]);
    await server.change(uri, 3, [{ range: { start: { line: 0, character: 500 }, end: { line: 0, character: 900 } }, text: '  # torch' }]);
    // A full replacement afterwards is analysed exactly as a fresh file would be.
    const diags = await server.change(uri, 4, [{ text: `${HEAD}\n${GOOD_LINE}\n` }]);
    assert.equal(diags.length, 1);
    assert.equal(diags[0].range.start.line, 5);
    await assertStillServes();
  });

  test('a notebook with junk cells still reports the good cell', async () => {
    const nb = path.join(ws, 'junk.ipynb');
    const cell = (f: string) => `vscode-notebook-cell:${nb.split(path.sep).join('/')}#${f}`;
    const cells = [
      { uri: cell('a'), text: HEAD },
      { uri: cell('b'), text: '%%writefile x.py\ndef f(\n' },
      { uri: cell('c'), text: `!pip install torch\n%pip install x\n\0\uFFFD\n${'('.repeat(3000)}` },
      { uri: cell('d'), text: '' },
      { uri: cell('e'), text: `${GOOD_LINE}\n` },
    ];
    const since = server.diagnostics.length;
    await server.conn.sendNotification(DidOpenNotebookDocumentNotification.type, {
      notebookDocument: { uri: pathToFileURL(nb).toString(), notebookType: 'jupyter-notebook', version: 1, cells: cells.map((c) => ({ kind: NotebookCellKind.Code, document: c.uri })) },
      cellTextDocuments: cells.map((c) => ({ uri: c.uri, languageId: 'python', version: 1, text: c.text })),
    });
    const last = await server.until('the last cell', () => server.diagnostics.slice(since).find((p) => p.uri === cells[4].uri));
    assert.equal(last.diagnostics.length, 1);
    await assertStillServes();
  });

  test('requests for documents it never saw, and unknown methods, are answered without harm', async () => {
    assert.deepEqual(await server.codeActions('file:///nowhere/never-opened.py', { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }), []);
    await server.conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: 'file:///nowhere/x.py', version: 3 }, contentChanges: [{ text: 'x' }] });
    await assert.rejects(server.conn.sendRequest('freezelens/noSuchMethod', {}), /Unhandled method|not found/i);
    await assertStillServes();
  });
});

test('nonsense initializationOptions fall back to the defaults', async () => {
  const ws = tempDir('freezelens-bad-init-');
  let server: Server | undefined;
  try {
    server = await Server.start({ debounceMs: 'soon' });
    server.timeoutMs = SLOW_MS;
    const uri = pathToFileURL(path.join(ws, 'a.py')).toString();
    assert.equal((await server.open(uri, `${HEAD}${GOOD_LINE}\n`)).length, 1);
  } finally {
    await server?.stop();
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

// ---- the CLI -------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], cwd: string, options: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`freezelens ${args.join(' ')} did not finish in 60 s\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the CLI on bad input', () => {
  let dir: string;
  before(() => {
    dir = tempDir('freezelens-bad-cli-');
  });
  after(() => {
    // Anything made unreadable is removed all the same: rm does not need to read files.
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const project = (name: string) => {
    const p = path.join(dir, name);
    fs.mkdirSync(p, { recursive: true });
    fs.writeFileSync(path.join(p, 'good.py'), `${HEAD}${GOOD_LINE}\n`);
    return p;
  };

  test('a notebook with invalid JSON: a clear error naming the file and line; the other files are still checked', async () => {
    const p = project('nb');
    fs.writeFileSync(path.join(p, 'broken.ipynb'), '{\n "cells": [\n  {"cell_type": "code", "source": ["x = 1"],,}\n ]\n}\n');
    fs.writeFileSync(path.join(p, 'not-a-notebook.ipynb'), '{"cells": 3}\n');
    fs.writeFileSync(path.join(p, 'empty.ipynb'), '');
    const run = await runCli(['check', 'nb'], dir);
    assert.equal(run.code, 1, run.stderr);
    const errLines = run.stderr.trim().split('\n');
    assert.ok(errLines.some((l) => /^nb\/broken\.ipynb: error: invalid notebook JSON at line 3, column \d+: \w+/.test(l)), run.stderr);
    assert.ok(errLines.some((l) => /^nb\/not-a-notebook\.ipynb: error: .*cells/.test(l)), run.stderr);
    assert.ok(errLines.some((l) => /^nb\/empty\.ipynb: error: /.test(l)), run.stderr);
    assert.match(run.stdout, /^nb\/good\.py:5:1: FRZ004 /m);
    assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace');

    const json = await runCli(['check', 'nb', '--format', 'json'], dir);
    const out = JSON.parse(json.stdout);
    assert.equal(out.filesChecked, 1);
    assert.equal(out.findings.length, 1);
    assert.deepEqual(out.errors.map((e: { path: string }) => path.basename(e.path)).sort(), ['broken.ipynb', 'empty.ipynb', 'not-a-notebook.ipynb']);
  });

  test('missing and dangling paths: a clear error each, and the run goes on', async () => {
    const p = project('links');
    fs.symlinkSync(path.join(p, 'gone.py'), path.join(p, 'dangling.py'));
    fs.symlinkSync('loop.py', path.join(p, 'loop.py'));
    const run = await runCli(['check', 'links/dangling.py', 'links/loop.py', 'links/missing.py', 'links/good.py'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^links\/dangling\.py: error: .*ENOENT/m);
    assert.match(run.stderr, /^links\/loop\.py: error: .*ELOOP/m);
    assert.match(run.stderr, /^links\/missing\.py: error: .*ENOENT/m);
    assert.match(run.stdout, /^links\/good\.py:5:1: FRZ004 /m);
    assert.match(run.stdout, /Found 1 finding in 1 file\./);
  });

  test('a FIFO, a folder named x.py and a dangling link inside a walked folder do not hang or stop the run', async (t) => {
    const p = project('special');
    fs.mkdirSync(path.join(p, 'pkg.py'));
    fs.writeFileSync(path.join(p, 'pkg.py', 'inner.py'), `${HEAD}${GOOD_LINE}\n`);
    fs.symlinkSync(path.join(p, 'gone.py'), path.join(p, 'dangling.py'));
    try {
      execFileSync('mkfifo', [path.join(p, 'pipe.py')]);
    } catch {
      t.diagnostic('mkfifo is not available; the FIFO case is left out');
    }
    const run = await runCli(['check', 'special', '--format', 'json'], dir);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.findings.map((f: { path: string }) => f.path).sort(), ['special/good.py', 'special/pkg.py/inner.py']);
    assert.equal(run.code, 1);
  });

  test('a symlinked file inside a walked folder is checked; a dangling one is reported', async () => {
    const p = project('linked');
    fs.symlinkSync(path.join(p, 'good.py'), path.join(p, 'alias.py'));
    fs.symlinkSync(path.join(p, 'gone.py'), path.join(p, 'dangling.py'));
    const run = await runCli(['check', 'linked', '--format', 'json'], dir);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.findings.map((f: { path: string }) => f.path).sort(), ['linked/alias.py', 'linked/good.py']);
    assert.match(run.stderr, /^linked\/dangling\.py: error: no such file or folder \(ENOENT\)$/m);
  });

  test('a file that cannot be read: a clear error naming it; the other files are still checked', async (t) => {
    const p = project('perm');
    const secret = path.join(p, 'secret.py');
    fs.writeFileSync(secret, `${HEAD}${GOOD_LINE}\n`);
    fs.chmodSync(secret, 0o000);
    // root reads anything, so as root the CLI runs as an unprivileged user instead.
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    let options = {};
    if (asRoot) {
      fs.chmodSync(dir, 0o755);
      for (const d of [p, path.dirname(p)]) fs.chmodSync(d, 0o755);
      options = { uid: 65534, gid: 65534 };
    }
    if (process.platform === 'win32') return t.skip('POSIX permissions');
    if (asRoot) {
      // The checkout may sit below a folder that other users cannot enter.
      const probe = await runCli(['--version'], dir, options).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
      if (probe.code !== 0) return t.skip(`an unprivileged user cannot run the CLI from this checkout: ${probe.stderr.split('\n')[0]}`);
    }
    const run = await runCli(['check', 'perm'], dir, options);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^perm\/secret\.py: error: cannot read file \(EACCES\)$/m);
    assert.match(run.stdout, /^perm\/good\.py:5:1: FRZ004 /m);
  });

  test('the CLI gets through every bad input without crashing', async () => {
    const p = path.join(dir, 'inputs');
    fs.mkdirSync(p);
    const written = BAD_INPUTS.filter((b) => !b.lspOnly);
    written.forEach((b, i) => fs.writeFileSync(path.join(p, `bad${String(i).padStart(2, '0')}.py`), b.text));
    // Bytes that are not UTF-8 at all, as they lie on disk.
    fs.writeFileSync(path.join(p, 'latin1.py'), Buffer.concat([Buffer.from(HEAD), Buffer.from([0xe9, 0xff, 0x00, 0x0a]), Buffer.from(`${GOOD_LINE}\n`)]));
    const run = await runCli(['check', 'inputs', '--format', 'json'], dir);
    assert.ok(run.code === 0 || run.code === 1, `exit ${run.code}: ${run.stderr}`);
    const out = JSON.parse(run.stdout);
    assert.deepEqual(out.errors, []);
    assert.equal(out.filesChecked, written.length + 1);
    assert.doesNotMatch(run.stderr, /Error|at .*\.js:\d+/, run.stderr);
    const files = new Set(out.findings.map((f: { path: string }) => f.path));
    // Where the rest of the file is fine, the good line is still found.
    for (const name of ['a NUL byte', 'invalid UTF-8 decoded to U+FFFD', '500 nested ifs']) {
      const i = written.findIndex((b) => b.name === name);
      assert.ok(files.has(`inputs/bad${String(i).padStart(2, '0')}.py`), `${name}: FRZ004 found`);
    }
    assert.ok(files.has('inputs/latin1.py'));
  });
});
