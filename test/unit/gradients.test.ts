// Every op the engine trains through, on every tfjs backend that loads here
// (cpu and wasm; the native ones where they install): the forward output and
// the gradient of each float input match PyTorch's, from reference fixtures
// that scripts/gen-grad-fixtures.py writes with real PyTorch. On wasm this
// exercises the gradient kernels FreezeLens registers (convolution filter,
// depthwise, max-pool and gather gradients).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// The union package registers the gradients (tfjs-core's CommonJS build does not; see trainer.ts).
import '@tensorflow/tfjs';
import { BACKENDS, selectBackend, type BackendName } from '../../server/src/experiment/backend';
import { runGraph } from '../../server/src/experiment/interpret';
import type { OnnxAttribute, OnnxModel } from '../../server/src/onnx/reader';

interface Fixture {
  name: string;
  op: string;
  attributes: Omit<OnnxAttribute, 'type'>[];
  inputs: { name: string; shape: number[]; dtype: 'float32' | 'int32'; data: number[]; grad?: number[] }[];
  output: { shape: number[]; data: number[] };
  cotangent: number[];
  training: boolean;
  extraOutputs?: Record<string, { shape: number[]; data: number[] }>;
}

const FIXTURES: { torch: string; cases: Fixture[] } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/gradients.json'), 'utf8'));

/** A one-node graph: the node's inputs come in as feeds, its output is the graph's. */
function oneNode(c: Fixture): OnnxModel {
  const node = { name: c.name, opType: c.op, domain: '', inputs: c.inputs.map((i) => i.name), outputs: ['y'], attributes: c.attributes.map((a) => ({ type: 0, ...a })) };
  return { file: '', size: 0, producerName: 'test', producerVersion: '', domain: '', opsets: [], metadata: {}, graph: { name: c.name, nodes: [node], initializers: [], inputs: [], outputs: [{ name: 'y' }], valueInfo: [] } };
}

function close(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  // float32 against a float64 reference: a relative error of 1e-4 of the larger of the value and the tensor's scale.
  const scale = Math.max(1e-3, ...expected.map(Math.abs));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), scale * 1e-2);
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  assert.ok(worst <= 1e-4, `${what}[${at}]: ${actual[at]} vs PyTorch ${expected[at]} (relative error ${worst.toExponential(2)})`);
}

/** The backends that load on this machine: cpu and wasm always; tfjs-node where its libtensorflow installed. */
async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  for (const b of BACKENDS) {
    try {
      await selectBackend(b);
      out.push(b);
    } catch {
      // not installed here (the native packages are optional)
    }
  }
  return out;
}

test('the reference gradients come from PyTorch and cover the ops the issue lists', () => {
  const ops = new Set(FIXTURES.cases.map((c) => c.op));
  for (const op of ['Conv', 'BatchNormalization', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Erf', 'Gelu', 'Add', 'Mul', 'Sub', 'Div', 'Pow', 'Sqrt', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Gather', 'Squeeze', 'Unsqueeze', 'Gemm', 'MatMul', 'Softmax', 'LayerNormalization', 'ReduceMean']) {
    assert.ok(ops.has(op), `no reference case for ${op}`);
  }
  assert.match(FIXTURES.torch, /^\d+\.\d+/);
});

test('cpu and wasm are both available here (wasm with FreezeLens\'s gradient kernels)', async () => {
  const backends = await availableBackends();
  assert.ok(backends.includes('cpu') && backends.includes('wasm'), `backends: ${backends.join(', ')}`);
});

for (const c of FIXTURES.cases) {
  test(`${c.name} (${c.op}): output and gradients match PyTorch on every backend`, async () => {
    for (const backend of await availableBackends()) {
      await selectBackend(backend);
      const model = oneNode(c);
      const feeds = c.inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype));
      const differentiable = c.inputs.map((i, k) => (i.grad ? k : -1)).filter((k) => k >= 0);
      const cot = tf.tensor(c.cotangent, c.output.shape);
      let output: Float32Array | undefined;
      let running = new Map<string, Float32Array>();
      const grads = tf.grads((...xs: tf.Tensor[]) => {
        const values = new Map(c.inputs.map((i, k) => [i.name, differentiable.includes(k) ? xs[differentiable.indexOf(k)] : feeds[k]]));
        const result = runGraph(model, values, new Map(), { training: c.training });
        const y = result.outputs.get('y')!;
        output = y.dataSync() as Float32Array;
        running = new Map([...result.runningStats].map(([k, v]) => [k, v.dataSync() as Float32Array]));
        assert.deepEqual(y.shape, c.output.shape, `${backend}: output shape`);
        return tf.sum(tf.mul(y, cot));
      })(differentiable.map((k) => feeds[k]));
      close(output!, c.output.data, `${backend} ${c.name} output`);
      differentiable.forEach((k, j) => close(grads[j].dataSync(), c.inputs[k].grad!, `${backend} ${c.name} d/d${c.inputs[k].name}`));
      for (const [name, expected] of Object.entries(c.extraOutputs ?? {})) close(running.get(name)!, expected.data, `${backend} ${c.name} running ${name}`);
      tf.dispose([...feeds, cot, ...grads]);
    }
  });
}
