// The interpreter the PyTorch backend runs with, in the order users expect:
// FreezeLens's setting, the Python extension's selection, python3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { choosePython } from '../../client/src/experiments/choosePython';

test('freezelens.pythonPath wins, then the Python extension\'s interpreter, then python3', () => {
  assert.deepEqual(choosePython(' /opt/venv/bin/python ', '/usr/bin/python3.11'), { path: '/opt/venv/bin/python', source: 'freezelens.pythonPath' });
  assert.deepEqual(choosePython(null, '/home/me/.venv/bin/python'), { path: '/home/me/.venv/bin/python', source: 'the Python extension' });
  assert.deepEqual(choosePython('', undefined), { path: 'python3', source: 'default' });
});

test('the extension host bundle loads neither tfjs nor onnxruntime (they load in the experiment process only)', () => {
  const bundle = fs.readFileSync(path.resolve(__dirname, '../../../dist/client/extension.js'), 'utf8');
  assert.doesNotMatch(bundle, /require\(["']@tensorflow\//);
  assert.doesNotMatch(bundle, /require\(["']onnxruntime-node["']\)/);
  assert.match(bundle, /freezelens\.experiment\.runTorch/);
});

test('a setting that names an executable is not taken from an untrusted workspace', () => {
  const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.deepEqual(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations, ['freezelens.pythonPath']);
});
