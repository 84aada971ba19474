import { batchNorm, conv2d as conv, dropout, identity, layerNorm, leaf as leafOf, linear, node, sequential, type Kid } from './build';
import type { ModuleNode } from './tree';

/*
 * Module trees of timm models as timm 0.9 (0.9.2 - 0.9.12) builds them in
 * `timm.create_model(name, pretrained=..., num_classes=...)`, with timm's
 * own attribute names. Hand-written because the Python package cannot be
 * installed where the analysis runs; each tree is built from the model's
 * entry in the tables below (the arguments its entrypoint passes).
 *
 * Defaults of `create_model` without extra kwargs: drop_rate, drop_path_rate
 * and drop_block_rate are 0, so DropPath/DropBlock slots are nn.Identity
 * (or not registered at all, where timm stores None) and every nn.Dropout
 * has p=0. Pretrained weights do not change the structure.
 * `num_classes=0` makes the classifier an nn.Identity, timm's convention.
 */

const classifier = (inF: number, numClasses: number): ModuleNode => (numClasses > 0 ? linear(inF, numClasses) : identity());
/** timm's Mlp with ratio 4, GELU and no dropout (ConvNeXt and ViT blocks). */
const mlp = (d: number): ModuleNode =>
  node('Mlp', [
    ['fc1', linear(d, 4 * d)],
    ['act', leafOf('GELU')],
    ['drop1', dropout(0)],
    ['norm', identity()],
    ['fc2', linear(4 * d, d)],
    ['drop2', dropout(0)],
  ]);
/** SelectAdaptivePool2d(pool_type='avg', flatten=...). */
const selectPool = (flatten: boolean): ModuleNode =>
  node('SelectAdaptivePool2d', [['pool', leafOf('AdaptiveAvgPool2d')], ['flatten', flatten ? leafOf('Flatten') : identity()]]);

// ------------------------------------------------------------------ ResNet

interface ResNetCfg {
  block: 'basic' | 'bottleneck';
  layers: readonly [number, number, number, number];
  /** ResNet-D: stem_type='deep', stem_width=32, avg_down=True. */
  deep?: boolean;
}

const RESNETS: Record<string, ResNetCfg> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet26: { block: 'bottleneck', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
  resnet18d: { block: 'basic', layers: [2, 2, 2, 2], deep: true },
  resnet26d: { block: 'bottleneck', layers: [2, 2, 2, 2], deep: true },
  resnet34d: { block: 'basic', layers: [3, 4, 6, 3], deep: true },
  resnet50d: { block: 'bottleneck', layers: [3, 4, 6, 3], deep: true },
  resnet101d: { block: 'bottleneck', layers: [3, 4, 23, 3], deep: true },
  resnet152d: { block: 'bottleneck', layers: [3, 8, 36, 3], deep: true },
};

function resnet(c: ResNetCfg, numClasses: number): ModuleNode {
  const relu = () => leafOf('ReLU');
  const expansion = c.block === 'basic' ? 1 : 4;
  // BasicBlock / Bottleneck; `se` and `drop_path` are None (not registered), drop_block and aa are Identity.
  const block = (inplanes: number, planes: number, downsample: ModuleNode | undefined): ModuleNode => {
    const out = planes * expansion;
    const ds: Kid | undefined = downsample && ['downsample', downsample];
    if (c.block === 'basic') {
      return node('BasicBlock', [
        ['conv1', conv(inplanes, planes, 3)],
        ['bn1', batchNorm(planes)],
        ['drop_block', identity()],
        ['act1', relu()],
        ['aa', identity()],
        ['conv2', conv(planes, out, 3)],
        ['bn2', batchNorm(out)],
        ['act2', relu()],
        ds,
      ]);
    }
    return node('Bottleneck', [
      ['conv1', conv(inplanes, planes, 1)],
      ['bn1', batchNorm(planes)],
      ['act1', relu()],
      ['conv2', conv(planes, planes, 3)],
      ['bn2', batchNorm(planes)],
      ['drop_block', identity()],
      ['act2', relu()],
      ['aa', identity()],
      ['conv3', conv(planes, out, 1)],
      ['bn3', batchNorm(out)],
      ['act3', relu()],
      ds,
    ]);
  };
  const stages: Kid[] = [];
  let inplanes = 64;
  [64, 128, 256, 512].forEach((planes, i) => {
    const stride = i === 0 ? 1 : 2;
    const out = planes * expansion;
    let downsample: ModuleNode | undefined;
    if (stride !== 1 || inplanes !== out) {
      downsample = c.deep
        ? sequential([stride === 1 ? identity() : leafOf('AvgPool2d'), conv(inplanes, out, 1), batchNorm(out)]) // downsample_avg
        : sequential([conv(inplanes, out, 1), batchNorm(out)]); // downsample_conv
    }
    const blocks: ModuleNode[] = [];
    for (let b = 0; b < c.layers[i]; b++) {
      blocks.push(block(inplanes, planes, b === 0 ? downsample : undefined));
      inplanes = out;
    }
    stages.push([`layer${i + 1}`, sequential(blocks)]);
  });
  const stem: ModuleNode = c.deep
    ? sequential([conv(3, 32, 3), batchNorm(32), relu(), conv(32, 32, 3), batchNorm(32), relu(), conv(32, 64, 3)])
    : conv(3, 64, 7);
  return node('ResNet', [
    ['conv1', stem],
    ['bn1', batchNorm(64)],
    ['act1', relu()],
    ['maxpool', leafOf('MaxPool2d')],
    ...stages,
    ['global_pool', selectPool(true)],
    ['fc', classifier(512 * expansion, numClasses)],
  ]);
}

