import { joinPath, type ModuleNode } from '../models/tree';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from './reader';

/**
 * The PyTorch module tree behind an ONNX graph.
 *
 * - From initializer names, where PyTorch's names survive: an export in
 *   `TrainingMode.PRESERVE` or `TRAINING` keeps `layer4.0.conv1.weight`.
 *   Tensors deduplicated behind `Identity` nodes (`features.1.running_mean`
 *   aliasing a tensor of zeros) are mapped back to their names.
 * - From node scope names otherwise: an EVAL export fuses BatchNorm into
 *   Conv and renames the weights (`onnx::Conv_193`), but nodes keep their
 *   module scopes (`/layer3/layer3.1/conv1/Conv`), and a weight belongs to
 *   the module of the node that consumes it, named by its input position
 *   (Conv input 1 is `weight`).
 *
 * A module's class is not in the graph; it is shown as the ONNX ops the
 * module's nodes run (`Conv`, `BatchNormalization`), or `Module` for a
 * container.
 */

export interface OnnxModuleInfo {
  /** The ops run by nodes whose scope is exactly this module, in graph order, without repeats. */
  ops: string[];
  /** A BatchNormalization node with training_mode=1, or an export in training mode. */
  bnTrainingMode?: boolean;
  /** Output shapes of the module's nodes where the graph records them (value_info, outputs). */
  shapes: (number | string | null)[][];
}

export interface OnnxModuleTree {
  tree: ModuleNode;
  /** How parameter names were found: PyTorch's initializer names, node scopes, or both. */
  naming: 'initializers' | 'scopes' | 'mixed';
  modules: Map<string, OnnxModuleInfo>;
  /** The graph has BatchNormalization nodes; none with an EVAL export that folded them. */
  batchNormNodes: number;
  dropoutNodes: number;
}

/** TensorProto.DataType values of floating-point tensors: parameters are among these. */
const FLOAT_TYPES = new Set([1, 10, 11, 16]);
/** Names of a module's parameters by the position of the node input that consumes them. */
const INPUT_NAMES: Record<string, (string | undefined)[]> = {
  Conv: [undefined, 'weight', 'bias'],
  ConvTranspose: [undefined, 'weight', 'bias'],
  Gemm: [undefined, 'weight', 'bias'],
  MatMul: [undefined, 'weight'],
  BatchNormalization: [undefined, 'weight', 'bias', 'running_mean', 'running_var'],
  InstanceNormalization: [undefined, 'weight', 'bias'],
  LayerNormalization: [undefined, 'weight', 'bias'],
  Gather: ['weight'],
  PRelu: [undefined, 'weight'],
};
const BUFFER_NAMES = /^(running_mean|running_var|num_batches_tracked)$/;
/** The op that names a module best, when it runs several (an attention block runs dozens). */
const PRIMARY_OPS = ['Conv', 'ConvTranspose', 'Gemm', 'BatchNormalization', 'LayerNormalization', 'InstanceNormalization', 'LSTM', 'GRU', 'RNN', 'Attention', 'MatMul', 'Gather', 'Dropout'];
/** A PyTorch parameter or buffer name: dotted, not one of the exporter's `onnx::Op_12` names. */
const TORCH_NAME = /^[A-Za-z_]\w*(\.\w+)+$/;

