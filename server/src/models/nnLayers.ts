import type { ModuleNode } from './tree';

/**
 * The module trees of `torch.nn` layers, from their constructor arguments,
 * exactly as torch 1.13 registers them: own parameters in registration
 * order, buffers, and submodules (MultiheadAttention's `out_proj`, a
 * Transformer layer's parts). A count that depends on an argument whose
 * value is not known is null; the names stay known, since they do not
 * depend on sizes.
 */

/** A constructor argument: a literal, a list/tuple, a module tree, or undefined when not known. */
export type LayerArg = number | string | boolean | null | undefined | LayerArg[] | { tree: ModuleNode } | { entries: [string, LayerArg][] };

export interface LayerArgs {
  positional: LayerArg[];
  keyword: ReadonlyMap<string, LayerArg>;
  /** `*args`/`**kwargs` at the call: positions cannot be trusted. */
  star?: boolean;
}

/** Modules without parameters or buffers. */
const PARAMETERLESS =
  /^(Identity|Flatten|Unflatten|ReLU6?|LeakyReLU|GELU|SiLU|Mish|ELU|SELU|CELU|GLU|Tanh|Tanhshrink|Sigmoid|LogSigmoid|Hardswish|Hardsigmoid|Hardtanh|Hardshrink|Softshrink|Threshold|RReLU|Softmax|Softmax2d|Softmin|LogSoftmax|Softplus|Softsign|(Adaptive)?(Max|Avg)Pool[123]d|LPPool[12]d|FractionalMaxPool[23]d|MaxUnpool[123]d|Upsample|UpsamplingNearest2d|UpsamplingBilinear2d|(Zero|Constant|Reflection|Replication|Circular)Pad[123]d|PixelShuffle|PixelUnshuffle|ChannelShuffle|CosineSimilarity|PairwiseDistance|Fold|Unfold|LocalResponseNorm|CrossMapLRN2d)$/;
const DROPOUT = /^(Dropout[123]?d?|AlphaDropout|FeatureAlphaDropout)$/;

/** Argument positions of each layer's constructor (after `self`), for positional calls. */
const SIGNATURES: Record<string, string[]> = {
  Linear: ['in_features', 'out_features', 'bias'],
  Bilinear: ['in1_features', 'in2_features', 'out_features', 'bias'],
  Conv: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode'],
  ConvTranspose: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'output_padding', 'groups', 'bias', 'dilation', 'padding_mode'],
  BatchNorm: ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats'],
  InstanceNorm: ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats'],
  LayerNorm: ['normalized_shape', 'eps', 'elementwise_affine', 'bias'],
  GroupNorm: ['num_groups', 'num_channels', 'eps', 'affine'],
  Embedding: ['num_embeddings', 'embedding_dim', 'padding_idx', 'max_norm', 'norm_type', 'scale_grad_by_freq', 'sparse', '_weight'],
  RNN: ['input_size', 'hidden_size', 'num_layers', 'nonlinearity', 'bias', 'batch_first', 'dropout', 'bidirectional'],
  LSTM: ['input_size', 'hidden_size', 'num_layers', 'bias', 'batch_first', 'dropout', 'bidirectional', 'proj_size'],
  GRU: ['input_size', 'hidden_size', 'num_layers', 'bias', 'batch_first', 'dropout', 'bidirectional'],
  Cell: ['input_size', 'hidden_size', 'bias'],
  MultiheadAttention: ['embed_dim', 'num_heads', 'dropout', 'bias', 'add_bias_kv', 'add_zero_attn', 'kdim', 'vdim', 'batch_first'],
  TransformerEncoderLayer: ['d_model', 'nhead', 'dim_feedforward', 'dropout', 'activation', 'layer_norm_eps', 'batch_first', 'norm_first'],
  TransformerDecoderLayer: ['d_model', 'nhead', 'dim_feedforward', 'dropout', 'activation', 'layer_norm_eps', 'batch_first', 'norm_first'],
  TransformerEncoder: ['encoder_layer', 'num_layers', 'norm'],
  TransformerDecoder: ['decoder_layer', 'num_layers', 'norm'],
  Transformer: ['d_model', 'nhead', 'num_encoder_layers', 'num_decoder_layers', 'dim_feedforward', 'dropout', 'activation', 'custom_encoder', 'custom_decoder', 'layer_norm_eps', 'batch_first', 'norm_first'],
  PReLU: ['num_parameters', 'init'],
  Dropout: ['p', 'inplace'],
  FrozenBatchNorm2d: ['num_features', 'eps'],
};