// ------------------------------------------------------------ EfficientNet

interface EfficientNetCfg {
  channelMultiplier: number;
  depthMultiplier: number;
}

const EFFICIENTNETS: Record<string, EfficientNetCfg> = {
  efficientnet_b0: { channelMultiplier: 1.0, depthMultiplier: 1.0 },
  efficientnet_b1: { channelMultiplier: 1.0, depthMultiplier: 1.1 },
  efficientnet_b2: { channelMultiplier: 1.1, depthMultiplier: 1.2 },
  efficientnet_b3: { channelMultiplier: 1.2, depthMultiplier: 1.4 },
};

/** The EfficientNet-B0 arch_def: block type, repeats, kernel, expansion, out channels; all with se0.25. */
const EFFICIENTNET_ARCH: readonly (readonly ['ds' | 'ir', number, number, number, number])[] = [
  ['ds', 1, 3, 1, 16],
  ['ir', 2, 3, 6, 24],
  ['ir', 2, 5, 6, 40],
  ['ir', 3, 3, 6, 80],
  ['ir', 3, 5, 6, 112],
  ['ir', 4, 5, 6, 192],
  ['ir', 1, 3, 6, 320],
];

/** timm's make_divisible(v, 8) with round_limit 0.9. */
function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

function efficientnet(c: EfficientNetCfg, numClasses: number): ModuleNode {
  const round = (ch: number) => makeDivisible(ch * c.channelMultiplier);
  const silu = () => leafOf('SiLU');
  // BatchNormAct2d: a BatchNorm2d with `drop` and `act` children.
  const bnAct = (ch: number, withAct = true) => batchNorm(ch, 'BatchNormAct2d', [['drop', identity()], ['act', withAct ? silu() : identity()]]);
  const se = (ch: number, rd: number) =>
    node('SqueezeExcite', [
      ['conv_reduce', conv(ch, rd, 1, { bias: true })],
      ['act1', silu()],
      ['conv_expand', conv(rd, ch, 1, { bias: true })],
      ['gate', leafOf('Sigmoid')],
    ]);
  const stem = round(32);
  let inCh = stem;
  const stages: ModuleNode[] = [];
  for (const [type, repeats, k, exp, outBase] of EFFICIENTNET_ARCH) {
    const out = round(outBase);
    const n = Math.ceil(repeats * c.depthMultiplier); // depth_trunc='ceil'
    const blocks: ModuleNode[] = [];
    for (let i = 0; i < n; i++) {
      // SE channels from the block input: round(in_chs * 0.25).
      const rd = Math.round(inCh * 0.25);
      if (type === 'ds') {
        blocks.push(node('DepthwiseSeparableConv', [
          ['conv_dw', conv(inCh, inCh, k, { groups: inCh })],
          ['bn1', bnAct(inCh)],
          ['se', se(inCh, rd)],
          ['conv_pw', conv(inCh, out, 1)],
          ['bn2', bnAct(out, false)],
          ['drop_path', identity()],
        ]));
      } else {
        const mid = makeDivisible(inCh * exp);
        blocks.push(node('InvertedResidual', [
          ['conv_pw', conv(inCh, mid, 1)],
          ['bn1', bnAct(mid)],
          ['conv_dw', conv(mid, mid, k, { groups: mid })],
          ['bn2', bnAct(mid)],
          ['se', se(mid, rd)],
          ['conv_pwl', conv(mid, out, 1)],
          ['bn3', bnAct(out, false)],
          ['drop_path', identity()],
        ]));
      }
      inCh = out;
    }
    stages.push(sequential(blocks));
  }
  const features = round(1280);
  return node('EfficientNet', [
    ['conv_stem', conv(3, stem, 3)],
    ['bn1', bnAct(stem)],
    ['blocks', sequential(stages)],
    ['conv_head', conv(inCh, features, 1)],
    ['bn2', bnAct(features)],
    ['global_pool', selectPool(true)],
    ['classifier', classifier(features, numClasses)],
  ]);
}

// ---------------------------------------------------------------- ConvNeXt

interface ConvNeXtCfg {
  depths: readonly [number, number, number, number];
  dims: readonly [number, number, number, number];
}

const CONVNEXTS: Record<string, ConvNeXtCfg> = {
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
};

