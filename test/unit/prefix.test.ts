// The frozen prefix of an ONNX graph: which nodes it holds, where it is cut,
// whether its outputs can be cached, and that onnxruntime runs the cut model
// to the same values the whole model computes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { cutPrefix, parameterModule, prefixModelBytes } from '../../server/src/experiment/prefix';
import { readOnnx, readTensorBytes } from '../../server/src/onnx/reader';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/onnx');
const file = (name: string) => path.join(FIXTURES, name);
const frozenUnder = (prefixes: string[]) => (init: string, node: Parameters<typeof parameterModule>[1]) => {
  const module = parameterModule(init, node);
  return !prefixes.some((p) => module === p || module.startsWith(`${p}.`));
};

function input(): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 16, 16]);
}

test('a linear probe\'s prefix is the whole backbone, cut at the head\'s input; onnxruntime runs it to the values the full model has', async () => {
  const model = readOnnx(file('tiny_cnn.preserve.onnx'));
  const cut = cutPrefix(model, frozenUnder(['features']));
  assert.deepEqual(cut.outputs, ['/Flatten_output_0']);
  assert.deepEqual(cut.inputs, ['input']);
  assert.equal(cut.deterministic, true);
  assert.ok(!cut.nodes.some((i) => model.graph.nodes[i].opType === 'Gemm'), 'the head is not in the prefix');
  const prefix = await ort.InferenceSession.create(prefixModelBytes(model.file, cut));
  const features = (await prefix.run({ input: input() }))['/Flatten_output_0'];
  assert.deepEqual(features.dims, [2, 16]);
  // The head by hand from the export's own weights: logits = features · Wᵀ + b.
  const tensor = (name: string) => {
    const b = readTensorBytes(model, model.graph.initializers.find((t) => t.name === name)!);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  };
  const [w, bias] = [tensor('fc.weight'), tensor('fc.bias')];
  const full = await ort.InferenceSession.create(model.file);
  const logits = (await full.run({ input: input() })).logits.data as Float32Array;
  const f = features.data as Float32Array;
  for (let s = 0; s < 2; s++) {
    for (let o = 0; o < 5; o++) {
      let v = bias[o];
      for (let k = 0; k < 16; k++) v += f[s * 16 + k] * w[o * 16 + k];
      assert.ok(Math.abs(v - logits[s * 5 + o]) < 1e-4, `sample ${s}, logit ${o}: ${v} vs ${logits[s * 5 + o]}`);
    }
  }
});

test('freezing less moves the cut earlier; freezing nothing leaves no prefix to cache', () => {
  const model = readOnnx(file('tiny_cnn.preserve.onnx'));
  const early = cutPrefix(model, frozenUnder(['features.0', 'features.1']));
  // features.2 is a ReLU: parameter-free, so it still belongs to the prefix.
  assert.deepEqual(early.outputs, ['/features/features.2/Relu_output_0']);
  assert.deepEqual(cutPrefix(model, frozenUnder([])).outputs, []);
  // An EVAL export names weights onnx::Conv_*: their node scope decides.
  const evalModel = readOnnx(file('tiny_cnn.eval.onnx'));
  assert.deepEqual(cutPrefix(evalModel, frozenUnder(['features'])).outputs, ['/Flatten_output_0']);
});

test('a prefix with training-mode BatchNorm or Dropout cannot be cached, and says where', () => {
  const model = readOnnx(file('tiny_cnn.training.onnx'));
  const cut = cutPrefix(model, frozenUnder(['features']));
  assert.equal(cut.deterministic, false);
  assert.deepEqual(cut.reasons, [
    '/features/features.1/BatchNormalization: BatchNorm in training mode (batch statistics, running-stat updates)',
    '/features/features.4/BatchNormalization: BatchNorm in training mode (batch statistics, running-stat updates)',
    '/dropout/Dropout: Dropout in training mode',
  ]);
});
