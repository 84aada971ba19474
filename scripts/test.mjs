// `npm test`: type-check and compile, bundle, then run every test — unit,
// language-server, CLI and the end-to-end test in a real VS Code (code-server).
// Anything the end-to-end test needs (code-server, chromium) is installed by
// the test itself on first use.
import { spawnSync } from 'node:child_process';

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

const only = process.argv.slice(2);
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);
run(process.execPath, ['scripts/build.mjs']);
run(process.execPath, [
  '--test',
  // One file at a time: the .vsix test rebuilds dist/ that the end-to-end test loads.
  '--test-concurrency=1',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/summary-reporter.mjs',
  '--test-reporter-destination=stdout',
  ...(only.length > 0 ? only : ['out/test/unit/', 'test/e2e/']),
]);
