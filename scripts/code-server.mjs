// Starts a throwaway code-server (VS Code in the browser) for the end-to-end
// tests and `npm start`.
//
//   import { ensureCodeServer, startCodeServer } from './code-server.mjs';
//   const server = await startCodeServer({
//     folder: '/abs/examples',                 // workspace to open
//     extensionDevelopmentPath: '/abs/repo',   // load the extension from source
//     extensionTestsPath: '/abs/out/test/e2e/suite/index.js', // optional: run tests
//     log: (line) => process.stderr.write(line + '\n'),
//   });
//   console.log(server.url);   // open this in a browser
//   await server.stop();       // kills code-server and everything it spawned
//
// The extension is loaded through the workbench URL's `payload` (the same
// mechanism as `code --extensionDevelopmentPath`), not installed, so a rebuild
// plus a browser reload picks up changes and nothing is left behind.
//
// Workspace trust stays on (no --disable-workspace-trust): a person gets the
// usual trust prompt; under extension tests the workbench refuses to show
// dialogs, so the folder simply stays in Restricted Mode and the test runs.
// Pass args: ['--disable-workspace-trust'] to run everything as trusted.
//
// code-server shares the caller's process group, so Ctrl+C in a terminal stops
// it too; stop() also kills whatever it spawned, and exiting without stop()
// kills it as a last resort.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Installs code-server if needed (see install-code-server.sh) and returns the
 * path of its JavaScript entry point.
 */
export function ensureCodeServer({ stdio = ['ignore', 'pipe', 'inherit'] } = {}) {
  const out = execFileSync('bash', [path.join(here, 'install-code-server.sh')], {
    stdio,
    encoding: 'utf8',
  });
  const bin = out.trim().split('\n').pop();
  // .bin/code-server is a symlink to out/node/entry.js; run it with our node.
  return fs.realpathSync(bin);
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {object} o
 * @param {string} o.folder                  absolute path of the folder to open
 * @param {number} [o.port]                  default: a free port
 * @param {string} [o.extensionDevelopmentPath] absolute path of an extension to load from source
 * @param {string} [o.extensionTestsPath]    absolute path of a test module exporting run()
 * @param {string} [o.extensionDir]          --extensions-dir (default: fresh temp dir)
 * @param {object} [o.settings]              user settings.json contents
 * @param {Record<string,string>} [o.env]   extra environment (the extension host inherits it)
 * @param {string[]} [o.args]                extra code-server arguments, e.g. ['--disable-workspace-trust']
 * @param {(line: string) => void} [o.log]   receives code-server's output lines
 * @param {string} [o.entry]                 code-server entry.js (default: ensureCodeServer())
 * @param {number} [o.timeoutMs]             how long to wait for the HTTP port
 * @returns {Promise<{url: string, origin: string, port: number, authority: string,
 *   userDataDir: string, stop: () => Promise<void>}>}
 */
export async function startCodeServer({
  folder,
  port,
  extensionDevelopmentPath,
  extensionTestsPath,
  extensionDir,
  settings = {},
  env: extraEnv = {},
  args: extraArgs = [],
  log = () => {},
  entry,
  timeoutMs = 90_000,
}) {
  entry ??= ensureCodeServer();
  port ??= await freePort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-code-server-'));
  const userDataDir = path.join(tmp, 'user-data');
  extensionDir ??= path.join(tmp, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionDir, { recursive: true });
  // code-server keeps user settings on the server side, so they can be seeded.
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'update.mode': 'none',
        // Tests edit example files and revert them: nothing may save them behind the test's back.
        'files.autoSave': 'off',
        'files.hotExit': 'off',
        // The examples sit inside this repository: no prompt to open it covering the screenshots.
        'git.openRepositoryInParentFolders': 'never',
        ...settings,
      },
      null,
      2,
    ),
  );

  // Variables that would make code-server reuse another instance, change the
  // port, or ask for a password; and our own VS Code's, if run from its terminal.
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(VSCODE_|ELECTRON_|CODE_SERVER_)/.test(k)) delete env[k];
  }
  for (const k of ['PORT', 'PASSWORD', 'HASHED_PASSWORD', 'GITHUB_TOKEN']) delete env[k];
  // Fresh config/data homes: code-server writes config.yaml and an IPC socket there.
  env.XDG_CONFIG_HOME = path.join(tmp, 'config');
  env.XDG_DATA_HOME = path.join(tmp, 'data');
  Object.assign(env, extraEnv);

  const args = [
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionDir,
    '--session-socket', path.join(tmp, 'session.sock'),
    ...extraArgs,
  ];
  // Not detached: Ctrl+C in the terminal then reaches code-server too.
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: folder,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Last resort if the caller exits without stop(): no orphaned servers.
  const onExit = () => signalAll([child.pid, ...descendants(child.pid)], 'SIGKILL');
  process.on('exit', onExit);
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve((exited = { code, signal }))),
  );
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      lines.forEach((l) => log(l));
    });
    stream.on('end', () => buf && log(buf));
  }

  const origin = `http://127.0.0.1:${port}`;
  const authority = `127.0.0.1:${port}`;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    // The extension host, pty host and file watcher are code-server's
    // children; list them before the parent dies and they get reparented.
    const pids = [child.pid, ...descendants(child.pid)];
    signalAll(pids, 'SIGTERM');
    const timer = setTimeout(() => signalAll(pids, 'SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(timer);
    // Give the children a moment to follow, then make sure.
    await new Promise((r) => setTimeout(r, 500));
    signalAll(pids.filter(alive), 'SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    await waitForHttp(`${origin}/healthz`, timeoutMs, () => exited);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    url: workbenchUrl({ origin, authority, folder, extensionDevelopmentPath, extensionTestsPath }),
    origin,
    port,
    authority,
    userDataDir,
    stop,
  };
}

/**
 * The workbench URL. `folder` is an absolute server path (code-server turns it
 * into vscode-remote://<host:port>/path); `payload` is a JSON array of
 * [key, value] pairs read by the web workbench, whose values must be full URIs.
 */
export function workbenchUrl({ origin, authority, folder, extensionDevelopmentPath, extensionTestsPath }) {
  const remote = (p) => `vscode-remote://${authority}${encodeURI(p)}`;
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', remote(extensionTestsPath)]);
  const q = new URLSearchParams({ folder });
  if (payload.length) q.set('payload', JSON.stringify(payload));
  return `${origin}/?${q}`;
}

async function waitForHttp(url, timeoutMs, hasExited) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ex = hasExited();
    if (ex) throw new Error(`code-server exited early (code ${ex.code}, signal ${ex.signal})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms`);
}

function descendants(root) {
  let table;
  try {
    table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const kids = new Map();
  for (const line of table.trim().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(pid);
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    for (const k of kids.get(queue.shift()) ?? []) {
      out.push(k);
      queue.push(k);
    }
  }
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