export function onnxModuleTree(model: OnnxModel): OnnxModuleTree {
  const g = model.graph;
  const byName = new Map<string, OnnxTensor>(g.initializers.map((t) => [t.name, t]));
  // Identity aliases of deduplicated tensors: the alias's name is what PyTorch called it.
  const aliasOf = new Map<string, string>();
  for (const n of g.nodes) {
    if (n.opType === 'Identity' && n.inputs.length === 1 && n.outputs.length === 1 && (byName.has(n.inputs[0]) || aliasOf.has(n.inputs[0]))) {
      aliasOf.set(n.outputs[0], aliasOf.get(n.inputs[0]) ?? n.inputs[0]);
    }
  }
  const tensorOf = (name: string) => byName.get(aliasOf.get(name) ?? name);
  const trainingExport = g.nodes.some((n) => n.opType === 'BatchNormalization' && n.attributes.some((a) => a.name === 'training_mode' && a.i === 1));

  interface Own {
    names: string[];
    sizes: number[];
    params: number;
    buffers: number;
    synthetic: boolean;
  }
  const own = new Map<string, Own>();
  const order: string[] = [];
  const touch = (path: string) => {
    if (!own.has(path)) {
      own.set(path, { names: [], sizes: [], params: 0, buffers: 0, synthetic: false });
      order.push(path);
    }
    return own.get(path)!;
  };
  const modules = new Map<string, OnnxModuleInfo>();
  const info = (path: string) => {
    let m = modules.get(path);
    if (!m) modules.set(path, (m = { ops: [], shapes: [] }));
    return m;
  };
  const numel = (t: OnnxTensor) => t.dims.reduce((p, d) => p * d, 1);
  // Names already counted. A PyTorch name behind an Identity counts on its own: the exporter merged
  // tensors that were equal (a LayerNorm's ones), but in the model they are separate parameters.
  const placed = new Set<string>();
  const addTensor = (path: string, leaf: string, tensorName: string, synthetic: boolean) => {
    const t = tensorOf(tensorName);
    if (!t || placed.has(tensorName)) return;
    placed.add(tensorName);
    placed.add(t.name);
    const o = touch(path);
    const size = numel(t);
    const isBuffer = BUFFER_NAMES.test(leaf) || !FLOAT_TYPES.has(t.dataType);
    if (isBuffer) {
      o.buffers += size;
      return;
    }
    o.names.push(leaf);
    o.sizes.push(size);
    o.params += size;
    if (synthetic) o.synthetic = true;
  };

  let named = 0;
  let scoped = 0;
  // 1. PyTorch names on initializers and on Identity aliases, in graph order.
  const torchNames = [...g.initializers.map((t) => t.name), ...aliasOf.keys()].filter((n) => TORCH_NAME.test(n));
  for (const name of torchNames) {
    const dot = name.lastIndexOf('.');
    addTensor(name.slice(0, dot), name.slice(dot + 1), name, false);
    named++;
  }
  // 2. Node scopes: the module of each node, its ops and shapes, and the unnamed weights it consumes.
  const shapes = new Map<string, (number | string | null)[]>();
  for (const v of [...g.valueInfo, ...g.outputs]) if (v.dims) shapes.set(v.name, v.dims);
  for (const n of g.nodes) {
    if (n.opType === 'Identity' && aliasOf.has(n.outputs[0])) continue;
    const path = scopePath(n);
    if (path === undefined) continue;
    const m = info(path);
    if (!m.ops.includes(n.opType)) m.ops.push(n.opType);
    if (n.opType === 'BatchNormalization') m.bnTrainingMode = trainingExport || n.attributes.some((a) => a.name === 'training_mode' && a.i === 1);
    for (const out of n.outputs) {
      const s = shapes.get(out);
      if (s) m.shapes.push(s);
    }
    n.inputs.forEach((input, i) => {
      const t = tensorOf(input);
      if (!t || TORCH_NAME.test(input) || TORCH_NAME.test(t.name) || !FLOAT_TYPES.has(t.dataType)) return;
      const leaf = INPUT_NAMES[n.opType]?.[i];
      addTensor(path, leaf ?? `${n.opType}_${i}`, input, leaf === undefined);
      scoped++;
    });
  }
  // 3. Float initializers nothing claimed: the graph's own.
  const consumed = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const t of g.initializers) {
    if (placed.has(t.name) || !FLOAT_TYPES.has(t.dataType) || TORCH_NAME.test(t.name)) continue;
    if (consumed.has(t.name)) continue; // a constant of some op, not a weight
    addTensor('', t.name, t.name, true);
  }

  const tree = { ...build(order, own, modules), cls: g.name || 'Graph' };
  return {
    tree,
    naming: named > 0 && scoped > 0 ? 'mixed' : named > 0 ? 'initializers' : 'scopes',
    modules,
    batchNormNodes: g.nodes.filter((n) => n.opType === 'BatchNormalization').length,
    dropoutNodes: g.nodes.filter((n) => n.opType === 'Dropout').length,
  };
}

/**
 * A node's module from its scoped name (`/layer3/layer3.1/conv1/Conv`):
 * segments are either qualified names (`layer3.1`) or attribute names
 * (`conv1`). Undefined for a name without scopes (`Conv_12`); '' for an op
 * at the top level (`/Flatten`).
 */
export function scopePath(n: OnnxNode): string | undefined {
  if (!n.name.startsWith('/')) return undefined;
  const segs = n.name.split('/').slice(1, -1);
  let path = '';
  for (const s of segs) {
    if (!s) continue;
    path = path !== '' && s.startsWith(`${path}.`) ? s : joinPath(path, s);
  }
  return path;
}

function build(order: string[], own: Map<string, { names: string[]; sizes: number[]; params: number; buffers: number; synthetic: boolean }>, modules: Map<string, OnnxModuleInfo>): ModuleNode {
  // Every module path and its ancestors, children in order of first appearance.
  const all: string[] = [];
  const seen = new Set<string>();
  const add = (p: string) => {
    if (seen.has(p)) return;
    const dot = p.lastIndexOf('.');
    if (p !== '') add(dot < 0 ? '' : p.slice(0, dot));
    seen.add(p);
    all.push(p);
  };
  add('');
  // Modules in the order their nodes run (close to registration order), then modules that only hold tensors.
  for (const p of [...modules.keys(), ...order]) add(p);
  const childrenOf = new Map<string, string[]>();
  for (const c of all) {
    if (c === '') continue;
    const parent = parentOf(c);
    const list = childrenOf.get(parent);
    if (list) list.push(c);
    else childrenOf.set(parent, [c]);
  }
  const make = (p: string): ModuleNode => {
    const o = own.get(p);
    const m = modules.get(p);
    const kids = childrenOf.get(p) ?? [];
    return {
      name: p.slice(p.lastIndexOf('.') + 1),
      cls: m ? (PRIMARY_OPS.find((op) => m.ops.includes(op)) ?? m.ops[0] ?? 'Module') : 'Module',
      params: o?.params ?? 0,
      buffers: o?.buffers ?? 0,
      ...(o && !o.synthetic ? { paramNames: o.names, paramSizes: o.sizes } : o ? {} : { paramNames: [], paramSizes: [] }),
      ...(m?.ops.includes('BatchNormalization') ? { runningStats: true } : {}),
      ...(m?.ops.includes('Dropout') ? { dropout: true } : {}),
      children: kids.map(make),
    };
  };
  return { ...make(''), name: '' };
}

function parentOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/** The graph of a model and all its subgraphs, for op histograms. */
export function* allGraphs(g: OnnxGraph): Generator<OnnxGraph> {
  yield g;
  for (const n of g.nodes) for (const a of n.attributes) for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) yield* allGraphs(sub);
}
