import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RULES, ruleDocPath } from '../../server/src/rules';

const root = path.resolve(__dirname, '../../..');

test('the .vsix holds only the bundles, their data, the PyTorch runner, the docs, the icon and the manifest', () => {
  // (The experiment runtime in dist/node_modules/ is staged only while `npm run package` runs: test/e2e/vsix.test.mjs.)
  const listed = execFileSync(process.execPath, [path.join(root, 'node_modules/@vscode/vsce/vsce'), 'ls', '--no-dependencies'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const allowed = /^(package\.json|README\.md|LICENSE|media\/icon\.png|media\/freezelens\.svg|media\/walkthrough\/\w+\.md|docs\/rules\/FRZ\d{3}\.md|docs\/(models|planner|experiments)\.md|dist\/(client|server|cli|webview|experiment)\/[\w.-]+\.(js|css)|dist\/data\/torchvision-catalog\.json|dist\/runner\/freezelens_runner\.py)$/;
  assert.deepEqual(listed.filter((f) => !allowed.test(f)), []);
  for (const required of ['package.json', 'dist/client/extension.js', 'dist/server/server.js', 'dist/experiment/worker.js', 'dist/runner/freezelens_runner.py', 'docs/rules/FRZ004.md', 'docs/models.md', 'media/icon.png', 'dist/data/torchvision-catalog.json']) {
    assert.ok(listed.includes(required), `${required} is packaged`);
  }
});

test('every rule has its documentation page with the fixed sections', () => {
  for (const rule of RULES) {
    const doc = fs.readFileSync(path.join(root, ruleDocPath(rule.meta.id)), 'utf8');
    assert.ok(doc.startsWith(`# ${rule.meta.id} ${rule.meta.name}`), `${rule.meta.id} doc title`);
    for (const section of ['What it does', 'Why is this bad?', 'Example', 'Use instead', 'Fix safety', 'When it is harmless', 'References']) {
      assert.ok(doc.includes(`## ${section}`), `${rule.meta.id} doc has "${section}"`);
    }
  }
});
