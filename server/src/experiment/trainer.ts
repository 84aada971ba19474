import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's CommonJS build knows the ops but registers no gradients (only its ES-module build
// does, which Node cannot load from the package); the union package's build registers them all.
import '@tensorflow/tfjs';
import type { OnnxModel, OnnxNode } from '../onnx/reader';
import { runGraph, tensorOf } from './interpret';

/**
 * Training steps on an ONNX graph in tfjs: the parameters the plan trains
 * are variables, the rest constants; BatchNorm runs in training mode where
 * its module trains (or the BN policy says so) and keeps its running
 * statistics in storage of their own.
 *
 * The optimizers are written here, following torch.optim's update rules
 * exactly (SGD with momentum and coupled weight decay; AdamW with decoupled
 * weight decay and bias correction), because tfjs has no AdamW and its SGD
 * momentum has no weight decay or per-group learning rates.
 */

export interface OptimizerConfig {
  type: 'sgd' | 'adamw';
  momentum?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
}

export interface TrainerOptions {
  /** Whether an initializer trains (by its name and the node that reads it). */
  trainable: (initializer: string, node: OnnxNode) => boolean;
  /** A BatchNorm node runs in training mode (batch statistics, running-stat updates): by default where its weight trains. */
  bnTraining?: (node: OnnxNode) => boolean;
  /** The learning rate of each trainable initializer (param groups), by its name and the node that reads it. */
  lr: (initializer: string, node: OnnxNode) => number;
  optimizer: OptimizerConfig;
  /** The graph output that holds the logits; the first output by default. */
  logits?: string;
}

export class Trainer {
  readonly variables = new Map<string, tf.Variable>();
  /** Constants, and the running statistics that BatchNorm updates. */
  readonly constants = new Map<string, tf.Tensor>();
  /** Optimizer state per parameter, as torch.optim keeps it: its step count, SGD's momentum buffer or AdamW's two moments. */
  private readonly slots = new Map<string, { step: number; buffers: Float32Array[] }>();
  /** Each variable's learning rate, fixed when it is made. */
  private readonly lrs = new Map<string, number>();
  /** The node that reads each parameter or buffer (not an Identity alias of it). */
  private readonly readers = new Map<string, OnnxNode>();

  /** The nodes a step runs: all but the Identity aliases that the copies below replace. */
  readonly nodes: number[];
  /** Those aliases' node indices. */
  private readonly aliases: Set<number>;

  constructor(
    readonly model: OnnxModel,
    private readonly options: TrainerOptions,
  ) {
    const g = model.graph;
    // The parameters and buffers: the initializers, and the Identity aliases of initializers. PyTorch's
    // exporter deduplicates equal tensors (a fresh BatchNorm's ones and zeros, across every layer) into
    // one initializer and Identity nodes named as the parameters; each alias gets storage of its own, so
    // that what were separate parameters and buffers in PyTorch train and update separately.
    const values = new Map<string, tf.Tensor>(g.initializers.map((t) => [t.name, tensorOf(model, t)]));
    const aliases = new Set<number>();
    g.nodes.forEach((n, i) => {
      if (n.opType !== 'Identity' || !values.has(n.inputs[0]) || values.has(n.outputs[0])) return;
      values.set(n.outputs[0], tf.clone(values.get(n.inputs[0])!));
      aliases.add(i);
    });
    // The node that reads each of them (not an alias).
    g.nodes.forEach((n, i) => {
      if (!aliases.has(i)) for (const input of n.inputs) if (!this.readers.has(input)) this.readers.set(input, n);
    });
    for (const [name, value] of values) {
      const reader = this.readers.get(name);
      if (reader && value.dtype === 'float32' && options.trainable(name, reader) && !isRunningStat(reader, name)) {
        this.variables.set(name, tf.variable(value, true));
        this.lrs.set(name, options.lr(name, reader));
        value.dispose();
      } else this.constants.set(name, value);
    }
    // The aliases are not run: their outputs are in `variables` or `constants` already.
    this.nodes = g.nodes.map((_, i) => i).filter((i) => !aliases.has(i));
    this.aliases = aliases;
  }

  /** Of `nodeIndices` (a suffix, or all), the nodes a step or an evaluation runs: all but the aliases. */
  runnable(nodeIndices: number[]): number[] {
    return nodeIndices.filter((i) => !this.aliases.has(i));
  }

  /**
   * Starts training the constants that `options.trainable` now accepts (the
   * plan has unfrozen them): torch's `optimizer.add_param_group`. Parameters
   * already training keep their optimizer state. Returns how many parameters
   * were added.
   */
  unfreeze(): number {
    let added = 0;
    for (const [name, value] of [...this.constants]) {
      const reader = this.readers.get(name);
      if (!reader || value.dtype !== 'float32' || isRunningStat(reader, name) || !this.options.trainable(name, reader)) continue;
      this.constants.delete(name);
      this.variables.set(name, tf.variable(value, true));
      this.lrs.set(name, this.options.lr(name, reader));
      value.dispose();
      added++;
    }
    return added;
  }

