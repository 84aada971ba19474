// Quick fine-tune runs on the tiny CNN export: the JSON-lines events, each
// strategy's trainable parameters and prefix caching, reproducibility with a
// seed, errors that stop one strategy while the others go on, and learning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { runExperiment, type ExperimentEvent } from '../../server/src/experiment/engine';
import { parseStrategy, plannedEpochs, stepsPerEpoch, type RunSettings } from '../../server/src/experiment/request';
import { presetPlan, type FreezePlan } from '../../server/src/plan/plan';
import { onnxTarget } from '../../server/src/engine/planTarget';
import { parameterModule } from '../../server/src/experiment/prefix';
import { Trainer } from '../../server/src/experiment/trainer';
import { readOnnx } from '../../server/src/onnx/reader';
import { colourCasts, TINY_CNN, writeNpz } from './experimentData';

const MODEL = TINY_CNN;

async function run(strategies: string[], epochs = 3, more: Partial<RunSettings> = {}): Promise<ExperimentEvent[]> {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
  const events: ExperimentEvent[] = [];
  await runExperiment({ model: MODEL, data: colourCasts(), strategies, epochs, batch: 8, seed: 1, valSplit: 0.25, lr: 0.05, optimizer: 'sgd', ...more }, (e) => events.push(e));
  return events;
}

const stepLosses = (events: ExperimentEvent[], strategy: string) => events.filter((e): e is Extract<ExperimentEvent, { type: 'step' }> => e.type === 'step' && e.strategy === strategy).map((e) => e.loss);

test('strategy strings: the preset with +bn-train and +lr-split:F', () => {
  assert.deepEqual(parseStrategy('freeze-to:layer3+bn-train+lr-split:10'), { preset: 'freeze-to:layer3', bnTrain: true, lrSplit: 10 });
  assert.deepEqual(parseStrategy('linear-probe'), { preset: 'linear-probe', bnTrain: false, lrSplit: undefined });
  assert.throws(() => parseStrategy('full+fast'), /unknown strategy suffix '\+fast'/);
});

test('a run streams start, step, epoch and end events per strategy; the linear probe trains the head on cached features', async () => {
  const events = await run(['linear-probe', 'full', 'freeze-to:features.1+bn-train', 'gradual:1', 'freeze-to:layer9']);
  assert.equal(events[0].type, 'start');
  const start = events[0] as Extract<ExperimentEvent, { type: 'start' }>;
  assert.deepEqual([start.dataset.train, start.dataset.val, start.backend], [45, 15, 'cpu']);
  const ends = events.filter((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end');
  assert.deepEqual(ends.map((e) => [e.strategy, e.trainableParams, e.cached]), [
    ['linear-probe', 85, true],
    ['full', 1517, false],
    // features.0 and its BN frozen, but +bn-train keeps that BN's weight and bias training.
    ['freeze-to:features.1+bn-train', 1517 - 216, false],
    // Gradual: the last stage unfrozen after each epoch, from the head alone.
    ['gradual:1', 85 + 32 + 1168, false],
  ]);
  // Parameters as the module tree counts them (running statistics are buffers).
  for (const e of ends) assert.equal(e.totalParams, 1517);
  const error = events.find((e) => e.type === 'error') as Extract<ExperimentEvent, { type: 'error' }>;
  assert.equal(error.strategy, 'freeze-to:layer9');
  assert.match(error.message, /no stage 'layer9'/);
  const epochs = events.filter((e): e is Extract<ExperimentEvent, { type: 'epoch' }> => e.type === 'epoch' && e.strategy === 'full');
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2, 3]);
  // It learns: the full fine-tune's training loss falls, and beats chance on held-out data.
  assert.ok(epochs[2].trainLoss < epochs[0].trainLoss, `${epochs[0].trainLoss} -> ${epochs[2].trainLoss}`);
  assert.ok(ends[1].bestValAcc > 0.2, `val acc ${ends[1].bestValAcc}`);
  assert.ok(events.filter((e) => e.type === 'step' && e.strategy === 'linear-probe').length === 3 * 6);
});

