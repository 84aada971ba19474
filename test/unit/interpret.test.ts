// ONNX graphs run with tfjs ops (the engine's trainable suffix): the same
// outputs as onnxruntime on real PyTorch exports, BatchNorm's training mode
// (batch statistics and PyTorch's running-stat update), the suffix after a
// frozen prefix, and a clear error for ops it lacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { runGraph, tensorOf, unsupportedOps } from '../../server/src/experiment/interpret';
import { cutPrefix, parameterModule, prefixModelBytes } from '../../server/src/experiment/prefix';
import { readOnnx, type OnnxModel } from '../../server/src/onnx/reader';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/onnx');
const batch = Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.37));

function params(model: OnnxModel): Map<string, tf.Tensor> {
  return new Map(model.graph.initializers.map((t) => [t.name, tensorOf(model, t)]));
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('the tiny CNN (conv, BatchNorm, ReLU, pooling, Gemm) gives onnxruntime\'s logits, from the PRESERVE and the EVAL export', async () => {
  await tf.setBackend('cpu');
  for (const name of ['tiny_cnn.preserve.onnx', 'tiny_cnn.eval.onnx']) {
    const model = readOnnx(path.join(FIXTURES, name));
    assert.deepEqual([...unsupportedOps(model.graph).keys()], []);
    const ours = tf.tidy(() => runGraph(model, new Map([['input', tf.tensor(batch, [2, 3, 16, 16])]]), params(model), { training: false }).outputs.get('logits')!.dataSync().slice());
    const session = await ort.InferenceSession.create(model.file);
    const theirs = (await session.run({ input: new ort.Tensor('float32', batch, [2, 3, 16, 16]) })).logits.data as Float32Array;
    close(ours, theirs, 1e-4, name);
  }
});

test('BatchNorm in training mode normalises with batch statistics and moves the running ones as PyTorch does', async () => {
  await tf.setBackend('cpu');
  const model = readOnnx(path.join(FIXTURES, 'tiny_cnn.preserve.onnx'));
  const p = params(model);
  const result = runGraph(model, new Map([['input', tf.tensor(batch, [2, 3, 16, 16])]]), p, { training: true }, model.graph.nodes.map((_, i) => i));
  const mean = result.runningStats.get('features.1.running_mean')!;
  const variance = result.runningStats.get('features.1.running_var')!;
  // features.0's output, by the interpreter in eval mode up to the conv, then PyTorch's rule by hand:
  // running = (1 - 0.1) * running + 0.1 * batch statistic, with the unbiased batch variance.
  const convIndex = model.graph.nodes.findIndex((n) => n.opType === 'Conv');
  const convOut = model.graph.nodes[convIndex].outputs[0];
  const conv = runGraph({ ...model, graph: { ...model.graph, outputs: [{ name: convOut }] } }, new Map([['input', tf.tensor(batch, [2, 3, 16, 16])]]), p, { training: false }, [...Array(convIndex + 1).keys()]).outputs.get(convOut)!;
  const { mean: bm, variance: bv } = tf.moments(conv, [0, 2, 3]);
  const n = 2 * 16 * 16;
  // The exporter deduplicated the fresh running stats into Identity aliases of equal tensors (zeros, ones).
  const alias = (name: string) => p.get(model.graph.nodes.find((x) => x.opType === 'Identity' && x.outputs[0] === name)!.inputs[0])!;
  const expectedMean = tf.add(tf.mul(alias('features.1.running_mean'), 0.9), tf.mul(bm, 0.1)).dataSync();
  const expectedVar = tf.add(tf.mul(alias('features.1.running_var'), 0.9), tf.mul(tf.mul(bv, n / (n - 1)), 0.1)).dataSync();
  close(mean.dataSync(), expectedMean, 1e-5, 'running_mean');
  close(variance.dataSync(), expectedVar, 1e-5, 'running_var');
});

test('the suffix after a frozen prefix, fed by onnxruntime, ends in the full model\'s logits', async () => {
  await tf.setBackend('cpu');
  const model = readOnnx(path.join(FIXTURES, 'tiny_cnn.preserve.onnx'));
  const cut = cutPrefix(model, (init, node) => !parameterModule(init, node).startsWith('features'));
  const prefix = await ort.InferenceSession.create(prefixModelBytes(model.file, cut));
  const out = (await prefix.run({ input: new ort.Tensor('float32', batch, [2, 3, 16, 16]) }))[cut.outputs[0]];
  const rest = model.graph.nodes.map((_, i) => i).filter((i) => !cut.nodes.includes(i) && model.graph.nodes[i].opType !== 'Identity');
  const feeds = new Map([[cut.outputs[0], tf.tensor(out.data as Float32Array, out.dims as number[])]]);
  const logits = runGraph(model, feeds, params(model), { training: false }, rest).outputs.get('logits')!.dataSync();
  const full = await ort.InferenceSession.create(model.file);
  close(logits, (await full.run({ input: new ort.Tensor('float32', batch, [2, 3, 16, 16]) })).logits.data as Float32Array, 1e-4, 'logits');
});

test('ops the engine lacks are listed with the nodes that use them', () => {
  const model = readOnnx(path.join(FIXTURES, 'branches.onnx'));
  assert.deepEqual([...unsupportedOps(model.graph)], [['If', ['choose']]]);
  assert.throws(() => runGraph(model, new Map(), new Map(), { training: false }), /ops not supported by the tfjs engine: If \(choose\)/);
});

test('the tiny transformer (embedding Gather, attention with Softmax over the last axis, Slice, Cast) gives onnxruntime\'s logits', async () => {
  await tf.setBackend('cpu');
  const ids = [1, 5, 7, 49, 0, 3, 2, 2, 8, 9, 10, 11];
  for (const name of ['tiny_transformer.preserve.onnx', 'tiny_transformer.eval.onnx']) {
    const model = readOnnx(path.join(FIXTURES, name));
    assert.deepEqual([...unsupportedOps(model.graph).keys()], []);
    // A negative attribute survives the reader: PyTorch writes Softmax's axis as -1 (a 10-byte varint).
    assert.equal(model.graph.nodes.find((n) => n.opType === 'Softmax')!.attributes.find((a) => a.name === 'axis')!.i, -1);
    const ours = tf.tidy(() => runGraph(model, new Map([['input', tf.tensor(ids, [2, 6], 'int32')]]), params(model), { training: false }).outputs.get('logits')!.dataSync().slice());
    const session = await ort.InferenceSession.create(model.file);
    const theirs = (await session.run({ input: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 6]) })).logits.data as Float32Array;
    close(ours, theirs, 1e-4, name);
  }
});
