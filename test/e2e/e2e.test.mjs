// End-to-end test in a real VS Code workbench: code-server serves VS Code,
// headless Chromium renders it, and the suite in test/e2e/suite runs inside
// the (remote) extension host against the extension loaded from this repo.
//
//   npm run test:e2e        (= build, compile-tests, node --test test/e2e/)
//
// Prerequisites are installed on first run (scripts/install-code-server.sh).
// Artifacts (screenshots, code-server log, browser console, workbench logs)
// land in .test-output/e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCodeServer, startCodeServer } from '../../scripts/code-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Overridable only to debug the harness itself against another extension.
const extensionPath = process.env.FREEZELENS_E2E_EXTENSION ?? root;
const folder = process.env.FREEZELENS_E2E_FOLDER ?? path.join(root, 'examples');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RUN_TIMEOUT_MS = 4 * 60_000;
const python = process.env.FREEZELENS_PYTHON ?? '/usr/bin/python3';
// The artifact folder of the suite running now (each suite has its own).
let outDir;

test('extension works in a real VS Code workbench', { timeout: RUN_TIMEOUT_MS + 6 * 60_000 }, (t) =>
  runSuite(t, {
    name: 'e2e',
    suite: process.env.FREEZELENS_E2E_SUITE ?? path.join(root, 'out/test/e2e/suite/index.js'),
    // Trusted: the experiment panel runs only in a trusted workspace, and the tests cannot answer the trust prompt.
    args: ['--disable-workspace-trust'],
    // The panel's PyTorch backend runs in Debian's PyTorch (installed by scripts/oracle-setup.sh, as for the oracle).
    settings: { 'freezelens.pythonPath': python },
    setup: () => execFileSync('sh', [path.join(root, 'scripts/oracle-setup.sh')], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, FREEZELENS_PYTHON: python } }),
  }),
);

