/**
 * The command-line tool as a user or a CI job runs it: `node bin/freezelens.js`
 * in a child process, in a temp copy of test/fixtures/project.
 */
import { RULES } from '../../server/src/rules';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';

const ROOT = packageRoot(__dirname);
const CLI = path.join(ROOT, 'bin', 'freezelens.js');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'project');
/**
 * The SARIF 2.1.0 JSON schema (rtm.5, JSON Schema draft-04) as Microsoft's
 * SARIF SDK ships it in the npm package @microsoft/jest-sarif; see the README beside it.
 */
const SARIF_SCHEMA = path.join(ROOT, 'test', 'fixtures', 'sarif', 'sarif-2.1.0-rtm.5.json');
const VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

function packageRoot(start: string): string {
  for (let dir = start; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'freezelens') return dir;
  }
  throw new Error('package root not found');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in 30 s`));
    }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const cli = (args: string[], cwd: string) => run(process.execPath, [CLI, ...args], cwd);

interface JsonFinding {
  path: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  rule: string;
  name: string;
  severity: string;
  message: string;
  url: string;
  cell?: { index: number; line: number; column: number };
  related: { line: number; column: number; message: string }[];
  fixes: { title: string; preferred: boolean; edits: { line: number; column: number; endLine: number; endColumn: number; newText: string }[] }[];
}

/** Returns '' for a valid SARIF log, else the schema violations. */
function sarifValidator(): (log: unknown) => string {
  // The schema's `language` pattern is not valid under the `u` flag; it was written for plain RegExp.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(fs.readFileSync(SARIF_SCHEMA, 'utf8')));
  return (log) => (validate(log) ? '' : ajv.errorsText(validate.errors, { separator: '\n' }));
}

/** 1-based line of the first line of `file` that contains `needle`. */
function lineOf(file: string, needle: string): number {
  const i = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} in ${file}`);
  return i + 1;
}

/** Where each fixture finding is, by path:line:column. */
const EXPECTED = ['notebook.ipynb:30:1', 'pkg/sub/model.py:11:1', 'train.py:6:1', 'train.py:7:15'];