class Args {
  constructor(
    private readonly a: LayerArgs,
    private readonly sig: string[],
  ) {}
  /** The argument, `fallback` when absent, undefined when present but not known. */
  get(name: string, fallback: LayerArg): LayerArg {
    if (this.a.keyword.has(name)) return this.a.keyword.get(name);
    const i = this.sig.indexOf(name);
    if (i >= 0 && i < this.a.positional.length) return this.a.positional[i];
    // With *args/**kwargs the argument may be in there.
    return this.a.star ? undefined : fallback;
  }
  num(name: string, fallback?: number): number | undefined {
    const v = this.get(name, fallback);
    return typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : undefined;
  }
  /** A truth value; undefined when not known. Python truthiness for literals. */
  flag(name: string, fallback: boolean): boolean | undefined {
    const v = this.get(name, fallback);
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    if (v === null) return false;
    return undefined;
  }
  /** An int or a tuple of ints (kernel sizes, normalized shapes) as a product; undefined when not known. */
  prod(name: string, dims: number, fallback?: LayerArg): number | undefined {
    const v = this.get(name, fallback);
    if (typeof v === 'number') return v ** dims;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return (v as number[]).reduce((p, x) => p * x, 1);
    return undefined;
  }
  has(name: string): boolean {
    return this.a.keyword.has(name) || this.sig.indexOf(name) < this.a.positional.length;
  }
}

function mul(...xs: (number | undefined)[]): number | null {
  let p = 1;
  for (const x of xs) {
    if (x === undefined || !Number.isFinite(x)) return null;
    p *= x;
  }
  return p;
}

function sum(...xs: (number | null)[]): number | null {
  let s = 0;
  for (const x of xs) {
    if (x === null) return null;
    s += x;
  }
  return s;
}

function node(cls: string, own: [string, number | null][], buffers: number | null, extra: Partial<ModuleNode> = {}): ModuleNode {
  return {
    name: '',
    cls,
    params: sum(...own.map(([, n]) => n)),
    buffers,
    paramNames: own.map(([n]) => n),
    paramSizes: own.map(([, n]) => n),
    children: [],
    ...extra,
  };
}

function named(name: string, n: ModuleNode): ModuleNode {
  return { ...n, name };
}

/**
 * The tree of `torch.nn.<cls>(...)`; undefined for a class this table does
 * not know (the caller then treats the module as unknown). Containers
 * (Sequential, ModuleList, ModuleDict) are the caller's: their children are
 * module objects, not values.
 */
export function nnLayer(cls: string, args: LayerArgs): ModuleNode | undefined {
  // The same layer call at every keystroke gets the same tree object, so whatever is derived from the model is cached.
  const key = argumentsKey(cls, args, 'none');
  if (key !== undefined && memo.has(key)) return memo.get(key);
  const tree = withAttributes(cls, args);
  if (key !== undefined) {
    if (memo.size >= 2048) memo.delete(memo.keys().next().value!);
    memo.set(key, tree);
  }
  return tree;
}

const memo = new Map<string, ModuleNode | undefined>();

/** Module trees by identity, for keys: the same (immutable) tree object is the same argument. */
const treeIds = new WeakMap<ModuleNode, number>();
let nextTreeId = 1;

/**
 * A key for memoising a call on its arguments. A module tree among them
 * counts by identity (`trees: 'identity'`), or makes the call unkeyable
 * (`'none'`: for caches that outlive an analysis, where a fresh tree would
 * never hit again).
 */