test('in an untrusted workspace the analysis runs and the experiment panel runs nothing, and says why', { timeout: RUN_TIMEOUT_MS + 6 * 60_000 }, (t) =>
  runSuite(t, {
    name: 'e2e-untrusted',
    suite: path.join(root, 'out/test/e2e/suite/untrusted.js'),
    // Workspace trust on (code-server's default), and no prompt: the folder opens in restricted mode.
    settings: { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' },
  }),
);

/** Runs one suite (a module with run(), loaded as extensionTestsPath) in code-server on examples/, its artifacts in .test-output/<name>/. */
async function runSuite(t, { name, suite: testsPath, args = [], settings = {}, setup = () => {} }) {
  outDir = path.join(root, '.test-output', name);
  const main = JSON.parse(fs.readFileSync(path.join(extensionPath, 'package.json'), 'utf8')).main;
  for (const [what, p] of [
    ['bundled extension (npm run build)', path.join(extensionPath, main)],
    ['compiled suite (npm run compile-tests)', testsPath],
    ['workspace folder', folder],
  ]) {
    assert.ok(fs.existsSync(p), `missing ${what}: ${p}`);
  }

  // First run: installs code-server (about 1.5 min) and, via apt, chromium.
  let entry, installError;
  try {
    entry = ensureCodeServer();
  } catch (e) {
    installError = e;
  }
  // Only a machine where chromium cannot be installed (no apt, no root) may
  // skip; any other installation problem is a failure.
  if (!fs.existsSync(chromiumPath)) {
    t.skip(`chromium not available at ${chromiumPath} and could not be installed`);
    return;
  }
  if (installError) throw installError;
  setup();

  // The suite edits an example without saving; prove the files stay as they were.
  const before = snapshot(folder);
  t.after(() => assert.deepEqual(snapshot(folder), before, `the suite modified files in ${folder}`));

  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const serverLog = [];
  const consoleLog = [];
  const started = Date.now();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  // Torn down in reverse order: browser before server.
  const cleanups = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e) => t.diagnostic(`cleanup: ${e}`));
  });

  const server = await startCodeServer({
    entry,
    folder,
    extensionDevelopmentPath: extensionPath,
    extensionTestsPath: testsPath,
    env: { FREEZELENS_E2E_OUT: outDir, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' },
    args,
    settings,
    log: (line) => serverLog.push(`${stamp()} ${line}`),
  });
  cleanups.push(() => server.stop());

  // Dynamic import: playwright-core is only needed once we know we will run.
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox', // we run as root in containers
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  cleanups.push(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });

  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => consoleLog.push(`${stamp()} [${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLog.push(`${stamp()} [pageerror] ${e.stack ?? e}`));

  // The web workbench calls window.codeAutomationExit(code, logs) once the
  // extension tests finish (see BrowserHostService in VS Code).
  let onExit;
  const exited = new Promise((resolve) => (onExit = resolve));
  await page.exposeFunction('codeAutomationExit', (code, logs) => onExit({ code, logs }));

  // The suite asks for a screenshot through files, since the extension host
  // cannot reach the browser page (see test/e2e/suite/index.ts).
  const handshake = watchScreenshotRequests(page);
  cleanups.push(async () => handshake.stop());

  let result;
  let timer;
  try {
    await page.goto(server.url, { timeout: 120_000 });
    result = await Promise.race([
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result within ${RUN_TIMEOUT_MS / 1000}s`)), RUN_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await page.screenshot({ path: path.join(outDir, 'final.png') }).catch(() => {});
    handshake.stop();
    // Server-side logs include the extension host's and every output channel's.
    const serverLogs = path.join(server.userDataDir, 'logs');
    if (fs.existsSync(serverLogs)) fs.cpSync(serverLogs, path.join(outDir, 'server-logs'), { recursive: true });
    fs.writeFileSync(path.join(outDir, 'code-server.log'), serverLog.join('\n') + '\n');
    fs.writeFileSync(path.join(outDir, 'browser-console.log'), consoleLog.join('\n') + '\n');
    for (const { relativePath, contents } of result?.logs ?? []) {
      const file = path.join(outDir, 'workbench-logs', relativePath);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, contents);
    }
  }
  t.diagnostic(`suite finished with code ${result.code} after ${stamp()}`);
  const failure = path.join(outDir, 'suite-failure.txt');
  const detail = fs.existsSync(failure) ? fs.readFileSync(failure, 'utf8') : 'see browser-console.log';
  assert.equal(result.code, 0, `extension tests failed (artifacts in ${path.relative(root, outDir)}/):\n${detail}`);
  assert.deepEqual(handshake.errors, [], 'page-side checks failed');
}

/**
 * Serves the suite's screenshot requests: it writes `ready-for-screenshot`
 * (JSON: { name, expectText?, selector?, click? }); we click what it asks
 * (click: { row, hasText, target? }: a user's click in the workbench;
 * clickInFrames: { selector, hasText }: a click inside a webview;
 * selectInFrames: { selector, index }: an option chosen there;
 * pressWhen: { selector, key }: a key pressed once the selector shows;
 * keyboard: { inFrameWith, steps: [{ tabTo, press?, type? }] }: a
 * keyboard-only pass over a webview (see driveByKeyboard); timeoutMs:
 * how long to wait for expectText in frames, 20 s by default; axe: check
 * that frame's accessibility with axe-core; perf: measure the experiment
 * panel there),
 * check the DOM, take `<name>.png`, and answer with `screenshot-done`
 * (JSON: { ok, error? }).
 */
