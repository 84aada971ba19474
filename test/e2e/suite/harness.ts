// What the suites running inside the extension host share: running named
// steps with a report of the one that failed, polling, and asking the
// browser side (e2e.test.mjs) to check the page and take a screenshot.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

// Set by e2e.test.mjs (inherited through code-server's environment): the
// artifact folder, also used to exchange screenshot requests with the browser
// side. Unset under Electron, where there is no browser side.
export const artifactDir = process.env.FREEZELENS_E2E_OUT;

/** Runs the steps in order; a failure names its step (the runner itself only sees exit code 1). `cleanup` runs either way. */
export async function runSteps<C>(steps: [string, (c: C) => Promise<void>][], ctx: C, cleanup: () => Promise<void> = async () => {}): Promise<void> {
  console.log(`[e2e] VS Code ${vscode.version}, ${vscode.env.appHost}, trusted workspace: ${vscode.workspace.isTrusted}`);
  let current = '';
  try {
    for (const [name, step] of steps) {
      const t0 = Date.now();
      current = name;
      await step(ctx);
      console.log(`[e2e] ok - ${name} (${Date.now() - t0} ms)`);
    }
  } catch (e) {
    const report = `step "${current}" failed: ${e instanceof Error ? e.stack : String(e)}`;
    console.error(`[e2e] FAILED - ${report}`);
    if (artifactDir) fs.writeFileSync(path.join(artifactDir, 'suite-failure.txt'), report + '\n');
    throw e;
  } finally {
    await cleanup();
  }
}

/** What the browser side is asked to do and check before its screenshot (see watchScreenshotRequests in e2e.test.mjs). */
export interface ScreenshotRequest {
  name: string;
  /** Text the page (or, with inFrames, one webview frame) must show; every one of a list, in the same frame. */
  expectText: string | string[];
  selector?: string;
  inFrames?: boolean;
  timeoutMs?: number;
  axe?: boolean;
  perf?: boolean;
  keyboard?: { inFrameWith: string; steps: { tabTo: string; press?: string; type?: string }[] };
  selectInFrames?: { selector: string; index: number };
  click?: { row: string; hasText: string; target?: string };
  clickInFrames?: { selector: string; hasText: string };
  /** A key pressed in the workbench once the selector shows (after the clicks). */
  pressWhen?: { selector: string; key: string };
  /** Elements in a webview frame that must carry an attribute (disabled, inert): each selector's first match. */
  attributesInFrames?: { selector: string; attribute: string }[];
}

/** Asks the browser side to check the DOM and take a screenshot (see e2e.test.mjs). */
export async function screenshot(spec: ScreenshotRequest, what: string): Promise<void> {
  if (!artifactDir) {
    console.log(`[e2e] no browser side (FREEZELENS_E2E_OUT unset): skipping the ${what} and its screenshot`);
    return;
  }
  // The browser side polls for this file, checks the DOM, takes the
  // screenshot and answers with screenshot-done.
  const done = path.join(artifactDir, 'screenshot-done');
  fs.rmSync(done, { force: true });
  const request = path.join(artifactDir, 'ready-for-screenshot');
  // Write-then-rename, so the browser side never reads a half-written file.
  fs.writeFileSync(`${request}.tmp`, JSON.stringify(spec));
  fs.renameSync(`${request}.tmp`, request);
  const reply = await waitFor(
    () => (fs.existsSync(done) ? JSON.parse(fs.readFileSync(done, 'utf8')) : undefined),
    (spec.timeoutMs ?? 20_000) + 25_000,
    () => 'the browser side did not answer the screenshot request',
  );
  assert.ok(reply.ok, `${what} failed: ${reply.error}`);
}

/** Polls until fn returns something other than undefined. */
export async function waitFor<T>(fn: () => T | undefined, timeoutMs: number, message: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${message()} (after ${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