export function argumentsKey(callee: string, args: LayerArgs, trees: 'identity' | 'none'): string | undefined {
  let keyable = true;
  const key = JSON.stringify([callee, args.positional, [...args.keyword], args.star ?? false], (_, v) => {
    if (v === undefined) return '\u0000undefined';
    if (v && typeof v === 'object' && !Array.isArray(v) && 'tree' in v) {
      if (trees === 'none') keyable = false;
      let id = treeIds.get(v.tree);
      if (id === undefined) treeIds.set(v.tree, (id = nextTreeId++));
      return `\u0000tree${id}`;
    }
    return v;
  });
  return keyable ? key : undefined;
}

function withAttributes(cls: string, args: LayerArgs): ModuleNode | undefined {
  const tree = layerTree(cls, args);
  if (!tree) return tree;
  const sig = SIGNATURES[ATTRIBUTE_SIGNATURE[cls] ?? cls];
  if (!sig) return tree;
  // The size arguments torch stores as attributes under the same names (Linear.in_features, Conv2d.out_channels).
  const a = new Args(args, sig);
  const attrs: Record<string, number> = {};
  for (const name of KEPT_ATTRIBUTES) {
    if (!sig.includes(name)) continue;
    const v = a.num(name);
    if (v !== undefined) attrs[name] = v;
  }
  return Object.keys(attrs).length > 0 ? { ...tree, attrs } : tree;
}

const KEPT_ATTRIBUTES = ['in_features', 'out_features', 'in_channels', 'out_channels', 'groups', 'num_features', 'num_embeddings', 'embedding_dim', 'input_size', 'hidden_size', 'num_layers', 'embed_dim', 'num_heads', 'num_channels', 'num_groups'];
const ATTRIBUTE_SIGNATURE: Record<string, string> = {
  NonDynamicallyQuantizableLinear: 'Linear',
  Conv1d: 'Conv',
  Conv2d: 'Conv',
  Conv3d: 'Conv',
  ConvTranspose1d: 'ConvTranspose',
  ConvTranspose2d: 'ConvTranspose',
  ConvTranspose3d: 'ConvTranspose',
  BatchNorm1d: 'BatchNorm',
  BatchNorm2d: 'BatchNorm',
  BatchNorm3d: 'BatchNorm',
  SyncBatchNorm: 'BatchNorm',
  InstanceNorm1d: 'InstanceNorm',
  InstanceNorm2d: 'InstanceNorm',
  InstanceNorm3d: 'InstanceNorm',
  EmbeddingBag: 'Embedding',
};

