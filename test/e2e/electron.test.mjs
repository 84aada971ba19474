// The same suite as e2e.test.mjs, in desktop VS Code (Electron), for machines
// that can download it. Without network access (or without an X display on
// Linux) this test skips instead of failing; e2e.test.mjs is the one that
// must run everywhere.
//
//   npm run build && npm run compile-tests && xvfb-run node --test test/e2e/electron.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VERSION = '1.96.0';
// Outside the repo, next to code-server (the default would be ./.vscode-test).
const cachePath = path.join(process.env.FREEZELENS_CACHE ?? path.join(os.homedir(), '.cache', 'freezelens'), 'vscode-test');

test(`extension works in desktop VS Code ${VERSION}`, { timeout: 10 * 60_000 }, async (t) => {
  const testsPath = path.join(root, 'out/test/e2e/suite/index.js');
  assert.ok(fs.existsSync(testsPath), `missing compiled suite (npm run compile-tests): ${testsPath}`);
  if (process.platform === 'linux' && !process.env.DISPLAY) {
    t.skip('no X display (run under xvfb-run to enable)');
    return;
  }

  const { downloadAndUnzipVSCode, runTests, SilentReporter } = await import('@vscode/test-electron');
  let executable;
  try {
    executable = await downloadAndUnzipVSCode({
      version: VERSION,
      cachePath,
      reporter: new SilentReporter(),
      timeout: 15_000, // idle timeout: a blocked network fails fast
    });
  } catch (e) {
    t.skip(`cannot download VS Code ${VERSION}: ${String(e?.message ?? e).split('\n')[0]}`);
    return;
  }

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-electron-'));
  t.after(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
  const code = await runTests({
    vscodeExecutablePath: executable,
    extensionDevelopmentPath: root,
    extensionTestsPath: testsPath,
    launchArgs: [
      path.join(root, 'examples'),
      '--disable-extensions', // only ours
      '--skip-welcome',
      '--user-data-dir', userDataDir,
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    ],
  });
  assert.equal(code, 0);
});