function watchScreenshotRequests(page) {
  const request = path.join(outDir, 'ready-for-screenshot');
  const done = path.join(outDir, 'screenshot-done');
  const errors = [];
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || !fs.existsSync(request)) return;
    busy = true;
    let reply;
    try {
      const req = JSON.parse(fs.readFileSync(request, 'utf8'));
      fs.rmSync(request);
      if (req.click) {
        // A user's click: the row of the tree (or list) that shows the text, then the element in it.
        const row = page.locator(req.click.row).filter({ hasText: req.click.hasText }).first();
        await row.waitFor({ state: 'visible', timeout: 20_000 });
        await (req.click.target ? row.locator(req.click.target).first() : row).click();
      }
      if (req.clickInFrames) {
        // A click inside a webview (nested iframes): the first frame that shows the element.
        const deadline = Date.now() + 20_000;
        let clicked = false;
        while (!clicked && Date.now() < deadline) {
          for (const frame of page.frames()) {
            const target = frame.locator(req.clickInFrames.selector).filter({ hasText: req.clickInFrames.hasText }).first();
            if (await target.isVisible().catch(() => false)) {
              await target.click();
              clicked = true;
              break;
            }
          }
          if (!clicked) await new Promise((r) => setTimeout(r, 250));
        }
        if (!clicked) throw new Error(`no frame shows ${req.clickInFrames.selector} with "${req.clickInFrames.hasText}"`);
      }
      if (req.selectInFrames) {
        // Choosing an option of a <select> inside a webview, by its index, once a frame shows it.
        const deadline = Date.now() + 20_000;
        let chosen = false;
        while (!chosen && Date.now() < deadline) {
          for (const frame of page.frames()) {
            const select = frame.locator(req.selectInFrames.selector).first();
            if (await select.isVisible().catch(() => false)) {
              await select.selectOption({ index: req.selectInFrames.index });
              chosen = true;
              break;
            }
          }
          if (!chosen) await new Promise((r) => setTimeout(r, 250));
        }
        if (!chosen) throw new Error(`no frame shows ${req.selectInFrames.selector}`);
      }
      if (req.pressWhen) {
        // A key for the workbench once something shows (Enter in a file dialog).
        await page.locator(req.pressWhen.selector).first().waitFor({ state: 'visible', timeout: 20_000 });
        await page.keyboard.press(req.pressWhen.key);
      }
      if (req.keyboard) await driveByKeyboard(page, req.keyboard, req.name);
      if (req.attributesInFrames) await checkAttributes(page, req.attributesInFrames, req.expectText);
      if (req.expectText && req.inFrames) {
        // A webview renders in nested iframes: look in every frame until one shows the text (every text, for a list).
        const wanted = [req.expectText].flat();
        const deadline = Date.now() + (req.timeoutMs ?? 20_000);
        let found = false;
        while (!found && Date.now() < deadline) {
          for (const frame of page.frames()) {
            const text = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
            if (wanted.every((w) => text.includes(w))) found = true;
          }
          if (!found) await new Promise((r) => setTimeout(r, 250));
        }
        if (!found) throw new Error(`no frame shows ${wanted.map((w) => `"${w}"`).join(' and ')}`);
        req.expectText = wanted[0];
        if (req.axe) await checkAccessibility(page, req.expectText, req.name);
        if (req.perf) await measurePanel(page, req.expectText, req.name);
      } else if (req.expectText) {
        // Wait for the text to render rather than racing the panel's layout.
        const locator = page.locator(req.selector ?? 'body').filter({ hasText: req.expectText }).first();
        await locator.waitFor({ state: 'visible', timeout: 20_000 });
      }
      await page.screenshot({ path: path.join(outDir, `${req.name}.png`) });
      reply = { ok: true };
    } catch (e) {
      // What the page showed when the check failed, for whoever reads the artifacts.
      await page.screenshot({ path: path.join(outDir, 'failed-check.png') }).catch(() => {});
      const error = String(e?.message ?? e).replace(/\x1b\[[0-9;]*m/g, ''); // playwright colours its logs
      errors.push(error);
      reply = { ok: false, error };
    }
    // Write-then-rename, so neither side ever reads a half-written file.
    fs.writeFileSync(`${done}.tmp`, JSON.stringify(reply));
    fs.renameSync(`${done}.tmp`, done);
    busy = false;
  }, 200);
  return { errors, stop: () => clearInterval(timer) };
}

/**
 * In the webview frame that shows `text` (waited for), each selector's
 * first element must carry its attribute (`disabled`, `inert`).
 */
