import * as fs from 'node:fs';
import protobuf from 'protobufjs';
import { scopePath } from '../onnx/moduleTree';
import type { OnnxModel, OnnxNode } from '../onnx/reader';
import { ONNX_SCHEMA } from '../onnx/schema';

/**
 * The frozen prefix of an ONNX graph: the nodes that compute from the
 * model's input alone without touching a trainable parameter. They need
 * no gradients, so the experiment engine runs them in onnxruntime (and,
 * when they are deterministic, once per sample, caching their outputs),
 * and trains only the rest.
 */
export interface PrefixCut {
  /** Indices of the prefix's nodes in the graph, in graph order. */
  nodes: number[];
  /** Tensors the prefix hands to the rest of the graph (or that are graph outputs): what is cached. */
  outputs: string[];
  /** Graph inputs the prefix reads. */
  inputs: string[];
  /** Whether its outputs depend on the input alone: no training-mode BatchNorm or Dropout, no random ops. */
  deterministic: boolean;
  /** Why not, where not: the nodes that make it random or stateful. */
  reasons: string[];
}

/** Ops whose output is random or that update state in training mode. */
const RANDOM_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

/**
 * `trainable(name)`: whether an initializer (a parameter by its PyTorch
 * name, or the exporter's name for an unnamed weight) trains in the plan.
 */
export function cutPrefix(model: OnnxModel, trainable: (initializer: string, node: OnnxNode) => boolean): PrefixCut {
  const g = model.graph;
  const initializers = new Set(g.initializers.map((t) => t.name));
  const available = new Set<string>([...initializers, ...g.inputs.map((v) => v.name)]);
  const produced = new Map<string, number>();
  const inPrefix: boolean[] = [];
  const reasons = new Map<number, string>();
  g.nodes.forEach((n, i) => {
    const ok = n.inputs.every((t) => t === '' || available.has(t)) && !n.inputs.some((t) => initializers.has(t) && trainable(t, n));
    inPrefix[i] = ok;
    if (!ok) return;
    for (const o of n.outputs) {
      available.add(o);
      produced.set(o, i);
    }
    const where = n.name || `${n.opType} node ${i}`;
    if (RANDOM_OPS.has(n.opType)) reasons.set(i, `${where}: ${n.opType} is random`);
    // A Dropout given a training_mode input (opset 12+) is what a TRAINING export writes.
    if (n.opType === 'Dropout' && n.inputs[2] !== undefined && n.inputs[2] !== '') reasons.set(i, `${where}: Dropout in training mode`);
    if (n.opType === 'BatchNormalization' && n.attributes.some((a) => a.name === 'training_mode' && a.i === 1)) reasons.set(i, `${where}: BatchNorm in training mode (batch statistics, running-stat updates)`);
  });
  // Constant-only nodes (Identity of a buffer, Constant, Shape of a fixed tensor) are prefix nodes
  // only where the prefix itself uses them; the rest keep them.
  const needed = new Set<number>();
  const outputs = new Set<string>();
  const graphOutputs = new Set(g.outputs.map((v) => v.name));
  g.nodes.forEach((n, i) => {
    for (const t of n.inputs) {
      const p = produced.get(t);
      if (p === undefined) continue;
      if (inPrefix[i]) continue;
      outputs.add(t);
    }
    if (inPrefix[i]) for (const o of n.outputs) if (graphOutputs.has(o)) outputs.add(o);
  });
  // Keep only the prefix nodes that feed its outputs.
  const stack = [...outputs].map((t) => produced.get(t)!).filter((i) => i !== undefined);
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (needed.has(i)) continue;
    needed.add(i);
    for (const t of g.nodes[i].inputs) {
      const p = produced.get(t);
      if (p !== undefined) stack.push(p);
    }
  }
  // A prefix whose outputs are only constants (nothing reads the input) caches nothing.
  const nodes = [...needed].sort((a, b) => a - b);
  const reads = new Set(nodes.flatMap((i) => g.nodes[i].inputs));
  const inputs = g.inputs.map((v) => v.name).filter((n) => !initializers.has(n) && reads.has(n));
  const why = nodes.filter((i) => reasons.has(i)).map((i) => reasons.get(i)!);
  return {
    nodes,
    outputs: inputs.length === 0 ? [] : [...outputs].filter((t) => dependsOnInput(t)),
    inputs,
    deterministic: why.length === 0,
    reasons: why,
  };

  function dependsOnInput(tensor: string): boolean {
    const seen = new Set<string>();
    const go = (t: string): boolean => {
      if (g.inputs.some((v) => v.name === t) && !initializers.has(t)) return true;
      if (seen.has(t)) return false;
      seen.add(t);
      const p = produced.get(t);
      return p !== undefined && g.nodes[p].inputs.some(go);
    };
    return go(tensor);
  }
}

/** The module a node belongs to, for deciding which initializers train: PyTorch's names first, then the node's scope. */
export function parameterModule(initializer: string, node: OnnxNode): string {
  if (/^[A-Za-z_]\w*(\.\w+)+$/.test(initializer)) return initializer.slice(0, initializer.lastIndexOf('.'));
  return scopePath(node) ?? '';
}

const root = protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace);
const MODEL = root.lookupType('onnx.ModelProto');

/**
 * The prefix as an ONNX model of its own, for onnxruntime: the same opsets
 * and producer, its nodes, the initializers they read, and its outputs.
 * The whole file is decoded here: onnxruntime needs the weights anyway.
 */
export function prefixModelBytes(file: string, cut: PrefixCut): Uint8Array {
  const m = MODEL.decode(fs.readFileSync(file)) as unknown as { graph: { node: { input: string[] }[]; initializer: { name: string }[]; input: { name: string }[]; output: unknown[]; valueInfo?: unknown[] } };
  const g = m.graph;
  const nodes = cut.nodes.map((i) => g.node[i]);
  const read = new Set(nodes.flatMap((n) => n.input));
  g.node = nodes;
  g.initializer = g.initializer.filter((t) => read.has(t.name));
  g.input = g.input.filter((v) => cut.inputs.includes(v.name));
  // Outputs by name only: onnxruntime infers their types and shapes.
  g.output = cut.outputs.map((name) => ({ name }));
  return MODEL.encode(m as unknown as protobuf.Message).finish();
}