function layerTree(cls: string, args: LayerArgs): ModuleNode | undefined {
  if (PARAMETERLESS.test(cls)) return node(cls, [], 0);
  if (DROPOUT.test(cls)) {
    const p = new Args(args, SIGNATURES.Dropout).get('p', 0.5);
    return node(cls, [], 0, { dropout: typeof p === 'number' ? p !== 0 : true });
  }
  const conv = /^(Conv|ConvTranspose)([123])d$/.exec(cls);
  if (conv) {
    const transposed = conv[1] === 'ConvTranspose';
    const a = new Args(args, SIGNATURES[conv[1]]);
    const inC = a.num('in_channels');
    const outC = a.num('out_channels');
    const groups = a.num('groups', 1);
    const k = a.prod('kernel_size', Number(conv[2]));
    const bias = a.flag('bias', true);
    const perGroup = (c: number | undefined) => (c === undefined || groups === undefined || groups === 0 ? undefined : c / groups);
    const weight = transposed ? mul(inC, perGroup(outC), k) : mul(outC, perGroup(inC), k);
    return biasLayer(cls, weight, bias, outC === undefined ? null : outC);
  }
  if (cls === 'Linear' || cls === 'NonDynamicallyQuantizableLinear') {
    const a = new Args(args, SIGNATURES.Linear);
    const inF = a.num('in_features');
    const outF = a.num('out_features');
    return biasLayer(cls, mul(inF, outF), a.flag('bias', true), outF === undefined ? null : outF);
  }
  if (cls === 'Bilinear') {
    const a = new Args(args, SIGNATURES.Bilinear);
    const out = a.num('out_features');
    return biasLayer(cls, mul(out, a.num('in1_features'), a.num('in2_features')), a.flag('bias', true), out === undefined ? null : out);
  }
  if (/^(BatchNorm[123]d|SyncBatchNorm|InstanceNorm[123]d)$/.test(cls)) {
    const isBN = !cls.startsWith('Instance');
    const a = new Args(args, isBN ? SIGNATURES.BatchNorm : SIGNATURES.InstanceNorm);
    const c = a.num('num_features');
    const affine = a.flag('affine', isBN);
    const track = a.flag('track_running_stats', isBN);
    if (affine === undefined || track === undefined) return { ...node(cls, [], null), params: null, paramNames: undefined, runningStats: isBN ? undefined : false };
    const own: [string, number | null][] = affine ? [['weight', mul(c)], ['bias', mul(c)]] : [];
    return node(cls, own, track ? (c === undefined ? null : 2 * c + 1) : 0, { runningStats: isBN && track });
  }
  if (cls === 'FrozenBatchNorm2d') {
    const c = new Args(args, SIGNATURES.FrozenBatchNorm2d).num('num_features');
    return node(cls, [], mul(c, 4));
  }
  if (cls === 'LayerNorm') {
    const a = new Args(args, SIGNATURES.LayerNorm);
    const n = a.prod('normalized_shape', 1);
    const affine = a.flag('elementwise_affine', true);
    const bias = a.flag('bias', true);
    if (affine === undefined || bias === undefined) return { ...node(cls, [], 0), params: null, paramNames: undefined };
    const own: [string, number | null][] = affine ? [['weight', mul(n)], ...(bias ? [['bias', mul(n)] as [string, number | null]] : [])] : [];
    return node(cls, own, 0);
  }
  if (cls === 'GroupNorm') {
    const a = new Args(args, SIGNATURES.GroupNorm);
    const c = a.num('num_channels');
    const affine = a.flag('affine', true);
    if (affine === undefined) return { ...node(cls, [], 0), params: null, paramNames: undefined };
    return node(cls, affine ? [['weight', mul(c)], ['bias', mul(c)]] : [], 0);
  }
  if (cls === 'Embedding' || cls === 'EmbeddingBag') {
    const a = new Args(args, SIGNATURES.Embedding);
    return node(cls, [['weight', mul(a.num('num_embeddings'), a.num('embedding_dim'))]], 0);
  }
  if (cls === 'PReLU') {
    return node(cls, [['weight', mul(new Args(args, SIGNATURES.PReLU).num('num_parameters', 1))]], 0);
  }
  if (/^(RNN|LSTM|GRU)$/.test(cls)) return recurrent(cls, args);
  if (/^(RNN|LSTM|GRU)Cell$/.test(cls)) {
    const a = new Args(args, SIGNATURES.Cell);
    const gates = cls === 'LSTMCell' ? 4 : cls === 'GRUCell' ? 3 : 1;
    const inp = a.num('input_size');
    const h = a.num('hidden_size');
    const bias = a.flag('bias', true);
    if (bias === undefined) return { ...node(cls, [], 0), params: null, paramNames: undefined };
    const own: [string, number | null][] = [
      ['weight_ih', mul(gates, h, inp)],
      ['weight_hh', mul(gates, h, h)],
    ];
    if (bias) own.push(['bias_ih', mul(gates, h)], ['bias_hh', mul(gates, h)]);
    return node(cls, own, 0);
  }
  if (cls === 'MultiheadAttention') return multiheadAttention(new Args(args, SIGNATURES.MultiheadAttention));
  if (cls === 'TransformerEncoderLayer' || cls === 'TransformerDecoderLayer') return transformerLayer(cls, new Args(args, SIGNATURES[cls]));
  if (cls === 'TransformerEncoder' || cls === 'TransformerDecoder') {
    const a = new Args(args, SIGNATURES[cls]);
    const layer = a.get(cls === 'TransformerEncoder' ? 'encoder_layer' : 'decoder_layer', undefined);
    const n = a.num('num_layers');
    const norm = a.get('norm', null);
    return transformerStack(cls, isTree(layer) ? layer.tree : undefined, n, norm === null ? null : isTree(norm) ? norm.tree : undefined);
  }
  if (cls === 'Transformer') {
    const a = new Args(args, SIGNATURES.Transformer);
    if (a.get('custom_encoder', null) !== null || a.get('custom_decoder', null) !== null) return undefined;
    const layerArgs = (): LayerArgs => ({
      positional: [a.get('d_model', 512), a.get('nhead', 8), a.get('dim_feedforward', 2048), a.get('dropout', 0.1)],
      keyword: new Map(),
    });
    const d = a.get('d_model', 512);
    const norm = nnLayer('LayerNorm', { positional: [d], keyword: new Map() })!;
    const enc = transformerStack('TransformerEncoder', nnLayer('TransformerEncoderLayer', layerArgs()), a.num('num_encoder_layers', 6), norm);
    const dec = transformerStack('TransformerDecoder', nnLayer('TransformerDecoderLayer', layerArgs()), a.num('num_decoder_layers', 6), norm);
    return node(cls, [], 0, { children: [named('encoder', enc), named('decoder', dec)] });
  }
  return undefined;
}

