import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Corpus } from './generate';
import { checkSources } from './inprocess';
import { median } from './stats';

export interface ThroughputResult {
  label: string;
  /** Wall time of each run, ms. */
  runs: number[];
  medianMs: number;
  linesPerSecond: number;
  /** What the tool reported, to show it really looked at the files (finding counts, files analysed). */
  detail: string;
}

function result(label: string, corpus: Corpus, runs: number[], detail: string): ThroughputResult {
  const medianMs = median(runs);
  return { label, runs, medianMs, linesPerSecond: corpus.lines / (medianMs / 1000), detail };
}

/**
 * Times one call. In-process rows make one unmeasured pass first and report
 * it apart: V8 compiles both JavaScript and WebAssembly lazily and tiers up
 * hot functions, so a first pass measures the compiler as much as the tool.
 */
function timed<T>(fn: () => T): { ms: number; value: T } {
  const start = performance.now();
  const value = fn();
  return { ms: performance.now() - start, value };
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

/**
 * Times a command end to end, as a user or CI job would run it: process
 * start-up, module loading, reading files and writing the report all count.
 * stdout goes to a file rather than a pipe so that a slow reader here does
 * not throttle the tool being measured.
 */
function timeCommand(args: string[], cwd: string): { ms: number; stdout: string; status: number | null; stderr: string } {
  const outFile = path.join(os.tmpdir(), `freezelens-bench-${process.pid}.out`);
  const fd = fs.openSync(outFile, 'w');
  try {
    const start = performance.now();
    const r = spawnSync(process.execPath, args, { cwd, stdio: ['ignore', fd, 'pipe'], maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    const ms = performance.now() - start;
    if (r.error) throw r.error;
    return { ms, stdout: fs.readFileSync(outFile, 'utf8'), status: r.status, stderr: r.stderr };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(outFile, { force: true });
  }
}

/** `freezelens check DIR --format json`; exit status 1 only means "findings". */
export function benchFreezeLensCli(root: string, corpus: Corpus, runs: number): ThroughputResult {
  const times: number[] = [];
  let detail = '';
  for (let i = 0; i < runs; i++) {
    const r = timeCommand([path.join(root, 'bin/freezelens.js'), 'check', corpus.dir, '--format', 'json'], corpus.dir);
    if (r.status !== 0 && r.status !== 1) throw new Error(`freezelens exited with ${r.status}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as { filesChecked: number; findings: unknown[]; errors: unknown[] };
    if (report.filesChecked !== corpus.files.length) throw new Error(`freezelens checked ${report.filesChecked} of ${corpus.files.length} files`);
    detail = `${report.filesChecked} files, ${report.findings.length} findings`;
    times.push(r.ms);
  }
  return result('FreezeLens CLI (`check --format json`)', corpus, times, detail);
}

/** The core alone, on sources already in memory: the CLI's number minus start-up, IO and report. */
export function benchFreezeLensInProcess(corpus: Corpus, runs: number): ThroughputResult {
  const sources = corpus.files.map((p) => ({ path: p, text: fs.readFileSync(p, 'utf8') }));
  const first = timed(() => checkSources(sources));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(timed(() => checkSources(sources)).ms);
  return result('FreezeLens core in-process (checkProgram)', corpus, times, `${first.value} findings; first pass ${seconds(first.ms)} s`);
}

/**
 * Pyright's CLI on the same folder, run from inside it so that no
 * configuration of this repository applies. It resolves imports (torch is
 * usually not installed where the bench runs, so those stay unresolved),
 * loads typeshed's builtins and infers and checks every expression's type.
 */
export function benchPyright(root: string, corpus: Corpus, runs: number): ThroughputResult {
  const cli = path.join(root, 'node_modules/pyright/index.js');
  const times: number[] = [];
  let detail = '';
  for (let i = 0; i < runs; i++) {
    const r = timeCommand([cli, '--outputjson', corpus.dir], corpus.dir);
    let report: { summary?: { filesAnalyzed: number; errorCount: number; warningCount: number } };
    try {
      report = JSON.parse(r.stdout);
    } catch {
      throw new Error(`pyright printed no JSON (exit ${r.status})\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
    }
    const s = report.summary;
    if (!s) throw new Error(`pyright reported no summary\n${r.stdout.slice(0, 2000)}`);
    detail = `${s.filesAnalyzed} files, ${s.errorCount} errors, ${s.warningCount} warnings`;
    times.push(r.ms);
  }
  return result('Pyright CLI (`--outputjson`)', corpus, times, detail);
}

/** The rules Ruff's CLI enables when no configuration selects any (pycodestyle E4/E7/E9 and Pyflakes). */
const RUFF_CLI_DEFAULT_SELECT = ['E4', 'E7', 'E9', 'F'];

/**
 * Ruff compiled to WebAssembly, run in this process over sources already in
 * memory (like the FreezeLens in-process row). Two rule sets: the Workspace's
 * own defaults, which are the playground's broad selection, and the much
 * smaller set the native CLI enables by default.
 */
export async function benchRuffWasm(corpus: Corpus, runs: number): Promise<{ version: string; loadMs: number; results: ThroughputResult[] }> {
  const loadStart = performance.now();
  // Loading the package compiles and instantiates the .wasm synchronously; measured once, separately.
  const ruff = await import('@astral-sh/ruff-wasm-nodejs');
  const loadMs = performance.now() - loadStart;
  const sources = corpus.files.map((p) => fs.readFileSync(p, 'utf8'));
  const defaults = ruff.Workspace.defaultSettings() as Map<string, unknown>;
  const lint = defaults.get('lint') as Map<string, unknown> | undefined;
  const playgroundRules = (lint?.get('select') as string[] | undefined)?.length;

  const configs: { label: string; settings: unknown }[] = [
    { label: `Ruff ${ruff.Workspace.version()} wasm, Workspace defaults (${playgroundRules ?? '?'} rules)`, settings: defaults },
    { label: `Ruff ${ruff.Workspace.version()} wasm, CLI default rules (${RUFF_CLI_DEFAULT_SELECT.join(', ')})`, settings: { lint: { select: RUFF_CLI_DEFAULT_SELECT } } },
  ];
  const results: ThroughputResult[] = [];
  for (const { label, settings } of configs) {
    const workspace = new ruff.Workspace(settings, ruff.PositionEncoding.Utf16);
    try {
      const checkAll = () => sources.reduce((n, source) => n + (workspace.check(source) as unknown[]).length, 0);
      const first = timed(checkAll);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(timed(checkAll).ms);
      results.push(result(label, corpus, times, `${first.value} diagnostics; first pass ${seconds(first.ms)} s`));
    } finally {
      workspace.free();
    }
  }
  return { version: ruff.Workspace.version(), loadMs, results };
}
