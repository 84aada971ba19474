// The experiment process: a child that trains while its parent relays the
// events. Whatever the child does (a cancel, an overrun budget, the memory
// cap, a crash, unusable data) the parent lives on and reports it as
// events; the backend a run used is in its events.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExperimentEvent } from '../../server/src/experiment/engine';
import { startExperiment } from '../../server/src/experiment/process';
import type { ExperimentRequest } from '../../server/src/experiment/request';
import { colourCasts, TINY_CNN, writeNpz } from './experimentData';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-process-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const data = writeNpz(path.join(dir, 'casts.npz'), colourCasts());

function request(extra: Partial<ExperimentRequest> = {}): ExperimentRequest {
  return { model: TINY_CNN, data, strategies: ['linear-probe', 'full'], epochs: 2, batch: 8, seed: 1, valSplit: 0.25, lr: 0.05, optimizer: 'sgd', ...extra };
}

/** Whether a package loads here (installed, with its native library): the optional tfjs-node packages usually do not. */
function loads(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

type ErrorEvent = Extract<ExperimentEvent, { type: 'error' }>;
const errors = (events: ExperimentEvent[]) => events.filter((e): e is ErrorEvent => e.type === 'error').map((e) => [e.strategy, e.message] as [string | null, string]);

test('a run in the child streams its events and reports the backend it used, wasm or cpu as forced', async () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    const events: ExperimentEvent[] = [];
    const handle = startExperiment(request({ backend, epochs: 1 }), (e) => events.push(e));
    assert.deepEqual(await handle.done, { finished: true });
    const start = events[0] as Extract<ExperimentEvent, { type: 'start' }>;
    assert.equal(start.backend, backend);
    const ends = events.filter((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end');
    assert.deepEqual(ends.map((e) => [e.strategy, e.backend, e.trainableParams]), [
      ['linear-probe', backend, 85],
      ['full', backend, 1517],
    ]);
    assert.deepEqual(errors(events), []);
  }
});

test('without a forced backend the child takes the first that loads: wasm here, where the native packages cannot install', async () => {
  const events: ExperimentEvent[] = [];
  await startExperiment(request({ strategies: ['linear-probe'], epochs: 1 }), (e) => events.push(e)).done;
  const start = events[0] as Extract<ExperimentEvent, { type: 'start' }>;
  assert.equal(start.backend, loads('@tensorflow/tfjs-node-gpu') ? 'tensorflow-gpu' : loads('@tensorflow/tfjs-node') ? 'tensorflow' : 'wasm');
});

test('a cancel stops the run after the step in progress: that strategy and the ones after it report it', async () => {
  const events: ExperimentEvent[] = [];
  let stepsAtCancel = -1;
  const handle = startExperiment(request({ strategies: ['full', 'linear-probe'], epochs: 50, backend: 'cpu' }), (e) => {
    events.push(e);
    if (e.type === 'step' && e.step === 2) {
      stepsAtCancel = events.filter((x) => x.type === 'step').length;
      handle.cancel();
    }
  });
  const { finished } = await handle.done;
  assert.equal(finished, true, 'the child stopped by itself, not killed');
  const steps = events.filter((e) => e.type === 'step').length;
  assert.ok(steps - stepsAtCancel <= 1, `${steps - stepsAtCancel} steps after the cancel`);
  assert.deepEqual(errors(events), [
    ['full', 'cancelled'],
    ['linear-probe', 'not run: cancelled'],
  ]);
});

test('the wall-clock budget ends the strategy that runs it out, and the rest do not start', async () => {
  const events: ExperimentEvent[] = [];
  await startExperiment(request({ budgetMs: 1, backend: 'cpu' }), (e) => events.push(e)).done;
  const [[first, message], [second, rest]] = errors(events);
  assert.equal(first, 'linear-probe');
  assert.match(message, /^the wall-clock budget of 0\.0 s ran out$/);
  assert.equal(second, 'full');
  assert.match(rest, /^not run: the wall-clock budget/);
  assert.equal(events.filter((e) => e.type === 'step').length, 1);
});

test('the memory cap stops a strategy whose process grows past it, naming the cap and the size', async () => {
  const events: ExperimentEvent[] = [];
  // Node with tfjs and onnxruntime loaded is well over 64 MB resident.
  await startExperiment(request({ memoryCapMB: 64, backend: 'cpu', strategies: ['linear-probe'] }), (e) => events.push(e)).done;
  const [[strategy, message]] = errors(events);
  assert.equal(strategy, 'linear-probe');
  assert.match(message, /^the memory cap of 64 MB was exceeded \(resident \d+ MB\)$/);
});

test('a child that dies (killed here, as the kernel\'s OOM killer would) becomes errors; the parent goes on', async () => {
  const events: ExperimentEvent[] = [];
  const handle = startExperiment(request({ strategies: ['full', 'linear-probe'], epochs: 50, backend: 'cpu' }), (e) => {
    events.push(e);
    if (e.type === 'step' && e.step === 1) process.kill(handle.pid!, 'SIGKILL');
  });
  assert.deepEqual(await handle.done, { finished: false });
  assert.deepEqual(errors(events), [
    ['full', 'the experiment process was killed (SIGKILL)'],
    ['linear-probe', 'not run: the experiment process was killed (SIGKILL)'],
  ]);
});

test('unusable data is a run error (no strategy) that names the file', async () => {
  const bad = path.join(dir, 'bad.npz');
  fs.writeFileSync(bad, 'not a zip');
  const events: ExperimentEvent[] = [];
  await startExperiment(request({ data: bad }), (e) => events.push(e)).done;
  assert.equal(events.length, 1);
  const [[strategy, message]] = errors(events);
  assert.equal(strategy, null);
  assert.ok(message.startsWith(bad), message);
});

test('a forced backend that cannot load is a run error that says why', async () => {
  if (loads('@tensorflow/tfjs-node-gpu')) return; // where it loads there is nothing to refuse
  const events: ExperimentEvent[] = [];
  await startExperiment(request({ backend: 'tensorflow-gpu' }), (e) => events.push(e)).done;
  const [[strategy, message]] = errors(events);
  assert.equal(strategy, null);
  assert.match(message, /^backend tensorflow-gpu: /);
});