function isTree(v: LayerArg): v is { tree: ModuleNode } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'tree' in v;
}

export function isEntries(v: LayerArg): v is { entries: [string, LayerArg][] } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'entries' in v;
}

function biasLayer(cls: string, weight: number | null, bias: boolean | undefined, outFeatures: number | null): ModuleNode {
  if (bias === undefined) return { ...node(cls, [['weight', weight]], 0), params: null, paramNames: undefined };
  return node(cls, bias ? [['weight', weight], ['bias', outFeatures]] : [['weight', weight]], 0);
}

function recurrent(cls: string, args: LayerArgs): ModuleNode {
  const a = new Args(args, SIGNATURES[cls]);
  const gates = cls === 'LSTM' ? 4 : cls === 'GRU' ? 3 : 1;
  const inp = a.num('input_size');
  const h = a.num('hidden_size');
  const layers = a.num('num_layers', 1);
  const bias = a.flag('bias', true);
  const bi = a.flag('bidirectional', false);
  const proj = cls === 'LSTM' ? a.num('proj_size', 0) : 0;
  const dropout = a.num('dropout', 0);
  const drops = dropout === undefined || layers === undefined ? undefined : dropout > 0 && layers > 1;
  if (layers === undefined || bias === undefined || bi === undefined || proj === undefined) {
    return { ...node(cls, [], 0), params: null, paramNames: undefined, dropout: drops ?? true };
  }
  const dirs = bi ? 2 : 1;
  const real = proj > 0 ? proj : h;
  const own: [string, number | null][] = [];
  for (let l = 0; l < layers; l++) {
    const layerIn = l === 0 ? inp : real === undefined ? undefined : real * dirs;
    for (let d = 0; d < dirs; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      own.push([`weight_ih${sfx}`, mul(gates, h, layerIn)], [`weight_hh${sfx}`, mul(gates, h, real)]);
      if (bias) own.push([`bias_ih${sfx}`, mul(gates, h)], [`bias_hh${sfx}`, mul(gates, h)]);
      if (proj > 0) own.push([`weight_hr${sfx}`, mul(proj, h)]);
    }
  }
  return node(cls, own, 0, drops === undefined ? { dropout: true } : drops ? { dropout: true } : {});
}

