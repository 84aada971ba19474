import { checkProgram } from '../server/src/engine/check';
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

  // Replays of the measured edits from the state after the warm-up, keeping each keystroke's fastest analysis.
  const replays = options.replays ?? 5;
  const start = options.warmup.reduce((text, e) => text.slice(0, e.from) + e.insert + text.slice(e.to), options.text);
  const best = analysis.slice();
  for (let r = 0; r < replays; r++) {
    const replay = new SourceUnit(options.id, start);
    const replayProgram = { id: options.id, units: [replay] };
    checkProgram(replayProgram);
    options.edits.forEach((e, i) => {
      replay.applyChanges([e]);
      void replay.tree;
      const t0 = performance.now();
      checkProgram(replayProgram);
      best[i] = Math.min(best[i], performance.now() - t0);
    });
  }
  return {
    coldOpenMs,
    incrementalParse: summarize(incremental),
    fullParse: summarize(full),
    analysis: summarize(analysis),
    analysisBestOf: summarize(best),
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
