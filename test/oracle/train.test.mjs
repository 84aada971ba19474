// One strategy's training steps in FreezeLens's tfjs engine against PyTorch's,
// on the same weights (read from the tiny CNN's PRESERVE export) and data:
// the losses, every parameter after the steps, and BatchNorm's running
// statistics agree within float tolerance; frozen parameters are
// bit-identical; frozen BatchNorm's statistics do not move. On every tfjs
// backend that loads (cpu and wasm here).
//
//   node --test test/oracle/train.test.mjs   (torch under /usr/bin/python3)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { PYTHON, ROOT, checkPython, runProcess } from './run-fixtures.mjs';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs');
tf.env().set('PROD', true);
const { selectBackend } = require(join(ROOT, 'out/server/src/experiment/backend.js'));
const { readOnnx, readTensorBytes } = require(join(ROOT, 'out/server/src/onnx/reader.js'));
const { Trainer } = require(join(ROOT, 'out/server/src/experiment/trainer.js'));
const { parameterModule } = require(join(ROOT, 'out/server/src/experiment/prefix.js'));

const MODEL = join(ROOT, 'test/fixtures/onnx/tiny_cnn.preserve.onnx');
const SHAPE = [4, 3, 16, 16];

const STRATEGIES = [
  { name: 'linear probe, SGD momentum', frozen: ['features'], optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 1e-4 }, lr: () => 0.1 },
  { name: 'freeze features.0-1, SGD with a backbone LR', frozen: ['features.0', 'features.1'], optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0 }, lr: (n) => (n.startsWith('fc.') ? 0.1 : 0.01) },
  { name: 'full fine-tune, AdamW', frozen: [], optimizer: { type: 'adamw', weightDecay: 0.01 }, lr: (n) => (n.startsWith('fc.') ? 1e-2 : 1e-3) },
  // Gradual unfreezing: the second conv block joins the optimizer after one step, as a new param group
  // whose AdamW bias correction starts at its own first step, while the head keeps its moments.
  {
    name: 'gradual unfreezing, AdamW',
    frozen: ['features.0', 'features.1', 'features.3', 'features.4'],
    unfreeze: { after: 1, modules: ['features.3', 'features.4'] },
    steps: 3,
    optimizer: { type: 'adamw', weightDecay: 0.01 },
    lr: (n) => (n.startsWith('fc.') ? 1e-2 : 1e-3),
  },
];

for (const s of STRATEGIES) for (const backend of ['cpu', 'wasm']) {
  test(`${s.steps ?? 2} steps, ${s.name}, on ${backend}: FreezeLens's engine and PyTorch agree`, async () => {
    checkPython();
    await selectBackend(backend);
    const model = readOnnx(MODEL);
    let frozen = [...s.frozen];
    const under = (name) => frozen.some((f) => name === f || name.startsWith(`${f}.`));
    const weights = {};
    for (const t of model.graph.initializers) {
      const b = readTensorBytes(model, t);
      weights[t.name] = [t.dims, Array.from(new Float32Array(new Uint8Array(b).buffer))];
    }
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const x = Array.from({ length: SHAPE.reduce((p, d) => p * d, 1) }, rand);
    const y = [0, 3, 1, 4];
    const trainer = new Trainer(model, {
      trainable: (init, node) => !under(parameterModule(init, node)),
      bnTraining: (node) => !under(parameterModule(node.inputs[1], node)),
      lr: s.lr,
      optimizer: s.optimizer,
    });
    const steps = s.steps ?? 2;
    const ours = [];
    for (let i = 0; i < steps; i++) {
      if (s.unfreeze && i === s.unfreeze.after) {
        frozen = frozen.filter((f) => !s.unfreeze.modules.includes(f));
        assert.ok(trainer.unfreeze() > 0, 'nothing unfroze');
      }
      ours.push(trainer.step(tf.tensor(x, SHAPE), tf.tensor1d(y, 'int32')));
    }
    const dir = mkdtempSync(join(tmpdir(), 'freezelens-train-'));
    try {
      const lr = Object.fromEntries(model.graph.initializers.map((t) => [t.name, s.lr(t.name)]));
      writeFileSync(join(dir, 'case.json'), JSON.stringify({ weights, frozen: s.frozen, lr, optimizer: s.optimizer, x, shape: SHAPE, y, steps, unfreeze: s.unfreeze }));
      const r = await runProcess(PYTHON, [join(ROOT, 'test/oracle/train_step.py'), join(dir, 'case.json'), join(dir, 'out.json')], { cwd: dir, env: { OMP_NUM_THREADS: '2' }, timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const torchOut = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
      for (let i = 0; i < steps; i++) assert.ok(Math.abs(ours[i] - torchOut.losses[i]) < 1e-5 * (1 + Math.abs(torchOut.losses[i])), `loss ${i}: ${ours[i]} vs ${torchOut.losses[i]}`);
      for (const [name, theirs] of Object.entries(torchOut.state)) {
        const t = trainer.variables.get(name) ?? trainer.constants.get(name);
        assert.ok(t, `${name} is not in the engine`);
        const mine = t.dataSync();
        if (under(name.slice(0, name.lastIndexOf('.')))) {
          // Frozen, running statistics included (BN policy eval): bit-identical to the export, on both sides.
          // A fresh BatchNorm's statistics are Identity aliases of equal tensors in the export.
          const alias = model.graph.nodes.find((n) => n.opType === 'Identity' && n.outputs[0] === name)?.inputs[0];
          const initial = weights[name] ?? weights[alias];
          assert.ok(initial, `${name}: no initial value in the export`);
          assert.deepEqual(Array.from(mine), initial[1], `${name} moved`);
          assert.deepEqual(theirs, initial[1], `${name} moved in PyTorch`);
        }
        // A gradient that is zero in exact arithmetic (a conv bias right before a training-mode BatchNorm,
        // which subtracts the batch mean) is float noise on both sides; Adam scales noise up to a step of
        // up to lr, so there the two agree to the size of the steps (each step up to lr, each way), not of the noise.
        // That noise moves the BatchNorm statistics after such a bias by as much, relative to their size.
        const noisy = Object.entries(torchOut.gradMax).some(([n, g]) => g < 1e-6 && !under(n.slice(0, n.lastIndexOf('.'))));
        const noise = (torchOut.gradMax[name] ?? 1) < 1e-6 ? 2 * steps * s.lr(name) : noisy && /running_(mean|var)$/.test(name) ? 1e-3 * (1 + Math.abs(theirs[0])) : 0;
        for (let k = 0; k < theirs.length; k++) assert.ok(Math.abs(mine[k] - theirs[k]) < 2e-5 + 1e-4 * Math.abs(theirs[k]) + noise, `${name}[${k}]: ${mine[k]} vs ${theirs[k]}`);
      }
    } finally {
      trainer.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
