// The packaged .vsix installs into a real VS Code (code-server 4.96 takes the
// same `--install-extension` as desktop `code`) and is listed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCodeServer } from '../../scripts/code-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('npm run package builds a .vsix that VS Code installs, and the installed extension runs an experiment', { timeout: 8 * 60_000 }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-vsix-'));
  try {
    const vsix = path.join(work, 'freezelens.vsix');
    // `npm run package`, with the output outside the repo.
    execFileSync(process.execPath, [path.join(root, 'scripts/package.mjs'), '--out', vsix], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    assert.ok(fs.statSync(vsix).size > 10_000, 'the .vsix has content');
    assert.ok(!fs.existsSync(path.join(root, 'dist/node_modules')), 'the staged runtime is removed after packaging');

    const entry = ensureCodeServer();
    const extensionsDir = path.join(work, 'extensions');
    const env = { ...process.env, XDG_CONFIG_HOME: path.join(work, 'config'), XDG_DATA_HOME: path.join(work, 'data') };
    const cs = (...args) =>
      execFileSync(process.execPath, [entry, '--extensions-dir', extensionsDir, '--user-data-dir', path.join(work, 'user'), ...args], {
        env,
        encoding: 'utf8',
      });
    cs('--install-extension', vsix);
    const listed = cs('--list-extensions', '--show-versions');
    const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
    assert.match(listed, new RegExp(`^freezelens\\.freezelens@${version.replace(/\./g, '\\.')}$`, 'm'));
    const installed = fs.readdirSync(extensionsDir).find((d) => d.startsWith('freezelens.freezelens'));
    assert.ok(installed, 'installed into the extensions folder');
    for (const f of ['dist/client/extension.js', 'dist/server/server.js', 'dist/runner/freezelens_runner.py', 'docs/rules/FRZ004.md']) {
      assert.ok(fs.existsSync(path.join(extensionsDir, installed, f)), `${f} is installed`);
    }
    // The installed extension trains with what it carries (tfjs and onnxruntime for this platform), not with
    // this repository's node_modules: its CLI, run from a folder outside the repository, on the demo.
    const demo = path.join(root, 'examples/experiment');
    const run = spawnSync(process.execPath, [path.join(extensionsDir, installed, 'dist/cli/freezelens.js'), 'experiment', '--model', path.join(demo, 'shapes_cnn.onnx'), '--data', path.join(demo, 'data'), '--strategies', 'linear-probe,freeze-to:layer2', '--epochs', '1'], { cwd: work, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /^backend wasm; 400 samples \(320 train, 80 validation\), 5 classes$/m);
    assert.match(run.stdout, /^linear-probe +[\d.]+% .* 325\n/m);
    assert.match(run.stdout, /^freeze-to:layer2 +[\d.]+% .* 65,093\n/m);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