async function checkAttributes(page, checks, text) {
  const wanted = [text].flat()[0];
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const frame of page.frames()) {
      const body = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
      if (!body.includes(wanted)) continue;
      const missing = [];
      for (const { selector, attribute } of checks) {
        const value = await frame.locator(selector).first().getAttribute(attribute, { timeout: 5000 }).catch(() => null);
        if (value === null) missing.push(`${selector} has no ${attribute}`);
      }
      if (missing.length > 0) throw new Error(missing.join('; '));
      return;
    }
    if (Date.now() > deadline) throw new Error(`no frame shows "${wanted}" for the attribute checks`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A keyboard-only pass over the webview frame that shows `inFrameWith`:
 * from its heading, Tab moves through the controls (the real key,
 * through the workbench and the webview's iframes) until the focused one's
 * label is each step's `tabTo`; there it presses a key or types. Every
 * enabled, visible control of the page's form must have been reached by
 * Tab, with a label, by the end: what was reached goes to
 * `<name>.keyboard.json`.
 */
async function driveByKeyboard(page, spec, name) {
  let frame;
  for (const f of page.frames()) {
    const body = await f.locator('body').innerText({ timeout: 1000 }).catch(() => '');
    if (body.includes(spec.inFrameWith)) frame = f;
  }
  if (!frame) throw new Error(`no frame shows "${spec.inFrameWith}" for the keyboard pass`);
  // The label a user hears for the focused control: its <label>, aria-label, a checkbox's label, or a button's text.
  const focused = () =>
    frame.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body) return null;
      const label = a.getAttribute('aria-label') || (a.labels && a.labels[0] ? a.labels[0].textContent : '') || a.getAttribute('label') || a.textContent;
      return { key: `${a.tagName.toLowerCase()}#${a.id}|${(label || '').trim()}`, label: (label || '').trim() };
    });
  // The starting point: a click on the page's heading (focus in the webview, on no control); keys only from there.
  await frame.locator('h1').first().click();
  const controlsNow = () =>
    frame.evaluate(() =>
      [...document.querySelectorAll('form input, form select, form vscode-button, form vscode-checkbox')]
        .filter((c) => !c.hasAttribute('disabled') && !c.disabled && c.getClientRects().length > 0)
        .map((c) => {
          const label = c.getAttribute('aria-label') || (c.labels && c.labels[0] ? c.labels[0].textContent : '') || c.getAttribute('label') || c.textContent;
          return `${c.tagName.toLowerCase()}#${c.id}|${(label || '').trim()}`;
        }),
    );
  const reached = [];
  let controls = [];
  for (const [i, step] of spec.steps.entries()) {
    let at = null;
    for (let presses = 0; presses < 80; presses++) {
      await page.keyboard.press('Tab');
      at = await focused();
      if (at) reached.push(at);
      if (at?.label === step.tabTo) break;
    }
    if (at?.label !== step.tabTo) throw new Error(`Tab never reached "${step.tabTo}"; it reached: ${[...new Set(reached.map((r) => r.label))].join(', ')}`);
    if (step.type !== undefined) {
      // Clear the field, then type. Not with Ctrl+A: a webview hands it to the workbench, whose select-all
      // comes back later and would select what was typed meanwhile.
      await page.keyboard.press('End');
      await page.keyboard.press('Shift+Home');
      await page.keyboard.press('Backspace');
      await page.keyboard.type(step.type, { delay: 20 });
    }
    // The form's controls as they are before the last key (which may start a run and enable Cancel).
    if (i === spec.steps.length - 1) controls = await controlsNow();
    if (step.press) await page.keyboard.press(step.press);
  }
  const keys = new Set(reached.map((r) => r.key));
  fs.writeFileSync(path.join(outDir, `${name}.keyboard.json`), JSON.stringify({ controls, reached: [...keys] }, null, 2));
  const unlabelled = controls.filter((c) => c.endsWith('|'));
  if (unlabelled.length > 0) throw new Error(`controls without a label: ${unlabelled.join(', ')}`);
  const missed = controls.filter((c) => !keys.has(c));
  if (missed.length > 0) throw new Error(`controls Tab never reached: ${missed.join(', ')}`);
}

