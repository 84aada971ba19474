import * as tf from '@tensorflow/tfjs-core';
import type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../onnx/reader';
import { readTensorBytes } from '../onnx/reader';
import { batchNormTraining } from './batchnorm';

/**
 * An ONNX graph run with tfjs ops, so that autodiff can train it: the
 * trainable suffix of a freeze plan runs here (the frozen prefix runs in
 * onnxruntime). Tensors stay in ONNX's layouts (NCHW, OIHW); the ops that
 * tfjs implements channels-last transpose around the call.
 *
 * Initializers become tf.Variables where the plan trains them and
 * constants otherwise. BatchNormalization in training mode returns its
 * updated running statistics alongside, which the trainer assigns.
 */

export class UnsupportedOps extends Error {
  constructor(readonly ops: Map<string, string[]>) {
    super(`ops not supported by the tfjs engine: ${[...ops].map(([op, where]) => `${op} (${where.slice(0, 3).join(', ')}${where.length > 3 ? `, +${where.length - 3} more` : ''})`).join('; ')}`);
  }
}

type Values = Map<string, tf.Tensor>;
export interface RunOptions {
  /** BatchNorm nodes use batch statistics and report updated running stats (training), or their running stats (eval). */
  training: boolean;
  /** Per BatchNorm node, where the BN policy decides (frozen BN in eval within a training step). */
  bnTraining?: (node: OnnxNode) => boolean;
}
export interface RunResult {
  outputs: Map<string, tf.Tensor>;
  /** BatchNorm running statistics after this batch, by initializer name (training mode only). */
  runningStats: Map<string, tf.Tensor>;
}

type OpFn = (n: OnnxNode, inputs: (tf.Tensor | undefined)[], ctx: { training: boolean; running: Map<string, tf.Tensor>; model: OnnxModel }) => tf.Tensor[];

const attr = (n: OnnxNode, name: string): OnnxAttribute | undefined => n.attributes.find((a) => a.name === name);
const ints = (n: OnnxNode, name: string, fallback: number[]): number[] => attr(n, name)?.ints ?? fallback;
const int = (n: OnnxNode, name: string, fallback: number): number => attr(n, name)?.i ?? fallback;
const float = (n: OnnxNode, name: string, fallback: number): number => attr(n, name)?.f ?? fallback;

/** NCHW to NHWC and back, around the tfjs ops that are channels-last. */
const toNhwc = (x: tf.Tensor) => tf.transpose(x, [0, 2, 3, 1]);
const toNchw = (x: tf.Tensor) => tf.transpose(x, [0, 3, 1, 2]);

function pads(n: OnnxNode, rank: number): [number, number][] | 'same' | 'valid' {
  const autoPad = attr(n, 'auto_pad')?.s;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return 'same';
  const p = ints(n, 'pads', new Array(2 * rank).fill(0));
  if (p.every((v) => v === 0)) return 'valid';
  return Array.from({ length: rank }, (_, i) => [p[i], p[i + rank]] as [number, number]);
}

/** Explicit padding for ops whose tfjs form takes only 'same'/'valid': pad the NHWC input itself. */
function padNhwc(x: tf.Tensor4D, p: [number, number][], value = 0): tf.Tensor4D {
  return tf.pad(x, [[0, 0], p[0], p[1], [0, 0]], value);
}

