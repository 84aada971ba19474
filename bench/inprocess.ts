import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkProgram } from '../server/src/engine/check';
import { WorkspaceIndex } from '../server/src/engine/workspaceIndex';
import { SourceUnit } from '../server/src/python/sourceUnit';
import type { CharEdit } from './edits';
import { summarize, type Summary } from './stats';

export interface InProcessResult {
  /** First parse and analysis of the file in a fresh process: what didOpen costs before the JIT warms up. */
  coldOpenMs: number;
  /** SourceUnit.applyChanges plus the incremental reparse that the next tree access does. */
  incrementalParse: Summary;
  /** A from-scratch parse of the same text, for comparison. */
  fullParse: Summary;
  /** checkProgram on an already parsed tree: binding, value kinds, rules, suppression. */
  analysis: Summary;
  /**
   * The same analyses, each keystroke's taken as the fastest of `replays`
   * replays of the whole edit sequence: what a keystroke costs with less of
   * the machine's other load and of garbage collection in it.
   */
  analysisBestOf: Summary;
  /**
   * The same fastest-of replays with model structure off (no catalog trees,
   * nn layer trees or workspace class evaluation): the difference to
   * `analysisBestOf` is what knowing the models costs per keystroke.
   */
  analysisBestOfWithoutStructure: Summary;
  /** Per keystroke, fastest with structure minus fastest without. */
  structureCost: Summary;
  replays: number;
  /** What one keystroke costs in the server minus the transport: incremental parse plus analysis. */
  total: Summary;
  findings: number;
}

/**
 * The same edits as the LSP benchmark, applied in this process to the core
 * the server is built from. The difference between the two is what the
 * process boundary costs: JSON-RPC framing, serializing the diagnostics,
 * the server's timer tick and the pipe.
 *
 * Parse and analysis are timed separately by touching `unit.tree` before
 * calling checkProgram: the tree is parsed lazily, so otherwise the reparse
 * would be hidden inside the analysis time.
 */
export function benchInProcess(options: { id: string; text: string; warmup: readonly CharEdit[]; edits: readonly CharEdit[]; replays?: number }): InProcessResult {
  const unit = new SourceUnit(options.id, options.text);
  const program = { id: options.id, units: [unit] };
  const coldStart = performance.now();
  void unit.tree;
  checkProgram(program);
  const coldOpenMs = performance.now() - coldStart;

  for (const e of options.warmup) {
    unit.applyChanges([e]);
    checkProgram(program);
  }

  const incremental: number[] = [];
  const full: number[] = [];
  const analysis: number[] = [];
  const total: number[] = [];
  let findings = 0;
  for (const e of options.edits) {
    const t0 = performance.now();
    unit.applyChanges([e]);
    void unit.tree;
    const t1 = performance.now();
    findings = checkProgram(program).findings.length;
    const t2 = performance.now();
    incremental.push(t1 - t0);
    analysis.push(t2 - t1);
    total.push(t2 - t0);

    const fresh = new SourceUnit(options.id, unit.text);
    const t3 = performance.now();
    void fresh.tree;
    full.push(performance.now() - t3);
  }

  // Replays of the measured edits from the state after the warm-up, keeping each keystroke's fastest analysis,
  // with and without model structure, interleaved so that both see the same machine load.
  const replays = options.replays ?? 5;
  const start = options.warmup.reduce((text, e) => text.slice(0, e.from) + e.insert + text.slice(e.to), options.text);
  const best = analysis.slice();
  const bestWithout = options.edits.map(() => Infinity);
  for (let r = 0; r < replays; r++) {
    const replay = new SourceUnit(options.id, start);
    const replayProgram = { id: options.id, units: [replay] };
    checkProgram(replayProgram);
    options.edits.forEach((e, i) => {
      replay.applyChanges([e]);
      void replay.tree;
      const t0 = performance.now();
      checkProgram(replayProgram);
      const t1 = performance.now();
      checkProgram(replayProgram, undefined, { modelStructure: false });
      const t2 = performance.now();
      best[i] = Math.min(best[i], t1 - t0);
      bestWithout[i] = Math.min(bestWithout[i], t2 - t1);
    });
  }
  return {
    coldOpenMs,
    incrementalParse: summarize(incremental),
    fullParse: summarize(full),
    analysis: summarize(analysis),
    analysisBestOf: summarize(best),
    analysisBestOfWithoutStructure: summarize(bestWithout),
    structureCost: summarize(best.map((b, i) => b - bestWithout[i])),
    replays,
    total: summarize(total),
    findings,
  };
}

/** Checks a set of already-read sources the way the CLI does, without process start-up, file IO or output. */
export function checkSources(sources: readonly { path: string; text: string }[]): number {
  let findings = 0;
  for (const s of sources) findings += checkProgram({ id: s.path, units: [new SourceUnit(s.path, s.text)] }).findings.length;
  return findings;
}

/**
 * Indexing a workspace the way the language server does at start-up
 * (WorkspaceIndex.addFolder: read each file, scan it), fresh each run, next
 * to an incremental update of one file and a full lezer parse of every file.
 */
export function benchIndex(corpus: { dir: string; files: string[] }, runs = 5): { rows: { label: string; medianMs: number; runs: number[]; detail: string }[] } {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const full: number[] = [];
  let classes = 0;
  let files = 0;
  let index = new WorkspaceIndex();
  for (let r = 0; r < runs; r++) {
    index = new WorkspaceIndex();
    const t0 = performance.now();
    files = index.addFolder(corpus.dir);
    classes = index.moduleClasses().length;
    full.push(performance.now() - t0);
  }
  const one: number[] = [];
  const file = corpus.files[0];
  const text = fs.readFileSync(file, 'utf8');
  for (let r = 0; r < 50; r++) {
    const t0 = performance.now();
    index.update(file, `${text}\nclass Extra${r}(nn.Module):\n    pass\n`);
    index.moduleClasses();
    one.push(performance.now() - t0);
  }
  const parse: number[] = [];
  for (let r = 0; r < Math.min(runs, 2); r++) {
    const t0 = performance.now();
    for (const f of corpus.files) void new SourceUnit(path.basename(f), fs.readFileSync(f, 'utf8')).tree;
    parse.push(performance.now() - t0);
  }
  return {
    rows: [
      { label: `**index the folder** (${files} files)`, medianMs: median(full), runs: full, detail: `${classes} nn.Module classes` },
      { label: 'update one file and list the module classes again', medianMs: median(one), runs: one.slice(0, 5), detail: '' },
      { label: 'for comparison: full lezer parse of every file', medianMs: median(parse), runs: parse, detail: '' },
    ],
  };
}
