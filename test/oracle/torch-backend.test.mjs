// The PyTorch backend (server/runner/freezelens_runner.py, started by
// server/src/experiment/torch.ts) on the CPU with Debian's python3-torch:
// every demo strategy runs and reports what the tfjs engine reports; frozen
// parameters and frozen BatchNorm statistics do not move; one training
// step agrees with the tfjs engine's on the same weights and batch; a
// cancel, a bad factory, a missing torch, a missing GPU and a protocol
// mismatch each end with a clear error; bf16 autocast runs.
//
//   node --test test/oracle/torch-backend.test.mjs   (torch under /usr/bin/python3)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { PYTHON, ROOT, checkPython } from './run-fixtures.mjs';

const require = createRequire(import.meta.url);
const { startTorchExperiment, runnerScript } = require(join(ROOT, 'out/server/src/experiment/torch.js'));
const { runExperiment } = require(join(ROOT, 'out/server/src/experiment/engine.js'));
const { splitValidation } = require(join(ROOT, 'out/server/src/experiment/datasets.js'));
const { loadRequestData } = require(join(ROOT, 'out/server/src/experiment/request.js'));
const { selectBackend } = require(join(ROOT, 'out/server/src/experiment/backend.js'));
const { readOnnx, readTensorBytes } = require(join(ROOT, 'out/server/src/onnx/reader.js'));

