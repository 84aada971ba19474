// The experiment panel's model (webview/src/experiment/model.ts): the setup
// form's inline checks, the run state that the engine's events build (curves,
// progress, the results row of each plan, a plan's error beside the others'
// results), sorting and best cells of the results table, and the exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExperimentEvent } from '../../server/src/experiment/engine';
import { applyEvent, bestCells, compareRuns, DEFAULT_SETUP, describePlan, finishRun, keepRun, MAX_KEPT_STEPS, MAX_PAST_RUNS, modelSpec, modelText, newRun, PLANNER_PLAN, progress, progressText, runSettings, sortPlans, summarize, toCsv, toJson, validateSetup, withDefaults, type Availability, type PanelSetup } from '../../webview/src/experiment/model';
import type { FreezePlan } from '../../server/src/plan/plan';

const everywhere: Availability = { auto: { available: true }, wasm: { available: true }, cpu: { available: true }, tensorflow: { available: false, why: '@tensorflow/tfjs-node is not installed' }, torch: { available: true } };
const setup: PanelSetup = { ...DEFAULT_SETUP, model: { kind: 'onnx', path: 'examples/experiment/shapes_cnn.onnx' }, data: 'examples/experiment/data', epochs: 2 };

test('a valid setup has no errors; each bad field gets its own message', () => {
  assert.deepEqual(validateSetup(setup, everywhere), {});
  const bad = validateSetup({ ...setup, model: { kind: 'onnx', path: ' ' }, data: '', plans: ['linear-probe', 'freeze-everything'], epochs: 0, batch: 1, seed: -1, valSplit: 1, lr: NaN, backend: 'tensorflow' }, everywhere);
  assert.deepEqual(bad, {
    model: 'Choose a model.',
    data: 'Choose the data: an image folder (one subfolder per class).',
    plans: "'freeze-everything' is not a plan FreezeLens knows.",
    epochs: 'Epochs: a whole number from 1 to 1000.',
    batch: 'Batch size: a whole number from 2 to 4096 (BatchNorm needs two samples).',
    seed: 'Seed: a whole number, 0 or more.',
    valSplit: 'Validation split: a fraction between 0 and 1.',
    lr: 'Learning rate: a number above 0, such as 0.001.',
    backend: 'tensorflow is not available here: @tensorflow/tfjs-node is not installed.',
  });
  assert.equal(validateSetup({ ...setup, plans: [] }, everywhere).plans, 'Choose at least one plan.');
  assert.equal(validateSetup({ ...setup, plans: ['full', 'full'] }, everywhere).plans, 'A plan is chosen twice.');
  assert.deepEqual(validateSetup({ ...setup, plans: ['freeze-to:layer3+bn-train+lr-split:10', 'gradual:2', 'discriminative:2.6'] }, everywhere), {});
  // A budget in steps checks the steps, not the epochs.
  assert.deepEqual(validateSetup({ ...setup, budget: 'steps', epochs: 0, steps: 50 }, everywhere), {});
  assert.equal(validateSetup({ ...setup, budget: 'steps', steps: 2.5 }, everywhere).steps, 'Steps: a whole number from 1 to 1,000,000.');
});

const plannerPlan: FreezePlan = { version: 1, preset: 'custom', frozen: ['conv1', 'bn1', 'layer1', 'layer2', 'layer3'], bn: 'eval', optimizer: 'adamw', lr: 1e-4, lrSplit: 10, decay: null, gradualEvery: 2, stages: [], head: undefined };