const OPS: Record<string, OpFn> = {
  Identity: (_n, [x]) => [x!],
  Dropout: (_n, [x]) => [x!],
  Relu: (_n, [x]) => [tf.relu(x!)],
  Sigmoid: (_n, [x]) => [tf.sigmoid(x!)],
  Erf: (_n, [x]) => [tf.erf(x!)],
  Tanh: (_n, [x]) => [tf.tanh(x!)],
  Gelu: (n, [x]) => {
    // ONNX opset 20's Gelu: exact (erf) or PyTorch's tanh approximation.
    if (attr(n, 'approximate')?.s === 'tanh') {
      const inner = tf.mul(tf.add(x!, tf.mul(tf.pow(x!, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return [tf.mul(tf.mul(x!, 0.5), tf.add(tf.tanh(inner), 1))];
    }
    return [tf.mul(tf.mul(x!, 0.5), tf.add(tf.erf(tf.mul(x!, Math.SQRT1_2)), 1))];
  },
  Sqrt: (_n, [x]) => [tf.sqrt(x!)],
  Add: (_n, [a, b]) => [tf.add(a!, b!)],
  Sub: (_n, [a, b]) => [tf.sub(a!, b!)],
  Mul: (_n, [a, b]) => [tf.mul(a!, b!)],
  Div: (_n, [a, b]) => [tf.div(a!, b!)],
  Pow: (_n, [a, b]) => [tf.pow(a!, b!)],
  Clip: (n, [x, lo, hi]) => {
    const min = lo ? lo.dataSync()[0] : float(n, 'min', -Infinity);
    const max = hi ? hi.dataSync()[0] : float(n, 'max', Infinity);
    return [tf.clipByValue(x!, min, max)];
  },
  HardSigmoid: (n, [x]) => [tf.clipByValue(tf.add(tf.mul(x!, float(n, 'alpha', 0.2)), float(n, 'beta', 0.5)), 0, 1)],
  HardSwish: (_n, [x]) => [tf.mul(x!, tf.clipByValue(tf.add(tf.div(x!, 6), 0.5), 0, 1))],
  Softmax: (n, [x]) => {
    const axis = int(n, 'axis', -1);
    const rank = x!.rank;
    const a = axis < 0 ? axis + rank : axis;
    if (a === rank - 1) return [tf.softmax(x!)];
    const perm = Array.from({ length: rank }, (_, i) => i);
    [perm[a], perm[rank - 1]] = [perm[rank - 1], perm[a]];
    return [tf.transpose(tf.softmax(tf.transpose(x!, perm)), perm)];
  },
  Flatten: (n, [x]) => {
    const axis = int(n, 'axis', 1);
    const outer = x!.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    return [tf.reshape(x!, [outer, -1])];
  },
  Gemm: (n, [a, b, c]) => {
    let y = tf.matMul(a! as tf.Tensor2D, b! as tf.Tensor2D, int(n, 'transA', 0) === 1, int(n, 'transB', 0) === 1);
    const alpha = float(n, 'alpha', 1);
    if (alpha !== 1) y = tf.mul(y, alpha);
    if (c) y = tf.add(y, float(n, 'beta', 1) === 1 ? c : tf.mul(c, float(n, 'beta', 1)));
    return [y];
  },
  MatMul: (_n, [a, b]) => [matMul(a!, b!)],
  Conv: (n, [x, w, b]) => {
    const group = int(n, 'group', 1);
    const strides = ints(n, 'strides', [1, 1]) as [number, number];
    const dil = ints(n, 'dilations', [1, 1]) as [number, number];
    if (x!.rank !== 4) throw new Error(`${n.name}: only 2-D convolutions are supported`);
    const p = pads(n, 2);
    const input = toNhwc(x!) as tf.Tensor4D;
    // Explicit padding goes to the convolution itself: a separate pad would cost a copy forwards and a slice backwards.
    const pad: 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] = p === 'same' || p === 'valid' ? p : [[0, 0], p[0], p[1], [0, 0]];
    const inC = x!.shape[1] as number;
    let y: tf.Tensor4D;
    if (group === 1) {
      y = tf.conv2d(input, tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D, strides, pad, 'NHWC', dil);
    } else if (group === inC && w!.shape[1] === 1) {
      // Depthwise: OIHW [C*m, 1, kh, kw] to [kh, kw, C, m].
      const m = (w!.shape[0] as number) / inC;
      const filter = tf.reshape(tf.transpose(w!, [2, 3, 1, 0]), [w!.shape[2] as number, w!.shape[3] as number, inC, m]) as tf.Tensor4D;
      y = tf.depthwiseConv2d(input, filter, strides, pad, 'NHWC', dil);
    } else {
      // Grouped: one convolution per group, concatenated on channels.
      const inPer = inC / group;
      const outPer = (w!.shape[0] as number) / group;
      const parts: tf.Tensor4D[] = [];
      for (let gi = 0; gi < group; gi++) {
        const xi = tf.slice(input, [0, 0, 0, gi * inPer], [-1, -1, -1, inPer]);
        const wi = tf.transpose(tf.slice(w!, [gi * outPer, 0, 0, 0], [outPer, -1, -1, -1]), [2, 3, 1, 0]) as tf.Tensor4D;
        parts.push(tf.conv2d(xi, wi, strides, pad, 'NHWC', dil));
      }
      y = tf.concat(parts, 3);
    }
    let out = toNchw(y);
    if (b) out = tf.add(out, tf.reshape(b, [1, -1, 1, 1]));
    return [out];
  },
  BatchNormalization: (n, [x, scale, bias, mean, variance], ctx) => {
    const eps = float(n, 'epsilon', 1e-5);
    const momentum = float(n, 'momentum', 0.9);
    const shape = [1, -1, ...Array(x!.rank - 2).fill(1)];
    const r = (t: tf.Tensor) => tf.reshape(t, shape);
    if (!ctx.training) return [tf.add(tf.mul(tf.div(tf.sub(x!, r(mean!)), tf.sqrt(tf.add(r(variance!), eps))), r(scale!)), r(bias!))];
    const { y, stats } = batchNormTraining(x!, scale!, bias!, eps);
    const count = x!.size / (x!.shape[1] as number);
    // PyTorch updates running_var with the unbiased batch variance; ONNX's momentum weighs the old value.
    const unbiased = tf.mul(stats.variance, count / Math.max(1, count - 1));
    ctx.running.set(n.inputs[3], tf.add(tf.mul(mean!, momentum), tf.mul(stats.mean, 1 - momentum)));
    ctx.running.set(n.inputs[4], tf.add(tf.mul(variance!, momentum), tf.mul(unbiased, 1 - momentum)));
    tf.dispose([stats.mean, stats.variance]);
    return [y];
  },
  GlobalAveragePool: (_n, [x]) => [tf.mean(x!, Array.from({ length: x!.rank - 2 }, (_, i) => i + 2), true)],
  MaxPool: (n, [x]) => pool(n, x!, 'max'),
  AveragePool: (n, [x]) => pool(n, x!, 'avg'),
  Reshape: (_n, [x, shape]) => {
    const target = Array.from(shape!.dataSync()).map((d, i) => (d === 0 ? x!.shape[i] : d));
    return [tf.reshape(x!, target)];
  },
  Transpose: (n, [x]) => [tf.transpose(x!, attr(n, 'perm')?.ints)],
  Concat: (n, inputs) => [tf.concat(inputs.filter((t): t is tf.Tensor => !!t), int(n, 'axis', 0))],
  Unsqueeze: (n, [x, axesT]) => {
    const axes = axesT ? Array.from(axesT.dataSync()) : ints(n, 'axes', []);
    let y = x!;
    for (const a of [...axes].map((a) => (a < 0 ? a + x!.rank + axes.length : a)).sort((p, q) => p - q)) y = tf.expandDims(y, a);
    return [y];
  },
  Squeeze: (n, [x, axesT]) => {
    const axes = axesT ? Array.from(axesT.dataSync()) : ints(n, 'axes', []);
    return [tf.squeeze(x!, axes.length > 0 ? axes.map((a) => (a < 0 ? a + x!.rank : a)) : undefined)];
  },
  Shape: (_n, [x]) => [tf.tensor1d(x!.shape, 'int32')],
  Cast: (n, [x]) => [tf.cast(x!, CAST_TO[int(n, 'to', 1)] ?? 'float32')],
  Gather: (n, [data, indices]) => {
    const axis = int(n, 'axis', 0);
    const a = axis < 0 ? axis + data!.rank : axis;
    // ONNX allows negative indices (from the end); tf.gather does not.
    const dim = data!.shape[a] as number;
    const idx = tf.tidy(() => {
      const i = tf.cast(indices!, 'int32');
      return tf.where(tf.less(i, tf.scalar(0, 'int32')), tf.add(i, tf.scalar(dim, 'int32')), i);
    });
    return [tf.gather(data!, idx, a)];
  },
  Slice: (_n, [x, startsT, endsT, axesT, stepsT]) => {
    const starts = Array.from(startsT!.dataSync());
    const ends = Array.from(endsT!.dataSync());
    const axes = axesT ? Array.from(axesT.dataSync()) : starts.map((_, i) => i);
    const steps = stepsT ? Array.from(stepsT.dataSync()) : starts.map(() => 1);
    const begin = x!.shape.map(() => 0);
    const end = [...(x!.shape as number[])];
    const stepped: [number, number[]][] = [];
    axes.forEach((ax, k) => {
      const a = ax < 0 ? ax + x!.rank : ax;
      const dim = x!.shape[a] as number;
      const step = steps[k];
      if (step === 1) {
        const clamp = (v: number) => Math.max(0, Math.min(dim, v < 0 ? v + dim : v));
        begin[a] = clamp(starts[k]);
        end[a] = clamp(ends[k]);
        return;
      }
      // Any other step (negative too) picks its indices by ONNX's clamping rules, and Gather takes them:
      // tfjs's stridedSlice has no gradient.
      const lo = step > 0 ? 0 : -1;
      const hi = step > 0 ? dim : dim - 1;
      const clamp = (v: number) => Math.max(lo, Math.min(hi, v < 0 ? v + dim : v));
      const picked: number[] = [];
      for (let i = clamp(starts[k]); step > 0 ? i < clamp(ends[k]) : i > clamp(ends[k]); i += step) picked.push(i);
      stepped.push([a, picked]);
    });
    let y = tf.slice(x!, begin, end.map((e, i) => Math.max(0, e - begin[i])));
    for (const [a, picked] of stepped) y = tf.gather(y, tf.tensor1d(picked, 'int32'), a);
    return [y];
  },
  LayerNormalization: (n, [x, scale, bias]) => {
    const axis = int(n, 'axis', -1);
    const first = axis < 0 ? axis + x!.rank : axis;
    const axes = Array.from({ length: x!.rank - first }, (_, i) => first + i);
    const { mean, variance } = tf.moments(x!, axes, true);
    const y = tf.mul(tf.div(tf.sub(x!, mean), tf.sqrt(tf.add(variance, float(n, 'epsilon', 1e-5)))), scale!);
    return [bias ? tf.add(y, bias) : y];
  },
  Expand: (_n, [x, shapeT]) => {
    // ONNX broadcasts both ways: a 1 in the target keeps the input's dimension.
    const target = Array.from(shapeT!.dataSync());
    const rank = Math.max(target.length, x!.rank);
    const xs = [...Array(rank - x!.rank).fill(1), ...x!.shape];
    const ts = [...Array(rank - target.length).fill(1), ...target];
    const shape = xs.map((d, i) => (ts[i] === 1 ? d : ts[i]));
    return [tf.broadcastTo(x!.rank < rank ? tf.reshape(x!, xs) : x!, shape)];
  },
  ConstantOfShape: (n, [shapeT], ctx) => {
    // The value attribute: a one-element tensor (float 0 when absent).
    const value = attr(n, 'value')?.t;
    const v = value ? tensorOf(ctx.model, value) : tf.scalar(0);
    return [tf.fill(Array.from(shapeT!.dataSync()), v.dataSync()[0], v.dtype)];
  },
  Equal: (_n, [a, b]) => [tf.equal(a!, b!)],
  Where: (_n, [cond, a, b]) => [tf.where(tf.cast(cond!, 'bool'), a!, b!)],
  ReduceMean: (n, [x]) => [tf.mean(x!, attr(n, 'axes')?.ints, int(n, 'keepdims', 1) === 1)],
};

/**
 * numpy's matmul: batch dimensions broadcast. tfjs's BatchMatMul broadcasts
 * forwards but its gradient then has the broadcast shape, so the batch
 * dimensions are made explicit here: a weight [k, n] (a Linear on a
 * sequence) multiplies the flattened rows, other shapes broadcast first.
 */
function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error('MatMul of a vector is not supported');
  const k = a.shape[a.rank - 1] as number;
  if (b.rank === 2) return tf.reshape(tf.matMul(tf.reshape(a, [-1, k]), b as tf.Tensor2D), [...a.shape.slice(0, -1), b.shape[1] as number]);
  const rank = Math.max(a.rank, b.rank);
  const batchOf = (t: tf.Tensor) => [...Array(rank - t.rank).fill(1), ...t.shape.slice(0, -2)];
  const batch = batchOf(a).map((d, i) => Math.max(d, batchOf(b)[i]));
  const full = (t: tf.Tensor) => tf.broadcastTo(tf.reshape(t, [...batchOf(t), ...t.shape.slice(-2)]), [...batch, ...t.shape.slice(-2)]);
  return tf.matMul(full(a), full(b));
}

function pool(n: OnnxNode, x: tf.Tensor, kind: 'max' | 'avg'): tf.Tensor[] {
  const k = ints(n, 'kernel_shape', [1, 1]) as [number, number];
  const s = ints(n, 'strides', [1, 1]) as [number, number];
  const p = pads(n, 2);
  let input = toNhwc(x) as tf.Tensor4D;
  let pad: 'same' | 'valid' = 'valid';
  if (p === 'same') pad = 'same';
  // Max pooling pads with -inf, average pooling (count_include_pad=0) would need a count: only zero pads are exact.
  else if (p !== 'valid') {
    if (kind === 'avg' && int(n, 'count_include_pad', 0) === 0) throw new Error(`${n.name}: AveragePool with padding that excludes the pad from the count`);
    input = padNhwc(input, p, kind === 'max' ? -3.4e38 : 0);
  }
  if (int(n, 'ceil_mode', 0) === 1) throw new Error(`${n.name}: ceil_mode pooling`);
  const y = kind === 'max' ? tf.maxPool(input, k, s, pad) : tf.avgPool(input, k, s, pad);
  return [toNchw(y)];
}

/** TensorProto.DataType to the tfjs dtype that holds it: 64-bit integers as int32 (shapes and indices fit). */
const CAST_TO: Record<number, tf.DataType> = { 1: 'float32', 10: 'float32', 11: 'float32', 6: 'int32', 7: 'int32', 2: 'int32', 3: 'int32', 4: 'int32', 5: 'int32', 9: 'bool' };

/** The ops of a graph (of the nodes at `nodeIndices`, by default all) that this interpreter lacks, with the nodes that use them. */
export function unsupportedOps(graph: OnnxGraph, nodeIndices?: number[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const i of nodeIndices ?? graph.nodes.map((_, k) => k)) {
    const n = graph.nodes[i];
    if (OPS[n.opType] || n.opType === 'Constant') continue;
    const list = out.get(n.opType) ?? [];
    list.push(n.name || n.opType);
    out.set(n.opType, list);
  }
  return out;
}

/** An initializer's values as a tfjs tensor (float32, or int32 for integer data such as shapes). */
export function tensorOf(model: OnnxModel, t: OnnxTensor): tf.Tensor {
  const bytes = readTensorBytes(model, t);
  const copy = new Uint8Array(bytes).buffer;
  const dims = t.dims;
  switch (t.dataType) {
    case 1:
      return tf.tensor(new Float32Array(copy), dims, 'float32');
    case 7:
      // int64 (shapes, indices, Slice's "to the end" as INT64_MAX): clamped into int32, which tfjs holds.
      return tf.tensor(Int32Array.from(new BigInt64Array(copy), (v) => Number(v > 2147483647n ? 2147483647n : v < -2147483648n ? -2147483648n : v)), dims, 'int32');
    case 6:
      return tf.tensor(new Int32Array(copy), dims, 'int32');
    case 11:
      return tf.tensor(Float32Array.from(new Float64Array(copy)), dims, 'float32');
    default:
      throw new Error(`${t.name}: initializer of ONNX data type ${t.dataType} is not supported`);
  }
}

/**
 * Runs the nodes of the model's graph (all of them, or those at
 * `nodeIndices`, a suffix) on `feeds`, with `params` for the initializers
 * (Variables for the trainable ones). Call it inside tf.variableGrads to
 * train; tensors it makes are the caller's to dispose (tf.tidy).
 */
export function runGraph(model: OnnxModel, feeds: Values, params: Values, options: RunOptions, nodeIndices?: number[]): RunResult {
  const graph = model.graph;
  const values: Values = new Map([...params, ...feeds]);
  const running = new Map<string, tf.Tensor>();
  for (const i of nodeIndices ?? graph.nodes.map((_, k) => k)) {
    const n = graph.nodes[i];
    if (n.opType === 'Constant') {
      const value = attr(n, 'value');
      if (!value?.t) throw new Error(`${n.name}: a Constant without a tensor value`);
      values.set(n.outputs[0], tensorOf(model, value.t));
      continue;
    }
    const fn = OPS[n.opType];
    if (!fn) throw new UnsupportedOps(new Map([[n.opType, [n.name]]]));
    const inputs = n.inputs.map((name) => (name === '' ? undefined : values.get(name)));
    inputs.forEach((v, k) => {
      if (v === undefined && n.inputs[k] !== '') throw new Error(`${n.name}: input ${n.inputs[k]} is not computed`);
    });
    const training = options.bnTraining && n.opType === 'BatchNormalization' ? options.bnTraining(n) : options.training;
    const outs = fn(n, inputs, { training, running, model });
    outs.forEach((t, k) => values.set(n.outputs[k], t));
  }
  return { outputs: new Map(graph.outputs.map((o) => [o.name, values.get(o.name)!])), runningStats: running };
}