/**
 * axe-core on the webview frame that shows `text`: its violations go to
 * `<name>.axe.json`, and a serious or critical one fails the check. The
 * script is evaluated through the debugging protocol, which the webview's
 * CSP (no inline scripts) does not apply to.
 */
async function checkAccessibility(page, text, name) {
  const axe = fs.readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
  for (const frame of page.frames()) {
    const body = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
    if (!body.includes(text)) continue;
    const violations = await frame.evaluate(`${axe}\n;axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))`);
    fs.writeFileSync(path.join(outDir, `${name}.axe.json`), JSON.stringify(violations, null, 2));
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (serious.length > 0) throw new Error(`accessibility: ${serious.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).join(', ')}`).join('; ')}`);
    return;
  }
  throw new Error(`no frame shows "${text}" for the accessibility check`);
}

/**
 * The experiment panel's speed, in the frame that shows `text`: the time
 * from the webview's navigation to its first usable render (the
 * `freezelens-panel-ready` mark), and the frame rate while a synthetic run
 * of four plans sends 50 events a second for 5 s through the panel's own
 * message handler. Written to `<name>.json`: numbers to read (recorded in
 * bench/RESULTS.md), not thresholds.
 */
async function measurePanel(page, text, name) {
  for (const frame of page.frames()) {
    const body = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
    if (!body.includes(text)) continue;
    const result = await frame.evaluate(async () => {
      const ready = performance.getEntriesByName('freezelens-panel-ready')[0]?.startTime ?? null;
      const plans = ['plan-a', 'plan-b', 'plan-c', 'plan-d'];
      const runId = 1e9;
      window.postMessage({ type: 'started', runId, setup: { model: { kind: 'onnx', path: 'synthetic.onnx' }, data: 'synthetic', plans, epochs: 10, batch: 32, seed: 0, valSplit: 0.2, backend: 'auto' } }, '*');
      const frameTimes = [];
      let last = performance.now();
      let measuring = true;
      const tick = (t) => {
        frameTimes.push(t - last);
        last = t;
        if (measuring) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      let events = 0;
      const started = performance.now();
      await new Promise((resolve) => {
        const timer = setInterval(() => {
          const plan = plans[events % plans.length];
          const step = Math.floor(events / plans.length) + 1;
          window.postMessage({ type: 'event', runId, event: { type: 'step', strategy: plan, step, loss: 2 / Math.sqrt(step) + Math.random() * 0.1, ms: 20 } }, '*');
          if (step % 25 === 0 && events % plans.length === 0) for (const p of plans) window.postMessage({ type: 'event', runId, event: { type: 'epoch', strategy: p, epoch: step / 25, trainLoss: 1, valLoss: 1, valAcc: Math.min(1, step / 300), msEpoch: 500 } }, '*');
          events++;
          if (performance.now() - started >= 5000) {
            clearInterval(timer);
            resolve();
          }
        }, 20);
      });
      measuring = false;
      const seconds = (performance.now() - started) / 1000;
      window.postMessage({ type: 'finished', runId, cancelled: true }, '*');
      const sorted = [...frameTimes].sort((a, b) => a - b);
      return { panelReadyMs: ready, events, eventsPerSecond: events / seconds, fps: frameTimes.length / seconds, frameMsP50: sorted[Math.floor(sorted.length / 2)], frameMsP95: sorted[Math.floor(sorted.length * 0.95)], framesOver33ms: frameTimes.filter((t) => t > 1000 / 30).length, frames: frameTimes.length };
    });
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(result, null, 2));
    return;
  }
  throw new Error(`no frame shows "${text}" for the panel measurement`);
}

function snapshot(dir) {
  const files = {};
  for (const name of fs.readdirSync(dir, { recursive: true })) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isFile()) files[name] = fs.readFileSync(p, 'utf8');
  }
  return files;
}