test('the planner\'s current plan: offered only while the planner shows one, and sent to the engine whole', () => {
  const withPlanner = { ...setup, plans: ['linear-probe', PLANNER_PLAN] };
  assert.match(validateSetup(withPlanner, everywhere).plans!, /The Freeze Planner shows no plan/);
  const offer = { model: 'resnet18 (plan_resnet.py)', description: describePlan(plannerPlan) };
  assert.deepEqual(validateSetup(withPlanner, everywhere, offer), {});
  assert.equal(offer.description, 'frozen: conv1, bn1, layer1, layer2 and 1 more · frozen BatchNorm in eval · backbone LR / 10 · unfreezes a stage every 2 epochs');
  assert.equal(describePlan({ ...plannerPlan, frozen: [], bn: 'train', lrSplit: null, gradualEvery: null }), 'nothing frozen · frozen BatchNorm trains · one LR');
  // What the engine gets: the plans by name, the budget as epochs or steps, the form's LR and optimizer.
  assert.deepEqual(runSettings({ ...withPlanner, budget: 'steps', steps: 40, lr: 3e-3, optimizer: 'sgd' }, plannerPlan), {
    strategies: ['linear-probe', PLANNER_PLAN], epochs: 2, steps: 40, batch: 32, seed: 0, valSplit: 0.2, lr: 3e-3, optimizer: 'sgd', plans: { [PLANNER_PLAN]: plannerPlan },
  });
  assert.deepEqual(runSettings(setup, plannerPlan), { strategies: ['linear-probe', 'full'], epochs: 2, batch: 32, seed: 0, valSplit: 0.2, lr: 1e-3, optimizer: 'adamw' });
  // A setup saved by an older panel (no budget, LR or optimizer) reads with the defaults.
  const old = { model: setup.model, data: setup.data, plans: ['full'], epochs: 4, batch: 16, seed: 1, valSplit: 0.25, backend: 'wasm' } as Partial<PanelSetup>;
  assert.deepEqual(withDefaults(old), { ...old, budget: 'epochs', steps: 100, lr: 1e-3, optimizer: 'adamw', imageSize: 224 });
});

test('a run that ends before its plans do leaves no row waiting', () => {
  const failed = newRun(1, setup);
  applyEvent(failed, { type: 'error', strategy: null, message: 'm.pt: not a TorchScript file' });
  finishRun(failed, false);
  assert.deepEqual(failed.plans.map((p) => [p.status, p.error, progressText(failed, p)]), [
    ['failed', 'not run: the run failed', 'not run: the run failed'],
    ['failed', 'not run: the run failed', 'not run: the run failed'],
  ]);
  const cancelled = newRun(2, setup);
  applyEvent(cancelled, end('linear-probe', 0.8, 58, 325));
  applyEvent(cancelled, { type: 'step', strategy: 'full', step: 1, loss: 1, ms: 1 });
  finishRun(cancelled, true);
  assert.deepEqual(cancelled.plans.map((p) => [p.status, p.error]), [['done', undefined], ['failed', 'cancelled']]);
  assert.equal(cancelled.finished && cancelled.cancelled, true);
});

test('progress by steps when the budget is steps', () => {
  const run = newRun(1, { ...setup, budget: 'steps', steps: 4, plans: ['full'] });
  for (let step = 1; step <= 3; step++) applyEvent(run, { type: 'step', strategy: 'full', step, loss: 1, ms: 1 });
  assert.equal(progress(run, run.plans[0]), 0.75);
  assert.equal(progressText(run, run.plans[0]), 'step 3 of 4');
});

test('models and backends must fit: ONNX for tfjs, a factory or catalog name for torch', () => {
  assert.match(validateSetup({ ...setup, backend: 'torch' }, everywhere).model!, /torch backend runs a model factory/);
  assert.match(validateSetup({ ...setup, model: { kind: 'factory', factory: 'models.build:model' } }, everywhere).model!, /needs the torch backend/);
  assert.equal(validateSetup({ ...setup, model: { kind: 'factory', factory: 'models.build' }, backend: 'torch' }, everywhere).model, 'A factory is package.module:function.');
  assert.deepEqual(validateSetup({ ...setup, model: { kind: 'catalog', name: 'resnet50' }, backend: 'torch' }, everywhere), {});
  assert.deepEqual(validateSetup({ ...setup, model: { kind: 'torchscript', path: 'experiment/shapes_cnn.pt' }, backend: 'torch', imageSize: 32 }, everywhere), {});
  assert.match(validateSetup({ ...setup, model: { kind: 'torchscript', path: 'm.pt' } }, everywhere).model!, /needs the torch backend/);
  // PyTorch resizes an image folder to the image size; a data factory brings its own tensors.
  assert.equal(validateSetup({ ...setup, model: { kind: 'catalog', name: 'resnet50' }, backend: 'torch', imageSize: 3 }, everywhere).imageSize, 'Image size: a whole number of pixels from 8 to 4096.');
  assert.equal(validateSetup({ ...setup, model: { kind: 'catalog', name: 'resnet50' }, backend: 'torch', imageSize: 3, data: 'data.build:loaders' }, everywhere).imageSize, undefined);
});

