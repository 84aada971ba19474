// `npm start`: builds FreezeLens, installs code-server on first use, and serves
// VS Code in the browser with the extension loaded on examples/.
//
//   npm start                 # http://127.0.0.1:8080/...
//   npm start -- --port 9000
//
// code-server runs with `--auth none`, so it is bound to 127.0.0.1 only.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startCodeServer } from './code-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, folder: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`npm start: --port must be a TCP port number, not '${values.port}'`);
  process.exit(2);
}

const build = spawnSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

console.log('Starting VS Code (code-server); the first start installs it, which takes a few minutes...');
const server = await startCodeServer({
  port,
  folder: path.resolve(values.folder ?? path.join(root, 'examples')),
  extensionDevelopmentPath: root,
  log: (line) => {
    if (process.env.FREEZELENS_VERBOSE) console.error(line);
  },
});

console.log(`\nFreezeLens is running in VS Code at:\n\n  ${server.url}\n\nOpen finetune_resnet.py to see the diagnostics. Press Ctrl+C to stop.`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Keep the event loop alive until a signal arrives.
setInterval(() => {}, 1 << 30);