  /** One optimizer step on a batch of model inputs: returns the loss (mean cross-entropy) before the step. */
  step(x: tf.Tensor, y: tf.Tensor1D): number {
    const g = this.model.graph;
    const inputName = g.inputs.find((v) => !this.constants.has(v.name) && !this.variables.has(v.name))!.name;
    return this.stepWith(new Map([[inputName, x]]), y, this.nodes);
  }

  /** One step from other tensors (a frozen prefix's cached outputs), running only `nodeIndices` (the suffix). */
  stepWith(feeds: Map<string, tf.Tensor>, y: tf.Tensor1D, nodeIndices: number[]): number {
    const g = this.model.graph;
    const nodes = this.runnable(nodeIndices);
    const bnTraining = this.options.bnTraining ?? ((n: OnnxNode) => this.variables.has(n.inputs[1]));
    let running = new Map<string, tf.Tensor>();
    const { value, grads } = tf.variableGrads(() => {
      const params = new Map<string, tf.Tensor>([...this.constants, ...this.variables]);
      const result = runGraph(this.model, feeds, params, { training: true, bnTraining }, nodes);
      running = new Map([...result.runningStats].map(([k, v]) => [k, tf.keep(v)]));
      const logits = result.outputs.get(this.options.logits ?? g.outputs[0].name)!;
      return crossEntropy(logits, y);
    });
    const loss = value.dataSync()[0];
    tf.tidy(() => {
      for (const [name, v] of this.variables) {
        // tfjs names variables uniquely per process; the map keeps ONNX's names.
        const grad = grads[v.name];
        if (grad) this.update(name, v, grad);
      }
    });
    for (const [name, t] of running) {
      this.constants.get(name)?.dispose();
      this.constants.set(name, t);
    }
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  }

  /**
   * torch.optim's update of one parameter, in JS loops over its values: one
   * pass per parameter instead of a dozen tfjs ops, each with its own
   * dispatch and temporary (on wasm the ops cost more than the arithmetic).
   * The moments stay in JS arrays between steps.
   */
  private update(name: string, p: tf.Variable, grad: tf.Tensor): void {
    const o = this.options.optimizer;
    const lr = this.lrs.get(name)!;
    const wd = o.weightDecay ?? 0;
    const w = p.dataSync() as Float32Array;
    const g = grad.dataSync() as Float32Array;
    const next = new Float32Array(w.length);
    if (o.type === 'sgd') {
      // torch.optim.SGD: g += wd * p; buf = momentum * buf + g (the first buf is g); p -= lr * buf.
      const momentum = o.momentum ?? 0;
      const prev = this.slots.get(name)?.buffers[0];
      const buf = momentum ? (prev ?? new Float32Array(w.length)) : undefined;
      for (let i = 0; i < w.length; i++) {
        let d = g[i] + wd * w[i];
        if (buf) d = buf[i] = prev ? momentum * buf[i] + d : d;
        next[i] = w[i] - lr * d;
      }
      if (buf) this.slots.set(name, { step: 0, buffers: [buf] });
    } else {
      // torch.optim.AdamW: p *= 1 - lr * wd; first and second moments; bias-corrected step.
      const [b1, b2] = o.betas ?? [0.9, 0.999];
      const eps = o.eps ?? 1e-8;
      const slot = this.slots.get(name) ?? { step: 0, buffers: [new Float32Array(w.length), new Float32Array(w.length)] };
      this.slots.set(name, slot);
      // Each parameter counts its own steps: one that starts training later (gradual unfreezing) starts its bias correction afresh.
      const step = ++slot.step;
      const [m, v] = slot.buffers;
      const c1 = 1 - b1 ** step;
      const sqrtC2 = Math.sqrt(1 - b2 ** step);
      for (let i = 0; i < w.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        next[i] = w[i] * (1 - lr * wd) - (lr / c1) * (m[i] / (Math.sqrt(v[i]) / sqrtC2 + eps));
      }
    }
    p.assign(tf.tensor(next, p.shape));
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    for (const c of this.constants.values()) c.dispose();
  }
}

/** Inputs 3 and 4 of a BatchNormalization are its running mean and variance. */
function isRunningStat(node: OnnxNode, name: string): boolean {
  return node.opType === 'BatchNormalization' && (node.inputs[3] === name || node.inputs[4] === name);
}

/** Mean cross-entropy of logits [batch, classes] against integer labels, as F.cross_entropy. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  const logp = tf.logSoftmax(logits as tf.Tensor2D);
  const onehot = tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1] as number);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), 1))) as tf.Scalar;
}