test('the model field\'s text: ONNX for tfjs; a TorchScript file, a factory or a catalog name for torch', () => {
  assert.deepEqual(modelSpec(' experiment/shapes_cnn.onnx ', 'auto'), { kind: 'onnx', path: 'experiment/shapes_cnn.onnx' });
  assert.deepEqual(modelSpec('experiment/shapes_cnn.onnx', 'torch'), { kind: 'onnx', path: 'experiment/shapes_cnn.onnx' });
  assert.deepEqual(modelSpec('experiment/shapes_cnn.pt', 'torch'), { kind: 'torchscript', path: 'experiment/shapes_cnn.pt' });
  assert.deepEqual(modelSpec('experiment/shapes_cnn.pt', 'wasm'), { kind: 'torchscript', path: 'experiment/shapes_cnn.pt' });
  assert.deepEqual(modelSpec('models.build:resnet', 'torch'), { kind: 'factory', factory: 'models.build:resnet' });
  assert.deepEqual(modelSpec('resnet50', 'torch'), { kind: 'catalog', name: 'resnet50' });
  assert.deepEqual(modelSpec('resnet50', 'wasm'), { kind: 'onnx', path: 'resnet50' });
  // The field shows a model as the text that reads back to it (a restored form runs what it showed).
  for (const m of [modelSpec('a.pt', 'torch'), modelSpec('p.m:f', 'torch'), modelSpec('vit_b_16', 'torch')]) assert.deepEqual(modelSpec(modelText(m), 'torch'), m);
  assert.deepEqual(modelSpec(modelText({ kind: 'onnx', path: 'x.onnx' }), 'cpu'), { kind: 'onnx', path: 'x.onnx' });
});

function end(strategy: string, valAcc: number, msPerEpoch: number, trainableParams: number): ExperimentEvent {
  return { type: 'end', strategy, valAcc, bestValAcc: valAcc, msPerEpoch, samplesPerSec: 32_000 / msPerEpoch, peakRssMB: 200 + trainableParams / 1000, tensorMB: 1, trainableParams, totalParams: 105_589, backend: 'wasm', cached: strategy === 'linear-probe' };
}

test('events build each plan\'s curves, progress and row; one plan\'s error sits on its row while the others finish', () => {
  const run = newRun(1, { ...setup, plans: ['linear-probe', 'freeze-to:nope', 'full'] });
  const events: ExperimentEvent[] = [
    { type: 'start', backend: 'wasm', model: 'm.onnx', dataset: { kind: 'image-folder', samples: 400, classes: ['a', 'b'], shape: [3, 32, 32], train: 320, val: 80, warnings: [] }, strategies: run.setup.plans },
    { type: 'step', strategy: 'linear-probe', step: 1, loss: 1.6, ms: 3 },
    { type: 'step', strategy: 'linear-probe', step: 2, loss: 1.2, ms: 3 },
    { type: 'epoch', strategy: 'linear-probe', epoch: 1, trainLoss: 1.4, valLoss: 1.1, valAcc: 0.6, msEpoch: 60 },
  ];
  for (const e of events) applyEvent(run, e);
  const [probe, nope, full] = run.plans;
  assert.equal(run.backend, 'wasm');
  assert.deepEqual(probe.loss, [[1, 1.6], [2, 1.2]]);
  assert.deepEqual(probe.accuracy, [[1, 0.6]]);
  assert.equal(probe.status, 'running');
  assert.equal(progress(run, probe), 0.5);
  assert.equal(progress(run, full), 0);
  assert.deepEqual([progressText(run, probe), progressText(run, full)], ['epoch 2 of 2', 'waiting']);
  applyEvent(run, { type: 'epoch', strategy: 'linear-probe', epoch: 2, trainLoss: 1, valLoss: 0.9, valAcc: 0.8, msEpoch: 55 });
  applyEvent(run, end('linear-probe', 0.8, 58, 325));
  applyEvent(run, { type: 'error', strategy: 'freeze-to:nope', message: "no stage 'nope'" });
  applyEvent(run, end('full', 0.95, 1700, 105_589));
  assert.deepEqual([probe.status, nope.status, full.status], ['done', 'failed', 'done']);
  assert.equal(nope.error, "no stage 'nope'");
  assert.equal(progress(run, nope), 1);
  assert.equal(progressText(run, nope), 'failed (see its row)');
  assert.equal(applyEvent(run, { type: 'step', strategy: 'not-in-this-run', step: 1, loss: 1, ms: 1 }), undefined);
  applyEvent(run, { type: 'error', strategy: null, message: 'the experiment process was killed (SIGKILL)' });
  assert.equal(run.error, 'the experiment process was killed (SIGKILL)');

  // The table: sorted by any column, failed plans last; the best cell of each column marked.
  assert.deepEqual(sortPlans(run.plans, 'valAcc', true).map((p) => p.plan), ['full', 'linear-probe', 'freeze-to:nope']);
  assert.deepEqual(sortPlans(run.plans, 'msPerEpoch', false).map((p) => p.plan), ['linear-probe', 'full', 'freeze-to:nope']);
  assert.deepEqual(sortPlans(run.plans, 'plan', false).map((p) => p.plan), ['full', 'linear-probe', 'freeze-to:nope']);
  assert.deepEqual(bestCells(run.plans), { valAcc: 'full', bestValAcc: 'full', msPerEpoch: 'linear-probe', samplesPerSec: 'linear-probe', peakRssMB: 'linear-probe', trainableParams: 'linear-probe' });

  // Exports: CSV rows with the failure's message quoted where needed, JSON with the curves.
  const csv = toCsv(run).trim().split('\n');
  assert.equal(csv[0], 'plan,status,val_acc,best_val_acc,ms_per_epoch,samples_per_sec,peak_rss_mb,trainable_params,total_params,backend,error');
  assert.match(csv[1], /^linear-probe,done,0\.8,0\.8,58,[\d.]+,200\.325,325,105589,wasm,$/);
  assert.equal(csv[2], "freeze-to:nope,failed,,,,,,,,,no stage 'nope'");
  const json = JSON.parse(toJson(run));
  assert.deepEqual(json.plans[0].loss, [[1, 1.6], [2, 1.2]]);
  assert.equal(json.error, 'the experiment process was killed (SIGKILL)');
});