function multiheadAttention(a: Args): ModuleNode {
  const e = a.num('embed_dim');
  const bias = a.flag('bias', true);
  const biasKv = a.flag('add_bias_kv', false);
  const kdimArg = a.get('kdim', null);
  const vdimArg = a.get('vdim', null);
  const p = a.num('dropout', 0);
  const kdim = kdimArg === null ? e : typeof kdimArg === 'number' ? kdimArg : undefined;
  const vdim = vdimArg === null ? e : typeof vdimArg === 'number' ? vdimArg : undefined;
  const out = named('out_proj', nnLayer('NonDynamicallyQuantizableLinear', { positional: [e, e], keyword: new Map([['bias', bias]]) })!);
  const drop = p === undefined ? { dropout: true } : p > 0 ? { dropout: true } : {};
  if (bias === undefined || biasKv === undefined || (e !== undefined && (kdim === undefined || vdim === undefined))) {
    return { ...node('MultiheadAttention', [], 0, { children: [out], ...drop }), params: null, paramNames: undefined };
  }
  // torch registers in_proj_weight when kdim and vdim equal embed_dim, and three separate weights otherwise.
  const same = e !== undefined && kdim === e && vdim === e;
  const own: [string, number | null][] =
    e === undefined && (kdimArg !== null || vdimArg !== null)
      ? []
      : same || e === undefined
        ? [['in_proj_weight', mul(3, e, e)]]
        : [
            ['q_proj_weight', mul(e, e)],
            ['k_proj_weight', mul(e, kdim)],
            ['v_proj_weight', mul(e, vdim)],
          ];
  if (e === undefined && (kdimArg !== null || vdimArg !== null)) return { ...node('MultiheadAttention', [], 0, { children: [out], ...drop }), params: null, paramNames: undefined };
  if (bias) own.push(['in_proj_bias', mul(3, e)]);
  if (biasKv) own.push(['bias_k', mul(e)], ['bias_v', mul(e)]);
  return node('MultiheadAttention', own, 0, { children: [out], ...drop });
}

function transformerLayer(cls: 'TransformerEncoderLayer' | 'TransformerDecoderLayer', a: Args): ModuleNode {
  const d = a.get('d_model', undefined);
  const ff = a.get('dim_feedforward', 2048);
  const p = a.get('dropout', 0.1);
  const kw = (entries: [string, LayerArg][]) => new Map(entries);
  const attn = (name: string) => named(name, nnLayer('MultiheadAttention', { positional: [d, a.get('nhead', undefined)], keyword: kw([['dropout', p]]) })!);
  const linear = (name: string, i: LayerArg, o: LayerArg) => named(name, nnLayer('Linear', { positional: [i, o], keyword: new Map() })!);
  const norm = (name: string) => named(name, nnLayer('LayerNorm', { positional: [d], keyword: new Map() })!);
  const drop = (name: string) => named(name, nnLayer('Dropout', { positional: [p], keyword: new Map() })!);
  const decoder = cls === 'TransformerDecoderLayer';
  const kids: ModuleNode[] = [attn('self_attn')];
  if (decoder) kids.push(attn('multihead_attn'));
  kids.push(linear('linear1', d, ff), drop('dropout'), linear('linear2', ff, d), norm('norm1'), norm('norm2'));
  if (decoder) kids.push(norm('norm3'));
  kids.push(drop('dropout1'), drop('dropout2'));
  if (decoder) kids.push(drop('dropout3'));
  // A module passed as `activation` is registered as a child; a string or a function is not.
  const act = a.get('activation', 'relu');
  if (isTree(act)) kids.push(named('activation', act.tree));
  else if (act === undefined) return { ...node(cls, [], 0, { children: kids }), partial: true };
  return node(cls, [], 0, { children: kids });
}

/** TransformerEncoder/Decoder: `num_layers` deep copies of the layer in `layers`, then the optional norm. */
export function transformerStack(cls: string, layer: ModuleNode | undefined, n: number | undefined, norm: ModuleNode | null | undefined): ModuleNode {
  const layers: ModuleNode =
    layer === undefined || n === undefined
      ? { name: 'layers', cls: 'ModuleList', params: 0, buffers: 0, paramNames: [], children: [], partial: true }
      : { name: 'layers', cls: 'ModuleList', params: 0, buffers: 0, paramNames: [], children: Array.from({ length: n }, (_, i) => named(String(i), layer)) };
  const kids = [layers];
  if (norm) kids.push(named('norm', norm));
  const out = node(cls, [], 0, { children: kids });
  return norm === undefined ? { ...out, partial: true } : out;
}

