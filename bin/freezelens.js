#!/usr/bin/env node
'use strict';
// The CLI is bundled into dist/ by `npm run build`, which `npm install` runs via `prepare`.
let cli;
try {
  cli = require('../dist/cli/freezelens.js');
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/freezelens.js')) throw e;
  process.stderr.write('freezelens: the CLI is not built; run `npm run build` first\n');
  process.exit(2);
}
Promise.resolve(cli.main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