test('past runs: newest first, a run once, at most 20; each listed with its best accuracy', () => {
  let past: ReturnType<typeof newRun>[] = [];
  for (let id = 1; id <= 25; id++) past = keepRun(past, newRun(id, setup));
  assert.equal(MAX_PAST_RUNS, 20);
  assert.deepEqual(past.map((r) => r.runId), Array.from({ length: 20 }, (_, i) => 25 - i));
  const again = newRun(10, setup);
  applyEvent(again, end('linear-probe', 0.7, 50, 325));
  applyEvent(again, end('full', 0.9, 1500, 105_589));
  past = keepRun(past, again);
  assert.deepEqual(past.slice(0, 2).map((r) => r.runId), [10, 25]);
  assert.equal(past.filter((r) => r.runId === 10).length, 1);
  assert.deepEqual(summarize(again), { runId: 10, plans: ['linear-probe', 'full'], bestValAcc: 0.9, cancelled: false });

  // A long run is kept with its curves thinned (every k-th step and the last); the run shown stays whole.
  const long = newRun(30, setup);
  for (let step = 1; step <= 5001; step++) applyEvent(long, { type: 'step', strategy: 'full', step, loss: 1 / step, ms: 1 });
  applyEvent(long, { type: 'step', strategy: 'linear-probe', step: 1, loss: 2, ms: 1 });
  const [kept] = keepRun([], long);
  const thinned = kept.plans[1].loss;
  assert.ok(thinned.length <= MAX_KEPT_STEPS + 1 && thinned.length > MAX_KEPT_STEPS / 2, `${thinned.length} points kept`);
  assert.deepEqual([thinned[0], thinned[1], thinned.at(-1)], [[1, 1], [4, 1 / 4], [5001, 1 / 5001]]);
  assert.deepEqual(kept.plans[0].loss, [[1, 2]]);
  assert.equal(long.plans[1].loss.length, 5001);
});

test('runs compared side by side: each plan\'s results across runs next to each other, a plan only one run has included', () => {
  const first = newRun(3, setup);
  applyEvent(first, { type: 'start', backend: 'wasm', model: 'm', dataset: { kind: 'numpy', samples: 1, classes: [], shape: [], train: 1, val: 1, warnings: [] }, strategies: setup.plans });
  applyEvent(first, end('linear-probe', 0.8, 58, 325));
  applyEvent(first, { type: 'error', strategy: 'full', message: 'cancelled' });
  const second = newRun(4, { ...setup, plans: ['full', 'gradual:1'] });
  applyEvent(second, end('full', 0.97, 1700, 105_589));
  applyEvent(second, end('gradual:1', 0.96, 1000, 105_125));
  const rows = compareRuns([first, second]);
  assert.deepEqual(rows.map((r) => [r.plan, r.run, r.result?.valAcc ?? r.error]), [
    ['linear-probe', 3, 0.8],
    ['full', 3, 'cancelled'],
    ['full', 4, 0.97],
    ['gradual:1', 4, 0.96],
  ]);
  assert.equal(rows[0].backend, 'wasm');
});