describe('freezelens CLI', () => {
  let tmp: string;
  let proj: string;

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-cli-')));
    proj = path.join(tmp, 'proj');
    fs.cpSync(FIXTURE, proj, { recursive: true });
    // Folders a walk must not enter; made here, since node_modules and .git cannot live in the repo.
    const bad = 'from torchvision import models\nmodel = models.resnet18()\nmodel.layer1.requires_grad = False\n';
    for (const rel of ['node_modules/pkg/bad.py', '.git/hooks/bad.py', '.venv/lib/python3.12/site-packages/bad.py', 'any-name-env/lib/bad.py', '__pycache__/bad.py', 'generated/deep/er/bad.py']) {
      fs.mkdirSync(path.dirname(path.join(proj, rel)), { recursive: true });
      fs.writeFileSync(path.join(proj, rel), bad);
    }
    fs.writeFileSync(path.join(proj, 'any-name-env', 'pyvenv.cfg'), 'home = /usr/bin\nversion = 3.12.0\n');
    // A clean folder, with its own pyproject so nothing above it applies.
    fs.mkdirSync(path.join(tmp, 'clean'));
    fs.copyFileSync(path.join(FIXTURE, 'clean.py'), path.join(tmp, 'clean', 'clean.py'));
    fs.writeFileSync(path.join(tmp, 'clean', 'pyproject.toml'), '[tool.freezelens]\n');
    fs.writeFileSync(path.join(tmp, 'pyproject.toml'), '[tool.freezelens]\n');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('text output', () => {
    test('one `path:line:col: FRZ004 message` line per finding, then a summary; exit 1', async () => {
      const r = await cli(['check', '.'], proj);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, '');
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines.pop(), 'Found 4 findings in 5 files.');
      const re = /^([^:\s]+):(\d+):(\d+): FRZ004 (\S.*)$/;
      for (const l of lines) assert.match(l, re);
      assert.deepEqual(
        lines.map((l) => re.exec(l)!.slice(1, 4).join(':')),
        EXPECTED,
      );
      assert.match(lines[2], /`model\.layer1` .* nothing is frozen; `model\.layer1\.requires_grad_\(False\)`/);
      assert.match(lines[3], /`require_grad` is not a PyTorch attribute \(did you mean `requires_grad`\?\)/);
    });

    test('paths are relative to the working folder, with forward slashes', async () => {
      const r = await cli(['check', 'proj/pkg'], tmp);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^proj\/pkg\/sub\/model\.py:11:1: FRZ004 `head\.proj` is an nn\.Module \(created by nn\.Linear\(\)\)/m);
      assert.match(r.stdout, /Found 1 finding in 2 files\.\n$/);
    });

    test('a notebook finding points at the .ipynb line of the code and names the cell', async () => {
      const r = await cli(['check', 'notebook.ipynb'], proj);
      assert.equal(r.code, 1);
      const line = lineOf(path.join(proj, 'notebook.ipynb'), '"model.layer4.requires_grad = False"');
      // The markdown cell counts: the code is in the third cell, its third line.
      assert.match(r.stdout, new RegExp(`^notebook\\.ipynb:${line}:1: FRZ004 \`model\\.layer4\`.* \\[cell 3, line 3\\]$`, 'm'));
      assert.doesNotMatch(r.stdout, /matplotlib|pip install/, 'magics are not findings');
    });
  });

  describe('exit status', () => {
    test('0 and a summary for a clean folder', async () => {
      const r = await cli(['check', 'clean'], tmp);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'No findings in 1 file.\n');
    });

    test('1 for findings, and --ignore / --select on the command line change that', async () => {
      assert.equal((await cli(['check', 'train.py'], proj)).code, 1);
      const ignored = await cli(['check', 'train.py', '--ignore', 'FRZ004'], proj);
      assert.equal(ignored.code, 0, ignored.stdout);
      const selected = await cli(['check', 'train.py', '--select=FRZ0'], proj);
      assert.equal(selected.code, 1);
    });

    const usage: [string, string[], RegExp][] = [
      ['no command', [], /^Usage: freezelens check/m],
      ['an unknown command', ['lint', '.'], /unknown command 'lint'/],
      ['a bad --format', ['check', '.', '--format', 'xml'], /--format must be text, json or sarif, not 'xml'/],
      ['no paths', ['check'], /check needs at least one PATH/],
      ['an unknown option', ['check', '.', '--fix'], /Unknown option '--fix'/],
      ['--select without a value', ['check', '.', '--select'], /--select/],
    ];
    for (const [what, args, message] of usage) {
      test(`2 for ${what}, with a message on stderr and nothing on stdout`, async () => {
        const r = await cli(args, proj);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      });
    }

    test('--help prints the usage and exits 0; --version prints the package version', async () => {
      const help = await cli(['--help'], proj);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: freezelens check \[options\] PATH\.\.\./);
      assert.match(help.stdout, /--format text\|json\|sarif/);
      const version = await cli(['-v'], proj);
      assert.equal(version.code, 0);
      assert.equal(version.stdout, `${VERSION}\n`);
    });

    test('an unknown rule code is a warning, not a usage error', async () => {
      const r = await cli(['check', 'clean.py', '--select', 'FRZ004,XYZ123'], proj);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: `--select` unknown rule code "XYZ123"/);
    });

    test('1 for a path that does not exist, with the other paths still checked', async () => {
      const r = await cli(['check', 'missing.py', 'clean.py'], proj);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^missing\.py: error: no such file or folder \(ENOENT\)$/m);
      assert.equal(r.stdout, 'No findings in 1 file.\n');
    });
  });

  describe('walking a folder', () => {
    test('skips node_modules, .git, .venv, a folder holding pyvenv.cfg, __pycache__ and pyproject `exclude`d paths', async () => {
      const r = await cli(['check', '.', '--format', 'json'], proj);
      const out = JSON.parse(r.stdout);
      const paths: string[] = out.findings.map((f: JsonFinding) => f.path);
      for (const p of paths) assert.doesNotMatch(p, /node_modules|\.git|\.venv|any-name-env|__pycache__|generated|legacy_train/);
      assert.deepEqual([...new Set(paths)].sort(), ['notebook.ipynb', 'pkg/sub/model.py', 'train.py']);
      assert.equal(out.filesChecked, 5);
    });

    test('an excluded file named on the command line is still checked', async () => {
      const r = await cli(['check', 'legacy_train.py', 'generated/gen_model.py'], proj);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^legacy_train\.py:4:1: FRZ004/m);
      assert.match(r.stdout, /^generated\/gen_model\.py:4:1: FRZ004/m);
    });

    test('exclude patterns are relative to the pyproject.toml, wherever the CLI runs from', async () => {
      const r = await cli(['check', 'proj', '--format', 'json'], tmp);
      const paths = new Set(JSON.parse(r.stdout).findings.map((f: JsonFinding) => f.path));
      assert.deepEqual([...paths].sort(), ['proj/notebook.ipynb', 'proj/pkg/sub/model.py', 'proj/train.py']);
    });

    test('[tool.freezelens] severity and ignore in pyproject.toml apply to the files below it', async () => {
      const dir = path.join(tmp, 'configured');
      fs.mkdirSync(path.join(dir, 'quiet'), { recursive: true });
      fs.copyFileSync(path.join(FIXTURE, 'train.py'), path.join(dir, 'train.py'));
      fs.copyFileSync(path.join(FIXTURE, 'train.py'), path.join(dir, 'quiet', 'train.py'));
      fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens.severity]\nFRZ004 = "error"\n');
      fs.writeFileSync(path.join(dir, 'quiet', 'pyproject.toml'), '[tool.freezelens]\nignore = ["FRZ004"]\n');
      const r = await cli(['check', '.', '--format', 'json'], dir);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.findings.map((f: JsonFinding) => `${f.path}:${f.line}:${f.severity}`), ['train.py:6:error', 'train.py:7:error']);
    });

    test('an invalid pyproject.toml is one warning naming tool.freezelens; the defaults apply', async () => {
      const dir = path.join(tmp, 'broken-toml');
      fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
      fs.copyFileSync(path.join(FIXTURE, 'train.py'), path.join(dir, 'a.py'));
      fs.copyFileSync(path.join(FIXTURE, 'train.py'), path.join(dir, 'sub', 'b.py'));
      fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\nignore = ["FRZ004"\n');
      const r = await cli(['check', '.'], dir);
      assert.equal(r.code, 1);
      const warnings = r.stderr.trim().split('\n');
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0], /^pyproject\.toml: warning: `tool\.freezelens` pyproject\.toml is not valid TOML at line \d+, column \d+/);
      assert.match(r.stdout, /Found 4 findings in 2 files\./);
    });
  });

  describe('--format json', () => {
    test('parses, and each finding has path, line, column, rule and the rest', async () => {
      const r = await cli(['check', '.', '--format', 'json'], proj);
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout);
      assert.equal(out.version, VERSION);
      assert.equal(out.filesChecked, 5);
      assert.deepEqual(out.errors, []);
      const findings: JsonFinding[] = out.findings;
      assert.deepEqual(findings.map((f) => `${f.path}:${f.line}:${f.column}`), EXPECTED);
      for (const f of findings) {
        assert.equal(f.rule, 'FRZ004');
        assert.equal(f.name, 'module-requires-grad-attribute');
        assert.equal(f.severity, 'warning');
        assert.ok(f.endLine >= f.line && f.message.length > 20);
        assert.match(f.url, /^file:\/\/.*\/docs\/rules\/FRZ004\.md$/);
        assert.ok(fs.existsSync(fileURLToPath(f.url)));
      }
      const train = findings.find((f) => f.path === 'train.py' && f.line === 6)!;
      assert.deepEqual([train.endLine, train.endColumn], [6, 'model.layer1.requires_grad = False'.length + 1]);
      assert.deepEqual(train.related.map((x) => [x.line, x.column]), [[5, 9]]);
      assert.deepEqual(train.fixes[0], {
        title: 'Call model.layer1.requires_grad_(False)',
        preferred: true,
        edits: [{ line: 6, column: 1, endLine: 6, endColumn: 35, newText: 'model.layer1.requires_grad_(False)' }],
      });
      const nb = findings.find((f) => f.path === 'notebook.ipynb')!;
      assert.deepEqual(nb.cell, { index: 2, line: 3, column: 1 });
    });

    test('a run with errors lists them, findings still included', async () => {
      const r = await cli(['check', 'train.py', 'nope', '--format', 'json'], proj);
      const out = JSON.parse(r.stdout);
      assert.equal(out.findings.length, 2);
      assert.equal(out.errors.length, 1);
      assert.equal(path.basename(out.errors[0].path), 'nope');
      assert.match(out.errors[0].message, /ENOENT/);
    });
  });

  describe('--format sarif', () => {
    const violations = sarifValidator();

    test('the validator is real: it rejects a broken log', () => {
      assert.equal(violations({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [] }] }), '');
      assert.match(violations({ version: '2.0', runs: [] }), /version/);
      assert.match(violations({ version: '2.1.0', runs: [{ tool: { driver: {} }, results: [] }] }), /name/, 'driver.name is required');
      assert.match(violations({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ message: { text: 'm' }, level: 'severe' }] }] }), /level/);
    });

    test('is valid SARIF 2.1.0 with rule metadata and one result per finding', async () => {
      const r = await cli(['check', '.', '--format', 'sarif'], proj);
      assert.equal(r.code, 1, r.stderr);
      const log = JSON.parse(r.stdout);
      assert.equal(violations(log), '');
      assert.equal(log.version, '2.1.0');
      assert.match(log.$schema, /sarif-2\.1\.0/);
      assert.equal(log.runs.length, 1);
      const [runObj] = log.runs;
      const driver = runObj.tool.driver;
      assert.equal(driver.name, 'FreezeLens');
      assert.equal(driver.semanticVersion, VERSION);
      assert.deepEqual(
        driver.rules.map((r: { id: string }) => r.id),
        [...RULES.map((r) => r.meta.id), 'FRZ101', 'FRZ102', 'FRZ103', 'FRZ104', 'FRZ105'],
      );
      const rule = driver.rules.find((r: { id: string }) => r.id === 'FRZ004');
      assert.equal(rule.id, 'FRZ004');
      assert.equal(rule.name, 'module-requires-grad-attribute');
      assert.ok(rule.shortDescription.text.length > 10);
      assert.match(rule.helpUri, /docs\/rules\/FRZ004\.md$/);
      assert.equal(rule.help.markdown, fs.readFileSync(path.join(ROOT, 'docs', 'rules', 'FRZ004.md'), 'utf8'));
      assert.equal(rule.defaultConfiguration.level, 'warning');

      assert.equal(runObj.originalUriBaseIds['%SRCROOT%'].uri, `file://${proj}/`);
      assert.equal(runObj.invocations[0].executionSuccessful, true);
      const results = runObj.results;
      assert.equal(results.length, 4);
      for (const res of results) {
        assert.equal(res.ruleId, 'FRZ004');
        assert.equal(driver.rules[res.ruleIndex].id, res.ruleId);
        assert.equal(res.level, 'warning');
        assert.ok(res.message.text.length > 20);
        const loc = res.locations[0].physicalLocation;
        assert.equal(loc.artifactLocation.uriBaseId, '%SRCROOT%');
        assert.ok(Number.isInteger(loc.region.startLine) && loc.region.startLine >= 1);
      }
      assert.deepEqual(
        results.map((x: { locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn?: number } } }[] }) => {
          const p = x.locations[0].physicalLocation;
          return `${p.artifactLocation.uri}:${p.region.startLine}:${p.region.startColumn ?? 1}`;
        }),
        EXPECTED,
      );
      const train = results.find((x: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => x.locations[0].physicalLocation.artifactLocation.uri === 'train.py');
      assert.deepEqual(train.locations[0].physicalLocation.region, { startLine: 6, startColumn: 1, endLine: 6, endColumn: 35 });
      assert.equal(train.relatedLocations[0].physicalLocation.region.startLine, 5);
      assert.equal(train.fixes[0].artifactChanges[0].replacements[0].insertedContent.text, 'model.layer1.requires_grad_(False)');
      const nb = results.find((x: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => x.locations[0].physicalLocation.artifactLocation.uri === 'notebook.ipynb');
      assert.match(nb.message.text, /\[cell 3, line 3\]$/);
    });

    test('severity from configuration is the SARIF level; read errors become notifications', async () => {
      const dir = path.join(tmp, 'sarif-errors');
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(FIXTURE, 'train.py'), path.join(dir, 'train.py'));
      fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens.severity]\nFRZ004 = "info"\n');
      fs.writeFileSync(path.join(dir, 'broken.ipynb'), '{"cells": [');
      const r = await cli(['check', '.', 'no such file.py', '--format', 'sarif'], dir);
      assert.equal(r.code, 1);
      const log = JSON.parse(r.stdout);
      assert.equal(violations(log), '');
      assert.deepEqual(log.runs[0].results.map((x: { level: string }) => x.level), ['note', 'note']);
      const inv = log.runs[0].invocations[0];
      assert.equal(inv.executionSuccessful, false);
      const notes = inv.toolExecutionNotifications.map((n: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => n.locations[0].physicalLocation.artifactLocation.uri).sort();
      assert.deepEqual(notes, ['broken.ipynb', 'no%20such%20file.py']);
    });

    test('.onnx exports are checked too: FRZ101-FRZ105 as results of the whole file, with their rule metadata', async () => {
      const dir = path.join(tmp, 'sarif-onnx');
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'onnx', 'tiny_cnn.training.onnx'), path.join(dir, 'trained.onnx'));
      fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'onnx', 'tiny_cnn.preserve.onnx'), path.join(dir, 'clean.onnx'));
      fs.writeFileSync(path.join(dir, 'broken.onnx'), Buffer.from([0x08, 0x07, 0x3a, 0x7f]));
      fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\nignore = ["FRZ102"]\n');
      const text = await cli(['check', '.'], dir);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /^broken\.onnx:1:1: FRZ105 Not a readable ONNX model: .*byte \d+/m);
      assert.match(text.stdout, /^trained\.onnx:1:1: FRZ101 2 BatchNormalization nodes run in training mode/m);
      assert.doesNotMatch(text.stdout, /FRZ102|clean\.onnx/);
      assert.match(text.stdout, /Found 2 findings in 3 files\./);
      const log = JSON.parse((await cli(['check', '.', '--format', 'sarif'], dir)).stdout);
      assert.equal(violations(log), '');
      const driver = log.runs[0].tool.driver;
      const results = log.runs[0].results.map((x: { ruleId: string; ruleIndex: number; level: string }) => [x.ruleId, driver.rules[x.ruleIndex].id, x.level]);
      assert.deepEqual(results, [['FRZ105', 'FRZ105', 'error'], ['FRZ101', 'FRZ101', 'warning']]);
      const frz101 = driver.rules.find((r: { id: string }) => r.id === 'FRZ101');
      assert.equal(frz101.name, 'onnx-batchnorm-training-mode');
      assert.equal(frz101.help.markdown, fs.readFileSync(path.join(ROOT, 'docs', 'rules', 'FRZ101.md'), 'utf8'));
    });

    test('`npx --no-install freezelens check examples/ --format sarif` works from the repository root', async () => {
      const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
      const r = await run(npx, ['--no-install', 'freezelens', 'check', 'examples/', '--format', 'sarif'], ROOT);
      assert.equal(r.code, 1, r.stderr);
      const log = JSON.parse(r.stdout);
      assert.equal(violations(log), '');
      const uris = new Set(log.runs[0].results.map((x: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => x.locations[0].physicalLocation.artifactLocation.uri));
      assert.deepEqual([...uris].sort(), ['examples/finetune_resnet.py', 'examples/linear_probe.ipynb', 'examples/plan_resnet.py']);
      assert.equal(log.runs[0].invocations[0].executionSuccessful, true);
    });
  });
});