function convnext(c: ConvNeXtCfg, numClasses: number): ModuleNode {
  // ConvNeXtBlock with conv_mlp=False: channels-last LayerNorm and Linear MLP; ls_init_value 1e-6 gives `gamma`.
  const block = (d: number) =>
    node('ConvNeXtBlock', [
      ['conv_dw', conv(d, d, 7, { groups: d, bias: true })],
      ['norm', layerNorm(d)],
      ['mlp', mlp(d)],
      ['shortcut', identity()],
      ['drop_path', identity()],
    ], [['gamma', d]]);
  const stages = c.dims.map((d, i) =>
    node('ConvNeXtStage', [
      ['downsample', i === 0 ? identity() : sequential([layerNorm(c.dims[i - 1], 'LayerNorm2d'), conv(c.dims[i - 1], d, 2, { bias: true })])],
      ['blocks', sequential(Array.from({ length: c.depths[i] }, () => block(d)))],
    ]),
  );
  const last = c.dims[3];
  return node('ConvNeXt', [
    ['stem', sequential([conv(3, c.dims[0], 4, { bias: true }), layerNorm(c.dims[0], 'LayerNorm2d')])],
    ['stages', sequential(stages)],
    ['norm_pre', identity()],
    ['head', node('NormMlpClassifierHead', [
      ['global_pool', selectPool(false)],
      ['norm', layerNorm(last, 'LayerNorm2d')],
      ['flatten', leafOf('Flatten')],
      ['pre_logits', identity()],
      ['drop', dropout(0)],
      ['fc', classifier(last, numClasses)],
    ])],
  ]);
}

// --------------------------------------------------------------------- ViT

interface VitCfg {
  patch: number;
  dim: number;
  depth: number;
}

const VITS: Record<string, VitCfg> = {
  vit_tiny_patch16_224: { patch: 16, dim: 192, depth: 12 },
  vit_small_patch16_224: { patch: 16, dim: 384, depth: 12 },
  vit_base_patch16_224: { patch: 16, dim: 768, depth: 12 },
  vit_base_patch32_224: { patch: 32, dim: 768, depth: 12 },
  vit_large_patch16_224: { patch: 16, dim: 1024, depth: 24 },
};

function visionTransformer(c: VitCfg, numClasses: number): ModuleNode {
  const d = c.dim;
  const tokens = (224 / c.patch) ** 2 + 1; // class token, no register tokens
  // Block: qkv_bias=True, qk_norm=False, init_values=None (no LayerScale), mlp_ratio 4.
  const block = () =>
    node('Block', [
      ['norm1', layerNorm(d)],
      ['attn', node('Attention', [
        ['qkv', linear(d, 3 * d)],
        ['q_norm', identity()],
        ['k_norm', identity()],
        ['attn_drop', dropout(0)],
        ['proj', linear(d, d)],
        ['proj_drop', dropout(0)],
      ])],
      ['ls1', identity()],
      ['drop_path1', identity()],
      ['norm2', layerNorm(d)],
      ['mlp', mlp(d)],
      ['ls2', identity()],
      ['drop_path2', identity()],
    ]);
  return node('VisionTransformer', [
    ['patch_embed', node('PatchEmbed', [['proj', conv(3, d, c.patch, { bias: true })], ['norm', identity()]])],
    ['pos_drop', dropout(0)],
    ['patch_drop', identity()],
    ['norm_pre', identity()],
    ['blocks', sequential(Array.from({ length: c.depth }, block))],
    ['norm', layerNorm(d)], // global_pool='token': final norm, no fc_norm
    ['fc_norm', identity()],
    ['head_drop', dropout(0)],
    ['head', classifier(d, numClasses)],
  ], [['cls_token', d], ['pos_embed', tokens * d]]);
}

// ------------------------------------------------------------------- table

const MODELS: Record<string, (numClasses: number) => ModuleNode> = {};
for (const [n, c] of Object.entries(RESNETS)) MODELS[n] = (k) => resnet(c, k);
for (const [n, c] of Object.entries(EFFICIENTNETS)) MODELS[n] = (k) => efficientnet(c, k);
for (const [n, c] of Object.entries(CONVNEXTS)) MODELS[n] = (k) => convnext(c, k);
for (const [n, c] of Object.entries(VITS)) MODELS[n] = (k) => visionTransformer(c, k);

/**
 * The tree of `timm.create_model(name, pretrained=..., num_classes=...)`;
 * undefined for a name not in the tables. A `timm/` (or `hf-hub:timm/`)
 * prefix and a pretrained tag are accepted. The tag's config sets the
 * default class count even without pretrained weights: every default tag
 * of these names, and every `…in1k` tag, has 1000 classes; other tags
 * (`augreg_in21k`, `in12k`) need `numClasses` given, or the answer is
 * undefined.
 */
export function timmTree(name: string, opts: { numClasses?: number; pretrained?: boolean } = {}): ModuleNode | undefined {
  const m = /^(?:hf[-_]hub:timm\/|timm\/)?(\w+)(?:\.(\w+))?$/.exec(name);
  if (!m) return undefined;
  const [, arch, tag] = m;
  if (!Object.prototype.hasOwnProperty.call(MODELS, arch)) return undefined;
  if (opts.numClasses === undefined && tag !== undefined && !/in1k$/.test(tag)) return undefined;
  const numClasses = opts.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 0) return undefined;
  return MODELS[arch](numClasses);
}

export function timmNames(): string[] {
  return Object.keys(MODELS);
}
