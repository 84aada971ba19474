import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExperimentEvent } from './engine';
import type { ExperimentRequest } from './request';
import type { FromWorker, ToWorker } from './worker';

/**
 * Runs an experiment in a child process (worker.ts) and relays its events.
 * The parent survives whatever the child does: an out-of-memory abort, a
 * native crash or a kill becomes one `error` event that says so.
 *
 * Limits are enforced on both sides. The child checks cancel, budget and
 * memory cap after every step; the parent kills it when a cancel is not
 * honoured within `graceMs` (a step that hangs in native code) or the
 * budget is overrun by as much, and caps its JavaScript heap at the memory
 * cap.
 */

export interface ExperimentHandle {
  /** Asks the child to stop after its current step; kills it if it has not within the grace period. */
  cancel(): void;
  /** Resolves when the child has exited; every event has been delivered by then. */
  done: Promise<{ finished: boolean }>;
  readonly pid: number | undefined;
}

export interface ProcessOptions {
  /** The worker script (worker.js next to this module, or in dist/experiment/). */
  workerPath?: string;
  /** How long a cancel or an overrun budget waits for the child before killing it; 5 s by default. */
  graceMs?: number;
}

export function startExperiment(request: ExperimentRequest, onEvent: (e: ExperimentEvent) => void, options: ProcessOptions = {}): ExperimentHandle {
  const graceMs = options.graceMs ?? 5000;
  const execArgv = request.memoryCapMB ? [`--max-old-space-size=${Math.max(64, Math.round(request.memoryCapMB))}`] : [];
  const child: ChildProcess = fork(options.workerPath ?? workerScript(), [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let finished = false;
  let cancelled = false;
  let killedFor: string | undefined;
  const tracker = new StrategyTracker();
  child.on('message', (m: FromWorker) => {
    if (m.type === 'finished') {
      finished = true;
      return;
    }
    tracker.see(m);
    onEvent(m);
  });
  const killAfterGrace = (reason: string) =>
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) {
        killedFor = reason;
        child.kill('SIGKILL');
      }
    }, graceMs).unref();
  const budgetTimer = request.budgetMs !== undefined ? setTimeout(() => killAfterGrace(`the wall-clock budget of ${(request.budgetMs! / 1000).toFixed(1)} s ran out`), request.budgetMs).unref() : undefined;

  const done = new Promise<{ finished: boolean }>((resolve) => {
    child.on('exit', (code, signal) => {
      if (budgetTimer) clearTimeout(budgetTimer);
      if (!finished) tracker.reportUnfinished(request.strategies, killedFor ?? (cancelled ? 'cancelled' : crashReason(code, signal, stderr)), onEvent);
      resolve({ finished });
    });
  });
  child.send({ type: 'run', request } satisfies ToWorker);
  return {
    pid: child.pid,
    done,
    cancel() {
      if (cancelled || child.exitCode !== null) return;
      cancelled = true;
      if (child.connected) child.send({ type: 'cancel' } satisfies ToWorker);
      killAfterGrace('cancelled');
    },
  };
}

/**
 * Which strategy a run's process (the tfjs worker or the PyTorch runner) is
 * on and which have ended, from the events it sent: what is left to report
 * when it dies before saying it has finished.
 */
export class StrategyTracker {
  private current: string | null = null;
  private readonly ended = new Set<string>();

  see(e: ExperimentEvent): void {
    if (e.type === 'step' || e.type === 'epoch') this.current = e.strategy;
    if ((e.type === 'end' || e.type === 'error') && e.strategy) this.ended.add(e.strategy);
  }

  /**
   * The process died: the strategy it was on and those after it did not
   * end. One error each (the others `not run`), or one for the run when
   * every strategy had ended or none had started.
   */
  reportUnfinished(strategies: string[], why: string, onEvent: (e: ExperimentEvent) => void): void {
    const unfinished = strategies.filter((s) => !this.ended.has(s));
    if (unfinished.length === 0) onEvent({ type: 'error', strategy: null, message: why });
    for (const s of unfinished) onEvent({ type: 'error', strategy: s, message: s === this.current || this.current === null ? why : `not run: ${why}` });
  }
}

/** How a process ended without finishing: `the <who> was killed (SIGKILL)` or `... exited with code 1`, and the last lines it wrote to stderr. */
export function exitReason(who: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  const tail = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return `the ${who} ${signal ? `was killed (${signal})` : `exited with code ${code}`}${tail ? `: ${tail}` : ''}`;
}

function crashReason(code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  // Out of memory: say so instead of V8's abort trace.
  if (/heap out of memory|Reached heap limit|Cannot allocate|bad_alloc|Out of memory/i.test(stderr)) return `${exitReason('experiment process', code, signal, '')}: it ran out of memory (lower --batch, or raise --memory)`;
  return exitReason('experiment process', code, signal, stderr);
}

/** worker.js: beside this module when compiled file by file, in dist/experiment/ when bundled. */
function workerScript(): string {
  const candidates = [path.join(__dirname, 'worker.js'), path.join(__dirname, '..', 'experiment', 'worker.js')];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`the experiment worker is missing (looked for ${candidates.join(', ')}); run npm run build`);
  return found;
}
