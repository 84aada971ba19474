// The experiment engine on real torchvision architectures: resnet18,
// mobilenet_v2, mobilenet_v3_small, efficientnet_b0 and a small
// VisionTransformer, exported by PyTorch with their parameter names. The
// interpreter knows every op they contain, gives onnxruntime's logits, and
// takes a full fine-tune step on the wasm backend (every op has a gradient)
// whose loss PyTorch's own step on the same weights and batch matches. An
// op the engine lacks is named before training, and only where tfjs would
// have to run it.
//
//   node --test test/oracle/torchvision.test.mjs   (torch and torchvision under /usr/bin/python3)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { PYTHON, ROOT, checkPython, runProcess } from './run-fixtures.mjs';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs');
tf.env().set('PROD', true);
const ort = require('onnxruntime-node');
const { readOnnx } = require(join(ROOT, 'out/server/src/onnx/reader.js'));
const { runGraph, tensorOf, unsupportedOps } = require(join(ROOT, 'out/server/src/experiment/interpret.js'));
const { Trainer } = require(join(ROOT, 'out/server/src/experiment/trainer.js'));
const { selectBackend } = require(join(ROOT, 'out/server/src/experiment/backend.js'));
const { runExperiment } = require(join(ROOT, 'out/server/src/experiment/engine.js'));

const MODELS = ['resnet18', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'vit_tiny'];
// 64×64: at 32×32 the last stages are 1×1, where BatchNorm's statistics over a batch of two amplify
// float rounding until the two sides' losses part (seen on efficientnet_b0).
const SIZE = 64;
const dir = mkdtempSync(join(tmpdir(), 'freezelens-torchvision-'));
let exported;

// Exports each model (eval mode, names kept), and records PyTorch's loss of one training step's batch.
const SCRIPT = `
import json, sys, torch, torch.nn.functional as F, torchvision
from torchvision.models.vision_transformer import VisionTransformer
out = sys.argv[1]
torch.manual_seed(0)
x = torch.randn(2, 3, ${SIZE}, ${SIZE})
y = torch.tensor([1, 3])
res = {}
for name in ${JSON.stringify(MODELS)}:
    if name == 'vit_tiny':
        m = VisionTransformer(image_size=${SIZE}, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=5)
    else:
        m = getattr(torchvision.models, name)(num_classes=5)
    m.eval()
    path = f'{out}/{name}.onnx'
    torch.onnx.export(m, x, path, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=14,
                      input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    with torch.no_grad():
        logits = m(x)
    m.train()
    for mod in m.modules():
        if isinstance(mod, torch.nn.Dropout) or type(mod).__name__ == 'StochasticDepth':
            mod.eval()  # random in training mode, and absent from the (eval-mode) export: the step has none either
    loss = F.cross_entropy(m(x), y).item()
    res[name] = {'path': path, 'logits': logits.flatten().tolist(), 'trainLoss': loss}

# A network with an op the tfjs engine lacks (Resize, from interpolate) after its first weights.
class Upsampled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(8, 5)
    def forward(self, x):
        x = F.interpolate(self.features(x), scale_factor=0.5, mode='nearest')
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
torch.onnx.export(Upsampled().eval(), x, f'{out}/upsampled.onnx', training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=14,
                  input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
json.dump({'x': x.flatten().tolist(), 'y': y.tolist(), 'models': res}, open(f'{out}/out.json', 'w'))
`;

before(async () => {
  checkPython();
  const r = await runProcess(PYTHON, ['-c', SCRIPT, dir], { cwd: dir, env: { OMP_NUM_THREADS: '2' }, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  exported = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function close(a, b, tol, what) {
  assert.equal(a.length, b.length, what);
  const scale = Math.max(...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

for (const name of MODELS) {
  test(`${name}: every op is interpreted, the logits are onnxruntime's, and a training step on wasm has PyTorch's loss`, async () => {
    const { path, logits, trainLoss } = exported.models[name];
    const model = readOnnx(path);
    assert.deepEqual([...unsupportedOps(model.graph)], [], 'unsupported ops');
    const xs = Float32Array.from(exported.x);
    const session = await ort.InferenceSession.create(path);
    const theirs = (await session.run({ input: new ort.Tensor('float32', xs, [2, 3, SIZE, SIZE]) })).logits.data;
    await session.release();
    close(Float32Array.from(logits), theirs, 1e-3, `${name}: onnxruntime against PyTorch`);
    await selectBackend('wasm');
    const params = new Map(model.graph.initializers.map((t) => [t.name, tensorOf(model, t)]));
    const ours = tf.tidy(() => runGraph(model, new Map([['input', tf.tensor(xs, [2, 3, SIZE, SIZE])]]), params, { training: false }).outputs.get('logits').dataSync().slice());
    tf.dispose([...params.values()]);
    close(ours, theirs, 1e-3, `${name}: tfjs against onnxruntime`);
    // A full fine-tune step: BatchNorm in training mode, every parameter a variable, AdamW.
    const trainer = new Trainer(model, { trainable: () => true, lr: () => 1e-3, optimizer: { type: 'adamw', weightDecay: 0.01 } });
    try {
      const loss = trainer.step(tf.tensor(xs, [2, 3, SIZE, SIZE]), tf.tensor1d(exported.y, 'int32'));
      assert.ok(Math.abs(loss - trainLoss) < 1e-3 * (1 + Math.abs(trainLoss)), `loss ${loss} vs PyTorch ${trainLoss}`);
      const after = trainer.step(tf.tensor(xs, [2, 3, SIZE, SIZE]), tf.tensor1d(exported.y, 'int32'));
      assert.ok(Number.isFinite(after), `second step's loss ${after}`);
    } finally {
      trainer.dispose();
    }
  });
}

test('an op the engine lacks: the linear probe runs (it is in the frozen prefix, which onnxruntime runs), the full fine-tune names the op and its node before training', async () => {
  await selectBackend('wasm');
  const n = 12;
  const x = Float32Array.from({ length: n * 3 * SIZE * SIZE }, (_, i) => Math.sin(i * 0.13));
  const data = { kind: 'numpy', shape: [3, SIZE, SIZE], classes: ['a', 'b', 'c', 'd', 'e'], x, y: Int32Array.from({ length: n }, (_, i) => i % 5), sources: [], warnings: [] };
  const events = [];
  await runExperiment({ model: join(dir, 'upsampled.onnx'), data, strategies: ['linear-probe', 'full'], epochs: 1, batch: 4, seed: 0, valSplit: 0.25, lr: 1e-3, optimizer: 'adamw' }, (e) => events.push(e));
  const end = events.find((e) => e.type === 'end');
  assert.equal(end?.strategy, 'linear-probe');
  assert.equal(end.cached, true);
  assert.equal(events.filter((e) => e.type === 'step' && e.strategy === 'full').length, 0);
  const errors = events.filter((e) => e.type === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].strategy, 'full');
  assert.match(errors[0].message, /^ops not supported by the tfjs engine: Resize \(\/Resize\)$/);
});