const DEMO = join(ROOT, 'examples/experiment');
const dir = mkdtempSync(join(tmpdir(), 'freezelens-torch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
process.env.OMP_NUM_THREADS = '2';

function run(request) {
  const events = [];
  const handle = startTorchExperiment({ python: PYTHON, cwd: dir, strategies: ['linear-probe'], epochs: 1, batch: 32, seed: 0, valSplit: 0.2, lr: 3e-3, optimizer: 'adamw', device: 'cpu', ...request }, (e) => events.push(e));
  return { events, handle, done: handle.done.then((r) => ({ ...r, events })) };
}
const demoModel = { kind: 'torchscript', path: join(DEMO, 'shapes_cnn.pt') };
const demoData = { kind: 'image-folder', path: join(DEMO, 'data'), size: [32, 32] };
const errors = (events) => events.filter((e) => e.type === 'error').map((e) => [e.strategy, e.message]);

/** The export's initializers, by name (the PRESERVE export keeps PyTorch's state_dict names). */
function exportWeights() {
  const model = readOnnx(join(DEMO, 'shapes_cnn.onnx'));
  return new Map(model.graph.initializers.map((t) => [t.name, Array.from(new Float32Array(new Uint8Array(readTensorBytes(model, t)).buffer))]));
}

test('every demo strategy runs in PyTorch and reports as the tfjs engine does; frozen weights and frozen BatchNorm statistics do not move', async () => {
  checkPython();
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  const { events } = await run({ model: demoModel, data: demoData, strategies: ['linear-probe', 'freeze-to:layer2', 'gradual:1', 'full', 'freeze-to:nope'], epochs: 2, stateDir }).done;
  const start = events[0];
  assert.equal(start.type, 'start');
  assert.equal(start.backend, 'torch-cpu');
  assert.deepEqual([start.dataset.samples, start.dataset.train, start.dataset.val, start.dataset.classes.length], [400, 320, 80, 5]);
  const ends = events.filter((e) => e.type === 'end');
  // The same trainable counts as the tfjs engine's demo (test/unit/demo.test.ts); gradual:1 over 2 epochs unfreezes layer3.
  assert.deepEqual(ends.map((e) => [e.strategy, e.trainableParams, e.totalParams]), [
    ['linear-probe', 325, 105_589],
    ['freeze-to:layer2', 65_093, 105_589],
    ['gradual:1', 325 + 64_768, 105_589],
    ['full', 105_589, 105_589],
  ]);
  assert.deepEqual(errors(events), [['freeze-to:nope', "no stage 'nope'; the stages are stem, layer1, layer2, layer3"]]);
  for (const e of ends) assert.ok(e.bestValAcc > 0.4, `${e.strategy}: ${e.bestValAcc}`);
  assert.equal(events.filter((e) => e.type === 'epoch' && e.strategy === 'full').length, 2);

  const initial = exportWeights();
  const probe = JSON.parse(readFileSync(join(stateDir, 'linear-probe.json'), 'utf8'));
  const lastStage = JSON.parse(readFileSync(join(stateDir, 'freeze-to:layer2.json'), 'utf8'));
  for (const [name, values] of Object.entries(probe)) {
    const before = initial.get(name);
    assert.ok(before, `${name} is not in the export`);
    // The linear probe: everything but the head is frozen, BatchNorm statistics included (eval policy).
    if (!name.startsWith('fc.')) assert.deepEqual(values, before, `${name} moved in the linear probe`);
    else assert.notDeepEqual(values, before, `${name} did not train`);
  }
  for (const [name, values] of Object.entries(lastStage)) {
    if (/^(stem|layer1|layer2)\./.test(name)) assert.deepEqual(values, initial.get(name), `${name} moved with freeze-to:layer2`);
    if (/^layer3\.\d+\.running_mean$/.test(name)) assert.notDeepEqual(values, initial.get(name), `${name}: a trained stage's BatchNorm statistics should move`);
  }
});

test('a plan given whole and a budget in steps: the runner freezes what the plan says and stops after that many steps', async () => {
  checkPython();
  // The planner's plan for the demo: stem and layer1 frozen with their BatchNorm training (bn: train).
  const planner = { version: 1, preset: 'custom', frozen: ['stem', 'layer1'], bn: 'train', optimizer: 'adamw', lr: 1e-3, lrSplit: 10, decay: null, gradualEvery: null, stages: [], head: undefined };
  const elsewhere = { ...planner, frozen: ['backbone.layer4'] };
  // 320 training samples in batches of 32: 10 steps an epoch, so 15 steps end half-way through epoch 2.
  const { events } = await run({ model: demoModel, data: demoData, strategies: ['planner', 'elsewhere'], plans: { planner, elsewhere }, steps: 15, epochs: 9 }).done;
  const steps = events.filter((e) => e.type === 'step');
  assert.equal(steps.length, 15);
  assert.deepEqual(events.filter((e) => e.type === 'epoch').map((e) => e.epoch), [1, 2]);
  const end = events.find((e) => e.type === 'end');
  assert.equal(end.strategy, 'planner');
  assert.deepEqual(errors(events), [['elsewhere', 'the plan freezes backbone.layer4, which this model does not have: it was made for another model']]);
  // The tfjs engine, given the same plan on the ONNX export, trains the same parameters: the
  // planner's modules frozen, less their BatchNorm's weight and bias (bn: train).
  await selectBackend('cpu');
  const ours = [];
  await runExperiment({ model: join(DEMO, 'shapes_cnn.onnx'), data: loadRequestData({ model: join(DEMO, 'shapes_cnn.onnx'), data: join(DEMO, 'data') }), strategies: ['planner'], plans: { planner }, steps: 1, epochs: 1, batch: 32, seed: 0, valSplit: 0.2, lr: 3e-3, optimizer: 'adamw' }, (e) => ours.push(e));
  const tfjsEnd = ours.find((e) => e.type === 'end');
  assert.ok(tfjsEnd, JSON.stringify(ours.filter((e) => e.type === 'error')));
  assert.equal(end.trainableParams, tfjsEnd.trainableParams);
  assert.ok(end.trainableParams > 65_093 && end.trainableParams < 105_589, `${end.trainableParams} trainable`);
});

test('one training step: the PyTorch backend and the tfjs engine agree on the loss and the updated parameters, from the same weights and batch', async () => {
  checkPython();
  // 10 samples, of which splitValidation puts 8 in training: with batch 8, one epoch is one step.
  const n = 10;
  const x = Array.from({ length: n * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.731) * 1.5);
  const y = Array.from({ length: n }, (_, i) => i % 5);
  const { train, val } = splitValidation(n, 0.2, 0);
  assert.equal(train.length, 8);
  const rows = (idx) => idx.map((k) => x.slice(k * 3072, (k + 1) * 3072));
  writeFileSync(join(dir, 'stepdata.py'), [
    'import json, torch',
    'from torch.utils.data import TensorDataset',
    'def data():',
    `    d = json.load(open(${JSON.stringify(join(dir, 'stepdata.json'))}))`,
    "    make = lambda part: TensorDataset(torch.tensor(d[part]['x']).reshape(-1, 3, 32, 32), torch.tensor(d[part]['y']))",
    "    train = make('train')",
    "    train.classes = ['a', 'b', 'c', 'd', 'e']",
    "    return train, make('val')",
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'stepdata.json'), JSON.stringify({ train: { x: rows(train), y: train.map((k) => y[k]) }, val: { x: rows(val), y: val.map((k) => y[k]) } }));
  const strategies = ['freeze-to:layer2', 'full'];
  const torchState = join(dir, 'torch-step');
  const tfjsState = join(dir, 'tfjs-step');
  mkdirSync(torchState);
  mkdirSync(tfjsState);
  // SGD: its update is linear in the gradient, so the two sides' float rounding stays at rounding size. (Adam's
  // first step is about lr·sign(g), which turns rounding in a near-zero gradient into a full step; its update rule
  // is checked against PyTorch in train.test.mjs.)
  const theirs = await run({ model: demoModel, data: { kind: 'factory', factory: 'stepdata:data' }, strategies, epochs: 1, batch: 8, optimizer: 'sgd', lr: 0.05, stateDir: torchState }).done;
  assert.deepEqual(errors(theirs.events), []);
  await selectBackend('wasm');
  const ours = [];
  await runExperiment({ model: join(DEMO, 'shapes_cnn.onnx'), data: { kind: 'numpy', shape: [3, 32, 32], classes: ['a', 'b', 'c', 'd', 'e'], x: Float32Array.from(x), y: Int32Array.from(y), sources: [], warnings: [] }, strategies, epochs: 1, batch: 8, seed: 0, valSplit: 0.2, lr: 0.05, optimizer: 'sgd', stateDir: tfjsState }, (e) => ours.push(e));
  assert.deepEqual(errors(ours), []);
  for (const s of strategies) {
    const step = (events) => events.find((e) => e.type === 'step' && e.strategy === s);
    assert.ok(Math.abs(step(ours).loss - step(theirs.events).loss) < 1e-4, `${s}: loss ${step(ours).loss} (tfjs) vs ${step(theirs.events).loss} (PyTorch)`);
    const a = JSON.parse(readFileSync(join(tfjsState, `${s}.json`), 'utf8'));
    const b = JSON.parse(readFileSync(join(torchState, `${s}.json`), 'utf8'));
    let compared = 0;
    for (const [name, mine] of Object.entries(a)) {
      if (!(name in b)) continue; // the export's own deduplicated initializers
      compared++;
      for (let k = 0; k < mine.length; k++) assert.ok(Math.abs(mine[k] - b[name][k]) < 2e-5 + 1e-4 * Math.abs(b[name][k]), `${s} ${name}[${k}]: ${mine[k]} (tfjs) vs ${b[name][k]} (PyTorch)`);
    }
    assert.equal(compared, Object.keys(b).length, `${s}: every PyTorch parameter and buffer compared`);
  }
});

test('a cancel (SIGINT) stops the runner after the step in progress; it frees the model and exits by itself', async () => {
  checkPython();
  let cancelledAt = -1;
  const r = run({ model: demoModel, data: demoData, strategies: ['full', 'linear-probe'], epochs: 20, batch: 8 });
  const steps = () => r.events.filter((e) => e.type === 'step').length;
  const timer = setInterval(() => {
    if (steps() >= 2 && cancelledAt < 0) {
      cancelledAt = steps();
      r.handle.cancel();
    }
  }, 20);
  const { finished, events } = await r.done;
  clearInterval(timer);
  assert.equal(finished, true, 'the runner finished by itself, not killed');
  assert.ok(steps() - cancelledAt <= 1, `${steps() - cancelledAt} steps after the cancel`);
  assert.deepEqual(errors(events), [
    ['full', 'cancelled'],
    ['linear-probe', 'not run: cancelled'],
  ]);
});

test('bad factories get errors that name the factory and what went wrong', async () => {
  checkPython();
  writeFileSync(join(dir, 'badmodels.py'), 'def raises():\n    raise ValueError("no config file")\n\ndef not_a_module():\n    return 42\n');
  const cases = [
    ['nosuch.module:build', /^the model factory 'nosuch\.module:build': importing nosuch\.module failed: ModuleNotFoundError/],
    ['badmodels:missing', /^the model factory 'badmodels:missing': badmodels has no function missing$/],
    ['badmodels:raises', /^the model factory 'badmodels:raises' raised ValueError: no config file$/],
    ['badmodels:not_a_module', /^the model factory 'badmodels:not_a_module' returned int, not an nn\.Module$/],
    ['no_colon', /^the model factory 'no_colon' must look like package\.module:function$/],
  ];
  for (const [factory, message] of cases) {
    const { events } = await run({ model: { kind: 'factory', factory }, data: demoData }).done;
    const [[strategy, text]] = errors(events);
    assert.equal(strategy, null);
    assert.match(text, message);
  }
});

test('a Python without torch, a missing interpreter and a protocol mismatch are run errors that say what to do', async () => {
  checkPython();
  // A torch that cannot be imported, ahead of the real one on the path.
  const fake = join(dir, 'notorch');
  mkdirSync(join(fake, 'torch'), { recursive: true });
  writeFileSync(join(fake, 'torch', '__init__.py'), 'raise ImportError("No module named torch")\n');
  const env = process.env.PYTHONPATH;
  process.env.PYTHONPATH = fake;
  try {
    const { events } = await run({ model: demoModel, data: demoData }).done;
    assert.match(errors(events)[0][1], /^PyTorch is not installed for .*python3.*; install it with `.* -m pip install torch`/);
  } finally {
    if (env === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = env;
  }
  const missing = await run({ python: join(dir, 'no-such-python'), model: demoModel, data: demoData }).done;
  assert.match(errors(missing.events)[0][1], /^no Python at '.*no-such-python': set freezelens\.pythonPath \(or --python\)/);
  // The runner itself refuses a FreezeLens that speaks another protocol.
  const child = spawn(PYTHON, ['-u', runnerScript()], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(`${JSON.stringify({ type: 'hello', protocol: 99 })}\n`);
  let out = '';
  for await (const chunk of child.stdout) out += chunk;
  assert.match(JSON.parse(out.trim().split('\n')[0]).error, /FreezeLens speaks protocol 99, this runner 1/);
});

test('--device cuda without a GPU is a run error that says what to do; bf16 autocast runs on the CPU', async () => {
  checkPython();
  const cuda = await run({ model: demoModel, data: demoData, device: 'cuda' }).done;
  const [[strategy, message]] = errors(cuda.events);
  assert.equal(strategy, null);
  assert.match(message, /^--device cuda: torch .* sees no CUDA GPU \(torch\.cuda\.is_available\(\) is False\); install a CUDA build of torch, or use --device cpu$/);
  const bf16 = await run({ model: demoModel, data: demoData, amp: 'bf16', strategies: ['linear-probe'] }).done;
  assert.deepEqual(errors(bf16.events), []);
  const end = bf16.events.find((e) => e.type === 'end');
  assert.ok(end && Number.isFinite(end.valAcc) && end.trainableParams === 325, JSON.stringify(end));
});