test('a plan given whole (the planner\'s) trains as the preset it equals; one made for another model fails alone', async () => {
  // The planner's plan for this model: features.0 and its BatchNorm frozen, as freeze-to:features.1 does.
  const root = onnxTarget(MODEL).report.root;
  const mine: FreezePlan = { ...presetPlan(root, 'freeze-to:features.1'), preset: 'custom', lr: 1, optimizer: 'adam' };
  const other: FreezePlan = { ...mine, frozen: ['backbone.layer1', 'features.0'] };
  const events = await run(['freeze-to:features.1', 'planner', 'other'], 1, { plans: { planner: mine, other } });
  const ends = events.filter((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end');
  assert.deepEqual(ends.map((e) => [e.strategy, e.trainableParams]), [['freeze-to:features.1', 1517 - 232], ['planner', 1517 - 232]]);
  // The run's LR and optimizer, not the plan's: the same steps as the preset, loss for loss.
  assert.deepEqual(stepLosses(events, 'planner'), stepLosses(events, 'freeze-to:features.1'));
  const error = events.find((e) => e.type === 'error') as Extract<ExperimentEvent, { type: 'error' }>;
  assert.equal(error.strategy, 'other');
  assert.match(error.message, /the plan freezes backbone\.layer1, which this model does not have/);
});

test('a budget in steps: each strategy stops after that many, its last epoch partial and evaluated', async () => {
  // 45 training samples in batches of 8: 5 full batches and one of 5, so 6 steps an epoch.
  assert.equal(stepsPerEpoch(45, 8), 6);
  assert.equal(stepsPerEpoch(41, 8), 5); // a last batch of one is skipped (BatchNorm)
  assert.equal(plannedEpochs({ epochs: 3, batch: 8, steps: 8 }, 45), 2);
  assert.equal(plannedEpochs({ epochs: 3, batch: 8 }, 45), 3);
  const events = await run(['full', 'gradual:1'], 3, { steps: 8 });
  for (const strategy of ['full', 'gradual:1']) {
    assert.equal(stepLosses(events, strategy).length, 8, strategy);
    assert.deepEqual(events.filter((e) => e.type === 'epoch' && e.strategy === strategy).map((e) => (e as { epoch: number }).epoch), [1, 2]);
  }
  const end = events.find((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end' && e.strategy === 'full')!;
  // 8 steps are 1 1/3 epochs: the time per epoch is the time over that, not over the 2 epochs started.
  const stepMs = events.filter((e): e is Extract<ExperimentEvent, { type: 'epoch' }> => e.type === 'epoch' && e.strategy === 'full').reduce((t, e) => t + e.msEpoch, 0);
  assert.ok(end.msPerEpoch > stepMs / 2, `${end.msPerEpoch} ms per epoch, ${stepMs} ms in all`);
  // Gradual unfreezing still unfreezes at the start of epoch 2 (its partial epoch).
  const gradual = events.find((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end' && e.strategy === 'gradual:1')!;
  assert.equal(gradual.trainableParams, 85 + 32);
});

test('the same seed gives the same numbers', async () => {
  const losses = async () => (await run(['linear-probe'], 2)).filter((e) => e.type === 'step').map((e) => (e as { loss: number }).loss);
  assert.deepEqual(await losses(), await losses());
});

/** Runs `fn` with the CLI (`cli(...args)` runs bin/freezelens.js) in a temporary folder that holds the colour-cast data as d.npz. */
function inCliFolder(fn: (cli: (...args: string[]) => SpawnSyncReturns<string>, dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-experiment-'));
  try {
    writeNpz(path.join(dir, 'd.npz'), colourCasts());
    fn((...args) => spawnSync(process.execPath, [path.resolve(__dirname, '../../../bin/freezelens.js'), ...args], { cwd: dir, encoding: 'utf8' }), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('freezelens experiment: progress on stderr, a summary table, every event as a JSON line, exit 1 when a strategy fails', () => {
  inCliFolder((run, dir) => {
    const cli = (...args: string[]) => run('experiment', ...args);
    const r = cli('--model', MODEL, '--data', 'd.npz', '--strategies', 'linear-probe,freeze-to:nope', '--epochs', '2', '--batch', '8', '--lr', '0.05', '--optimizer', 'sgd', '--json', 'events.jsonl');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /linear-probe: epoch 2\/2, train loss [\d.]+, val loss [\d.]+, val acc [\d.]+%/);
    assert.match(r.stderr, /freeze-to:nope: error: no stage 'nope'/);
    assert.match(r.stdout, /^strategy +val acc +best +ms\/step +ms\/epoch +samples\/s +peak MB +tensor MB +trainable\nlinear-probe +[\d.]+% +[\d.]+% +[\d.]+ +\d+ +\d+ +\d+ +\d+ +85\nfreeze-to:nope +failed\n$/);
    const events = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l: string) => JSON.parse(l));
    assert.deepEqual([...new Set(events.map((e: { type: string }) => e.type))], ['start', 'step', 'epoch', 'end', 'error']);
    assert.equal(cli('--data', 'd.npz').status, 2);
    // The PyTorch backend's arguments are checked before any Python starts.
    const torchUsage = (args: string[], message: RegExp) => {
      const r = cli('--backend', 'torch', ...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
    };
    torchUsage(['--factory', 'pkg.mod:build'], /--backend torch needs one dataset: --data DIR \(ImageFolder\) or --data-factory/);
    torchUsage(['--factory', 'a:b', '--catalog', 'resnet18', '--data', 'imgs'], /--backend torch needs one model/);
    torchUsage(['--amp', 'fp8'], /--amp must be bf16 or fp16/);
    assert.match(cli('--backend', 'jax').stderr, /--backend must be torch or one of tensorflow-gpu, tensorflow, wasm, cpu, not 'jax'/);
    const missing = cli('--model', MODEL, '--data', 'nowhere');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nowhere: no such file or folder/);
  });
});

test('freezelens experiment --plan runs a saved plan (freezelens plan --format json) under its file\'s name; --steps bounds each strategy', () => {
  inCliFolder((cli, dir) => {
    const saved = cli('plan', '--model', MODEL, '--preset', 'freeze-to:features.1', '--format', 'json');
    assert.equal(saved.status, 0, saved.stderr);
    fs.writeFileSync(path.join(dir, 'my plan.json'), saved.stdout);
    const r = cli('experiment', '--model', MODEL, '--data', 'd.npz', '--strategies', 'linear-probe', '--plan', 'my plan.json', '--steps', '4', '--batch', '8', '--json', '-');
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ExperimentEvent);
    assert.deepEqual((events[0] as Extract<ExperimentEvent, { type: 'start' }>).strategies, ['linear-probe', 'my_plan']);
    assert.deepEqual(events.filter((e) => e.type === 'end').map((e) => [(e as { strategy: string }).strategy, (e as { trainableParams: number }).trainableParams]), [['linear-probe', 85], ['my_plan', 1517 - 232]]);
    assert.equal(events.filter((e) => e.type === 'step').length, 8);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"frozen": 3}');
    const bad = cli('experiment', '--model', MODEL, '--data', 'd.npz', '--plan', 'bad.json');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bad\.json: not a plan/);
  });
});

test('an EVAL export\'s unnamed weights (onnx::Conv_*) train at their module\'s LR, found from the node\'s scope', () => {
  const model = readOnnx(path.resolve(__dirname, '../../../test/fixtures/onnx/tiny_cnn.eval.onnx'));
  const seen = new Map<string, string>();
  const trainer = new Trainer(model, {
    trainable: () => true,
    lr: (init, node) => (seen.set(init, parameterModule(init, node)), 0.1),
    optimizer: { type: 'sgd' },
  });
  trainer.dispose();
  const conv = [...seen].find(([init]) => init.startsWith('onnx::Conv'));
  assert.ok(conv, [...seen.keys()].join(', '));
  assert.match(conv[1], /^features\.[03]$/);
  assert.equal(seen.get('fc.weight'), 'fc');
});
