import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { ModelTreeNode } from '../engine/models';
import { lrAt } from '../plan/codegen';
import { gradualSchedule } from '../plan/plan';
import { findPackageRoot } from '../packageRoot';
import type { ExperimentEvent } from './engine';
import { exitReason, StrategyTracker, type ExperimentHandle } from './process';
import { plannedEpochs, strategyPlan, type RunSettings } from './request';

/**
 * The PyTorch backend: the same strategies and the same events as the tfjs
 * engine, run by server/runner/freezelens_runner.py in the user's Python,
 * on their model (a factory, a catalog architecture or a TorchScript file)
 * and on their GPU where torch sees one.
 *
 * The plans are computed here, by the planner, from the module tree the
 * runner reports; the runner applies them by module path. So a strategy
 * means the same thing on both backends.
 */

export const RUNNER_PROTOCOL = 1;

export type TorchModel = { kind: 'factory'; factory: string } | { kind: 'catalog'; name: string; randomWeights?: boolean } | { kind: 'torchscript'; path: string };
export type TorchData = { kind: 'image-folder'; path: string; size: [number, number]; mean?: number[]; std?: number[] } | { kind: 'factory'; factory: string };

export interface TorchRequest extends RunSettings {
  /** The interpreter: the user's choice, else python3. */
  python: string;
  /** Where factories are imported from (the workspace folder). */
  cwd: string;
  model: TorchModel;
  data: TorchData;
  /** auto (CUDA, else MPS, else CPU), cuda, mps or cpu. */
  device?: string;
  amp?: 'bf16' | 'fp16';
  workers?: number;
  /** Tests: the runner writes each strategy's final state_dict there as JSON. */
  stateDir?: string;
}

/** One strategy as the runner applies it: frozen paths, BN policy, an LR per module, and when gradual unfreezing unfreezes what. */
export interface RunnerStrategy {
  name: string;
  frozen: string[];
  bnTrain: boolean;
  lrs: Record<string, number>;
  unfreeze: { epoch: number; paths: string[] }[];
}

/** The plans for the runner, from the module tree it reported. */
export function runnerStrategies(tree: ModelTreeNode, request: Pick<RunSettings, 'strategies' | 'lr' | 'optimizer' | 'plans'>, epochs: number): (RunnerStrategy | { name: string; error: string })[] {
  return request.strategies.map((name) => {
    try {
      const { plan, bnTrain } = strategyPlan(tree, name, request);
      const lrs: Record<string, number> = {};
      const visit = (n: ModelTreeNode) => {
        if (n.params) lrs[n.path] = lrAt(plan, n.path);
        n.children.forEach(visit);
      };
      visit(tree);
      return { name, frozen: plan.frozen, bnTrain, lrs, unfreeze: gradualSchedule(plan, epochs) };
    } catch (e) {
      return { name, error: (e as Error).message };
    }
  });
}

/** The runner script: dist/runner/ when bundled, server/runner/ in the source tree. */
export function runnerScript(): string {
  const root = findPackageRoot(__dirname);
  const candidates = [path.join(root, 'dist/runner/freezelens_runner.py'), path.join(root, 'server/runner/freezelens_runner.py')];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`the PyTorch runner is missing (looked for ${candidates.join(', ')})`);
  return found;
}

export function startTorchExperiment(request: TorchRequest, onEvent: (e: ExperimentEvent) => void, options: { graceMs?: number } = {}): ExperimentHandle {
  const graceMs = options.graceMs ?? 10_000;
  const child = spawn(request.python, ['-u', runnerScript()], { cwd: request.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const send = (m: object) => {
    if (child.stdin.writable) child.stdin.write(`${JSON.stringify(m)}\n`);
  };
  let finished = false;
  let cancelled = false;
  let spawnError: string | undefined;
  const tracker = new StrategyTracker();
  let phase: 'hello' | 'model' | 'run' = 'hello';
  const runError = (message: string) => {
    finished = true;
    onEvent({ type: 'error', strategy: null, message });
    child.stdin.end();
  };

  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let m: { type: string; [k: string]: unknown };
    try {
      m = JSON.parse(line);
    } catch {
      return; // a print from the user's code
    }
    if (phase === 'hello' && m.type === 'hello') {
      if (m.error) return runError(String(m.error));
      if (m.protocol !== RUNNER_PROTOCOL) return runError(`the runner speaks protocol ${m.protocol}, FreezeLens ${RUNNER_PROTOCOL}`);
      phase = 'model';
      send({ type: 'load', model: request.model, data: request.data, seed: request.seed, valSplit: request.valSplit, device: request.device ?? 'auto' });
      return;
    }
    if (phase === 'model' && m.type === 'model') {
      phase = 'run';
      const tree = m.tree as ModelTreeNode;
      const dataset = m.dataset as { kind: string; samples: number; classes: string[]; train: number; val: number };
      const epochs = plannedEpochs(request, dataset.train);
      const strategies = runnerStrategies(tree, request, epochs);
      const shape = request.data.kind === 'image-folder' ? [3, ...request.data.size] : [];
      onEvent({ type: 'start', backend: `torch-${m.device}`, model: describeModel(request.model), dataset: { ...dataset, shape, warnings: (m.notes as string[]) ?? [] }, strategies: request.strategies });
      for (const s of strategies) if ('error' in s) onEvent({ type: 'error', strategy: s.name, message: s.error });
      send({ type: 'run', strategies: strategies.filter((s): s is RunnerStrategy => !('error' in s)), epochs, steps: request.steps ?? null, batch: request.batch, workers: request.workers ?? 0, amp: request.amp ?? null, stateDir: request.stateDir ?? null, optimizer: request.optimizer === 'sgd' ? { type: 'sgd', momentum: 0.9, weightDecay: 0 } : { type: 'adamw', weightDecay: 0.01 } });
      return;
    }
    if (m.type === 'finished') {
      finished = true;
      child.stdin.end();
      return;
    }
    const e = m as unknown as ExperimentEvent;
    tracker.see(e);
    onEvent(e);
  });

  child.on('error', (e) => (spawnError = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no Python at '${request.python}': set freezelens.pythonPath (or --python) to an interpreter with torch` : e.message));
  const done = new Promise<{ finished: boolean }>((resolve) => {
    child.on('close', (code, signal) => {
      if (!finished) {
        const why = spawnError ?? (cancelled ? 'cancelled' : exitReason('PyTorch runner', code, signal, stderr));
        // Before the plans were sent, no strategy has started: the failure is the run's.
        tracker.reportUnfinished(phase === 'run' ? request.strategies : [], why, onEvent);
      }
      resolve({ finished });
    });
  });
  send({ type: 'hello', protocol: RUNNER_PROTOCOL });
  return {
    pid: child.pid,
    done,
    cancel() {
      if (cancelled || child.exitCode !== null) return;
      cancelled = true;
      // SIGINT: the runner stops after the step in progress, frees the GPU and exits.
      child.kill('SIGINT');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, graceMs).unref();
    },
  };
}

function describeModel(m: TorchModel): string {
  return m.kind === 'factory' ? m.factory : m.kind === 'catalog' ? m.name : m.path;
}
