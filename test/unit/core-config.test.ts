import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_CONFIG, isRuleEnabled, mergeConfig, parsePyproject, severityFor, validateValues } from '../../server/src/config/config';
import { configuredModelFor, findPyproject, isExcluded } from '../../server/src/config/load';
import { parseTorchVersion } from '../../server/src/config/torchVersion';

test('a valid [tool.freezelens] table is read', () => {
  const { values, problems } = parsePyproject(
    '[project]\nname = "x"\n\n[tool.freezelens]\nselect = ["FRZ0"]\nignore = ["FRZ004"]\nexclude = ["legacy/**"]\n\n[tool.freezelens.severity]\nFRZ004 = "error"\n',
    'pyproject.toml',
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(values, { select: ['FRZ0'], ignore: ['FRZ004'], exclude: ['legacy/**'], severity: { FRZ004: 'error' } });
});

test('no [tool.freezelens] table means no values and no problems', () => {
  assert.deepEqual(parsePyproject('[tool.ruff]\nline-length = 100\n', 'p'), { values: {}, problems: [] });
});

test('invalid TOML is one problem naming the table and where', () => {
  const { values, problems } = parsePyproject('[tool.freezelens]\nselect = ["FRZ004"\n', 'pyproject.toml');
  assert.deepEqual(values, {});
  assert.equal(problems.length, 1);
  assert.equal(problems[0].key, 'tool.freezelens');
  assert.match(problems[0].message, /not valid TOML at line \d+/);
});

test('every bad value names its key and falls back to the default', () => {
  const { values, problems } = parsePyproject(
    '[tool.freezelens]\nselect = "FRZ004"\nignore = ["FRZ999", "FRZ004"]\nexclude = [1]\nfrobnicate = true\n[tool.freezelens.severity]\nFRZ004 = "loud"\nFRZ998 = "error"\n',
    'pyproject.toml',
  );
  const byKey = Object.fromEntries(problems.map((p) => [p.key, p.message]));
  assert.match(byKey['tool.freezelens.select'], /must be a list of rule codes/);
  assert.match(byKey['tool.freezelens.ignore'], /unknown rule code "FRZ999"/);
  assert.match(byKey['tool.freezelens.exclude'], /must be a list of glob patterns/);
  assert.match(byKey['tool.freezelens.frobnicate'], /unknown key/);
  assert.match(byKey['tool.freezelens.severity.FRZ004'], /must be one of/);
  assert.match(byKey['tool.freezelens.severity.FRZ998'], /unknown rule code/);
  assert.equal(values.select, undefined);
  assert.deepEqual(values.ignore, ['FRZ004']);
  assert.deepEqual(values.severity, {});
});

test('settings are validated with their own key names', () => {
  const { problems } = validateValues({ select: 'FRZ004' }, 'settings', 'freezelens.');
  assert.equal(problems[0].key, 'freezelens.select');
});

test('settings win key by key; severity merges rule by rule', () => {
  const merged = mergeConfig(
    { select: ['FRZ004'], ignore: ['FRZ001'], exclude: ['a/**'], severity: { FRZ004: 'error', FRZ001: 'hint' } },
    { ignore: [], severity: { FRZ004: 'information' } },
  );
  assert.deepEqual(merged.select, ['FRZ004']);
  assert.deepEqual(merged.ignore, []);
  assert.deepEqual(merged.exclude, ['a/**']);
  assert.deepEqual(merged.severity, { FRZ004: 'information', FRZ001: 'hint' });
  assert.equal(severityFor(merged, 'FRZ004', 'warning'), 'information');
  assert.equal(severityFor(merged, 'FRZ003', 'warning'), 'warning');
});

test('rule selection by code and prefix', () => {
  const base = { ...DEFAULT_CONFIG };
  assert.equal(isRuleEnabled(base, 'FRZ004'), true);
  assert.equal(isRuleEnabled({ ...base, select: ['FRZ00'] }, 'FRZ004'), true);
  assert.equal(isRuleEnabled({ ...base, select: ['FRZ01'] }, 'FRZ004'), false);
  assert.equal(isRuleEnabled({ ...base, ignore: ['frz004'] }, 'FRZ004'), false);
});

test('exclude globs are relative to the config folder and cover whole folders', () => {
  const root = path.join(os.tmpdir(), 'proj');
  assert.equal(isExcluded(['legacy'], root, path.join(root, 'legacy', 'old', 'train.py')), true);
  assert.equal(isExcluded(['**/gen_*.py'], root, path.join(root, 'src', 'gen_model.py')), true);
  assert.equal(isExcluded(['legacy/**'], root, path.join(root, 'src', 'train.py')), false);
  assert.equal(isExcluded(['*.py'], root, path.join(os.tmpdir(), 'elsewhere.py')), false);
});

test('findPyproject prefers the nearest file with a [tool.freezelens] table', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-cfg-'));
  try {
    fs.mkdirSync(path.join(dir, 'pkg', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\nignore = []\n');
    fs.writeFileSync(path.join(dir, 'pkg', 'pyproject.toml'), '[project]\nname = "pkg"\n');
    assert.equal(findPyproject(path.join(dir, 'pkg', 'sub')), path.join(dir, 'pyproject.toml'));
    fs.rmSync(path.join(dir, 'pyproject.toml'));
    assert.equal(findPyproject(path.join(dir, 'pkg', 'sub')), path.join(dir, 'pkg', 'pyproject.toml'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the torch version comes from requirements or pyproject; upper bounds alone are ignored', () => {
  assert.deepEqual(parseTorchVersion('numpy\ntorch==1.13.1\n', 'requirements.txt'), { major: 1, minor: 13, source: 'requirements.txt: torch==1.13.1' });
  assert.equal(parseTorchVersion('torch>=2.1,<3\n', 'requirements.txt')?.major, 2);
  assert.equal(parseTorchVersion('dependencies = ["torch (>=1.12,<2)"]\n', 'pyproject.toml')?.minor, 12);
  assert.equal(parseTorchVersion('torchvision==0.14\n', 'requirements.txt'), undefined);
  assert.equal(parseTorchVersion('torch<2.0\n', 'requirements.txt'), undefined);
  assert.equal(parseTorchVersion('# torch==1.8\n', 'requirements.txt'), undefined);
});

test('models: glob of scripts to an ONNX file, relative to the config folder; bad values are reported', () => {
  const ok = parsePyproject('[tool.freezelens.models]\n"train/**/*.py" = "exports/a.onnx"\n"*.py" = "b.onnx"\n', 'pyproject.toml');
  assert.deepEqual(ok.problems, []);
  const root = path.join(os.tmpdir(), 'project');
  const config = mergeConfig(ok.values, {}, root);
  assert.equal(configuredModelFor(config, path.join(root, 'train', 'x', 'run.py')), path.join(root, 'exports', 'a.onnx'));
  assert.equal(configuredModelFor(config, path.join(root, 'main.py')), path.join(root, 'b.onnx'));
  assert.equal(configuredModelFor(config, path.join(root, 'lib', 'main.py')), undefined);
  assert.equal(configuredModelFor(config, path.join(os.tmpdir(), 'elsewhere.py')), undefined);
  // Settings without a pyproject.toml: relative to the workspace folder.
  const settings = validateValues({ models: { 'a.py': 'm.onnx' } }, 'settings', 'freezelens.');
  assert.equal(configuredModelFor(mergeConfig({}, settings.values, undefined, root), path.join(root, 'a.py')), path.join(root, 'm.onnx'));
  const bad = validateValues({ models: { 'a.py': 'model.pt' } }, 'settings', 'freezelens.');
  assert.match(bad.problems[0].message, /script glob = ONNX file/);
  assert.equal(bad.problems[0].key, 'freezelens.models');
});
