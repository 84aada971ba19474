import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from './rng';

/**
 * Generates realistic PyTorch fine-tuning scripts for the benchmarks.
 *
 * Why generated rather than collected: the numbers must be reproducible
 * without shipping 100,000 lines of third-party code, and the input must
 * look like what FreezeLens really meets (imports, nn.Module subclasses,
 * freezing loops, optimizers, training loops) rather than one snippet
 * repeated, because both the parser's incremental reuse and the analysis
 * cost depend on the shape of the code. About one freezing site in six is a
 * mistake FRZ004 reports, so rules have real work to do and diagnostics
 * have real payloads to serialize.
 *
 * Everything is driven by a seeded PRNG: the same seed gives the same file.
 */

/** A pretrained backbone as a script builds it, with the names of its stages. */
interface Backbone {
  label: string;
  /** Lines that create `model` (indentation-free), given the number of classes expression. */
  build: (classes: string) => string[];
  /** Attribute paths of the early stages (frozen first), e.g. `layer1`, `features[2]`. */
  early: string[];
  /** Attribute paths of the late stages (released first). */
  late: string[];
  /** Name prefixes of trainable parameters for `named_parameters()` filters. */
  headPrefixes: string[];
}

const resnet = (depth: number): Backbone => ({
  label: `ResNet-${depth}`,
  build: (classes) => [
    `weights = models.ResNet${depth}_Weights.DEFAULT if pretrained else None`,
    `model = models.resnet${depth}(weights=weights)`,
    `model.fc = nn.Linear(model.fc.in_features, ${classes})`,
  ],
  early: ['conv1', 'bn1', 'layer1', 'layer2'],
  late: ['layer3', 'layer4', 'fc'],
  headPrefixes: ['layer4', 'fc'],
});

const BACKBONES: Backbone[] = [
  resnet(18),
  resnet(34),
  resnet(50),
  resnet(101),
  {
    label: 'EfficientNet-B0',
    build: (classes) => [
      'weights = models.EfficientNet_B0_Weights.IMAGENET1K_V1 if pretrained else None',
      'model = models.efficientnet_b0(weights=weights)',
      `model.classifier[1] = nn.Linear(model.classifier[1].in_features, ${classes})`,
    ],
    early: ['features[0]', 'features[1]', 'features[2]', 'features[3]'],
    late: ['features[7]', 'features[8]', 'classifier'],
    headPrefixes: ['features.8', 'classifier'],
  },
  {
    label: 'MobileNetV3-Large',
    build: (classes) => [
      'weights = models.MobileNet_V3_Large_Weights.DEFAULT if pretrained else None',
      'model = models.mobilenet_v3_large(weights=weights)',
      `model.classifier[3] = nn.Linear(model.classifier[3].in_features, ${classes})`,
    ],
    early: ['features[0]', 'features[1]', 'features[2]'],
    late: ['features[15]', 'features[16]', 'classifier'],
    headPrefixes: ['features.16', 'classifier'],
  },
  {
    label: 'ConvNeXt-Tiny',
    build: (classes) => [
      'weights = models.ConvNeXt_Tiny_Weights.DEFAULT if pretrained else None',
      'model = models.convnext_tiny(weights=weights)',
      `model.classifier[2] = nn.Linear(model.classifier[2].in_features, ${classes})`,
    ],
    early: ['features[0]', 'features[1]', 'features[2]'],
    late: ['features[6]', 'features[7]', 'classifier'],
    headPrefixes: ['features.7', 'classifier'],
  },
  {
    label: 'ViT-B/16',
    build: (classes) => [
      'weights = models.ViT_B_16_Weights.DEFAULT if pretrained else None',
      'model = models.vit_b_16(weights=weights)',
      `model.heads.head = nn.Linear(model.heads.head.in_features, ${classes})`,
    ],
    early: ['conv_proj', 'encoder.layers[0]', 'encoder.layers[1]'],
    late: ['encoder.layers[11]', 'encoder.ln', 'heads'],
    headPrefixes: ['encoder.layers.encoder_layer_11', 'heads'],
  },
  {
    label: 'DenseNet-121',
    build: (classes) => [
      'weights = models.DenseNet121_Weights.DEFAULT if pretrained else None',
      'model = models.densenet121(weights=weights)',
      `model.classifier = nn.Linear(model.classifier.in_features, ${classes})`,
    ],
    early: ['features.conv0', 'features.norm0', 'features.denseblock1'],
    late: ['features.denseblock4', 'features.norm5', 'classifier'],
    headPrefixes: ['features.denseblock4', 'classifier'],
  },
  {
    label: 'timm ViT-S/16',
    build: (classes) => [`model = timm.create_model("vit_small_patch16_224", pretrained=pretrained, num_classes=${classes})`],
    early: ['patch_embed', 'blocks[0]', 'blocks[1]', 'blocks[2]'],
    late: ['blocks[11]', 'norm', 'head'],
    headPrefixes: ['blocks.11', 'norm', 'head'],
  },
  {
    label: 'timm Swin-T',
    build: (classes) => [
      `model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=pretrained, num_classes=${classes}, drop_path_rate=0.1)`,
    ],
    early: ['patch_embed', 'layers[0]', 'layers[1]'],
    late: ['layers[3]', 'norm', 'head'],
    headPrefixes: ['layers.3', 'norm', 'head'],
  },
  {
    label: 'timm EfficientNet-B3',
    build: (classes) => [`model = timm.create_model("efficientnet_b3", pretrained=pretrained, num_classes=${classes})`],
    early: ['conv_stem', 'bn1', 'blocks[0]', 'blocks[1]'],
    late: ['blocks[6]', 'conv_head', 'classifier'],
    headPrefixes: ['blocks.6', 'conv_head', 'bn2', 'classifier'],
  },
];

const DATASETS = ['Oxford-IIIT Pets', 'Flowers-102', 'Stanford Cars', 'FGVC Aircraft', 'Food-101', 'CUB-200', 'EuroSAT', 'DTD'];
const CLASS_COUNTS = [37, 102, 196, 100, 101, 200, 10, 47];
const SUBMODULE_NAMES = ['encoder', 'stem', 'trunk', 'features', 'backbone', 'body'];
const HEAD_NAMES = ['classifier', 'head', 'fc', 'out_proj'];
const MODEL_NOUNS = ['Classifier', 'Net', 'Model', 'Head', 'Probe', 'Tower', 'Adapter'];
const MODEL_ADJECTIVES = ['Small', 'Residual', 'Pooled', 'Gated', 'Dual', 'Light', 'Deep', 'Wide', 'Shallow', 'Attentive'];
const ACTIVATIONS = ['nn.ReLU(inplace=True)', 'nn.GELU()', 'nn.SiLU(inplace=True)', 'nn.LeakyReLU(0.1, inplace=True)'];
const COMMENTS = [
  'keep the statistics of the pretrained batch norms',
  'the head is new, so it always trains',
  'lower layers hold generic features; no need to adapt them',
  'release the last stage once the head has settled',
  'same trick as in the linear-probe baseline',
  'bias terms are cheap to train and help with the domain shift',
  'TODO: try discriminative learning rates here',
  'see the ablation in the project notes',
  'matches the schedule used for the reference numbers',
];

/** Per-file state: names already taken, and what the final `main()` can call. */
class Context {
  readonly used = new Set<string>();
  readonly builders: string[] = [];
  readonly freezers: string[] = [];
  readonly optimizers: string[] = [];
  readonly schedulers: string[] = [];
  readonly trainers: string[] = [];
  readonly evaluators: string[] = [];
  readonly datasets: string[] = [];
  readonly transforms: string[] = [];
  mistakes = 0;

  constructor(
    readonly rng: Rng,
    readonly backbone: Backbone,
    readonly classes: number,
  ) {}

  /** A fresh identifier: the base name if free, else base_2, base_3, ... as people do. */
  name(base: string): string {
    let n = base;
    for (let i = 2; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  /** Decides whether this freezing site gets the mistake; about one in six do. */
  mistake(): boolean {
    const yes = this.rng.chance(0.17);
    if (yes) this.mistakes++;
    return yes;
  }

  comment(indent: string): string[] {
    return this.rng.chance(0.35) ? [`${indent}# ${this.rng.pick(COMMENTS)}`] : [];
  }
}

/** An attribute path on a model variable: `model.features[2]`. */
const stageExpr = (owner: string, stage: string) => `${owner}.${stage}`;
/** The name `named_modules()` gives a stage: `features[2]` -> `features.2`. */
const moduleName = (stage: string) => stage.replace(/\[(\d+)\]/g, '.$1');
/** A Python list literal of strings, formatted as people (and formatters) write it. */
const pyList = (items: readonly string[]) => `[${items.map((s) => JSON.stringify(s)).join(', ')}]`;

function header(ctx: Context, dataset: string): string[] {
  const { rng, backbone } = ctx;
  const lines = [
    `"""Fine-tune a pretrained ${backbone.label} on ${dataset} (${ctx.classes} classes).`,
    '',
    rng.pick([
      'The backbone starts frozen while the new head trains; later stages are',
      'Linear probe first, then partial fine-tuning: the lower stages stay frozen,',
      'Stage-wise unfreezing with discriminative learning rates: stages are',
    ]),
    rng.pick(['released one at a time as the validation loss flattens.', 'the top ones are released after a few epochs.', 'unfrozen from the top down.']),
    '"""',
    'from __future__ import annotations',
    '',
    'import argparse',
    'import json',
    'import logging',
    'import math',
    ...(rng.chance(0.5) ? ['import os'] : []),
    'import random',
    'import time',
    'from dataclasses import dataclass, field',
    'from pathlib import Path',
    '',
    'import numpy as np',
    'import torch',
    'import torch.nn as nn',
    'import torch.nn.functional as F',
    'from PIL import Image',
    'from torch.utils.data import DataLoader, Dataset',
    'from torchvision import datasets, models, transforms',
    'import timm',
    '',
    'logger = logging.getLogger(__name__)',
    '',
    `NUM_CLASSES = ${ctx.classes}`,
    `IMAGE_SIZE = ${rng.pick([224, 224, 256, 288, 384])}`,
    'MEAN = (0.485, 0.456, 0.406)',
    'STD = (0.229, 0.224, 0.225)',
  ];
  return lines;
}

function trainConfig(ctx: Context): string[] {
  const { rng, backbone } = ctx;
  ctx.used.add('TrainConfig');
  return [
    '@dataclass',
    'class TrainConfig:',
    `    data_dir: str = "data/${rng.pick(['pets', 'flowers', 'cars', 'aircraft', 'food', 'birds'])}"`,
    `    epochs: int = ${rng.pick([10, 20, 30, 50])}`,
    `    batch_size: int = ${rng.pick([32, 64, 128])}`,
    `    lr: float = ${rng.pick(['3e-4', '1e-3', '5e-4'])}`,
    `    backbone_lr: float = ${rng.pick(['1e-5', '3e-5', '1e-4'])}`,
    `    weight_decay: float = ${rng.pick(['0.05', '1e-4', '0.01'])}`,
    `    warmup_epochs: int = ${rng.int(1, 5)}`,
    `    freeze_epochs: int = ${rng.int(2, 6)}`,
    `    label_smoothing: float = ${rng.pick(['0.0', '0.1'])}`,
    '    num_workers: int = 4',
    '    amp: bool = True',
    '    grad_clip: float = 1.0',
    '    seed: int = 0',
    '    output_dir: str = "checkpoints"',
    `    unfreeze_stages: list[str] = field(default_factory=lambda: ${pyList(backbone.late.map(moduleName))})`,
  ];
}

function helpers(ctx: Context): string[] {
  for (const n of ['AverageMeter', 'set_seed', 'count_parameters', 'save_checkpoint', 'load_checkpoint']) ctx.used.add(n);
  return [
    'class AverageMeter:',
    '    """Running average of a scalar such as the loss, weighted by batch size."""',
    '',
    '    def __init__(self, name: str) -> None:',
    '        self.name = name',
    '        self.reset()',
    '',
    '    def reset(self) -> None:',
    '        self.sum = 0.0',
    '        self.count = 0',
    '',
    '    def update(self, value: float, n: int = 1) -> None:',
    '        self.sum += value * n',
    '        self.count += n',
    '',
    '    @property',
    '    def avg(self) -> float:',
    '        return self.sum / max(self.count, 1)',
    '',
    '    def __repr__(self) -> str:',
    '        return f"{self.name}={self.avg:.4f}"',
    '',
    '',
    'def set_seed(seed: int) -> None:',
    '    random.seed(seed)',
    '    np.random.seed(seed)',
    '    torch.manual_seed(seed)',
    '    torch.cuda.manual_seed_all(seed)',
    '',
    '',
    'def count_parameters(model: nn.Module) -> tuple[int, int]:',
    '    """Returns (trainable, total) parameter counts."""',
    '    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)',
    '    total = sum(p.numel() for p in model.parameters())',
    '    return trainable, total',
    '',
    '',
    'def save_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, path: str | Path) -> None:',
    '    path = Path(path)',
    '    path.parent.mkdir(parents=True, exist_ok=True)',
    '    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)',
    '    logger.info("saved checkpoint to %s", path)',
    '',
    '',
    'def load_checkpoint(model: nn.Module, path: str | Path, optimizer: torch.optim.Optimizer | None = None) -> int:',
    '    state = torch.load(path, map_location="cpu")',
    '    missing, unexpected = model.load_state_dict(state["model"], strict=False)',
    '    if missing or unexpected:',
    '        logger.warning("missing=%s unexpected=%s", missing, unexpected)',
    '    if optimizer is not None and "optimizer" in state:',
    '        optimizer.load_state_dict(state["optimizer"])',
    '    return int(state.get("epoch", 0))',
  ];
}

function buildModel(ctx: Context): string[] {
  const { rng } = ctx;
  const backbone = rng.chance(0.6) ? ctx.backbone : rng.pick(BACKBONES);
  const slug = backbone.label.toLowerCase().replace(/^timm /, '').replace(/[^a-z0-9]+/g, '_').replace(/_$/, '');
  const name = ctx.name(`build_${slug}`);
  ctx.builders.push(name);
  const lines = [
    `def ${name}(num_classes: int = NUM_CLASSES, pretrained: bool = True) -> nn.Module:`,
    `    """${backbone.label} with a fresh ${rng.pick(['classifier', 'head', 'linear head'])} for ${'{'}num_classes{'}'} classes."""`,
    ...backbone.build('num_classes').map((l) => `    ${l}`),
  ];
  // Freezing right where the model is built is the most common place for it.
  if (rng.chance(0.5)) {
    lines.push(...ctx.comment('    '));
    const stage = rng.pick(backbone.early);
    if (ctx.mistake()) lines.push(`    ${stageExpr('model', stage)}.requires_grad = False`);
    else lines.push(`    ${stageExpr('model', stage)}.requires_grad_(False)`);
  }
  if (rng.chance(0.3)) lines.push('    model = model.to(memory_format=torch.channels_last)');
  lines.push('    return model');
  return lines;
}

function customModule(ctx: Context): string[] {
  const { rng } = ctx;
  const cls = ctx.name(`${rng.pick(MODEL_ADJECTIVES)}${rng.pick(MODEL_NOUNS)}`);
  const sub = rng.pick(SUBMODULE_NAMES);
  const head = rng.pick(HEAD_NAMES);
  const act = rng.pick(ACTIVATIONS);
  const convs = rng.int(2, 5);
  const widths = [32, 64, 128, 256, 512, 512];
  ctx.builders.push(cls);
  const lines = [
    `class ${cls}(nn.Module):`,
    `    """${rng.pick(['A small convolutional', 'A compact', 'A lightweight'])} ${sub} followed by a ${rng.pick(['projection', 'two-layer', 'normalised'])} head."""`,
    '',
    '    def __init__(self, num_classes: int = NUM_CLASSES, hidden: int = 512, dropout: float = 0.2) -> None:',
    '        super().__init__()',
    `        self.${sub} = nn.Sequential(`,
  ];
  for (let i = 0; i < convs; i++) {
    const cin = i === 0 ? 3 : widths[i - 1];
    lines.push(
      `            nn.Conv2d(${cin}, ${widths[i]}, kernel_size=3, stride=${i === 0 ? 2 : 1}, padding=1, bias=False),`,
      `            nn.BatchNorm2d(${widths[i]}),`,
      `            ${act},`,
    );
    if (i % 2 === 1) lines.push('            nn.MaxPool2d(2),');
  }
  lines.push(
    '        )',
    '        self.pool = nn.AdaptiveAvgPool2d(1)',
    `        self.proj = nn.Linear(${widths[convs - 1]}, hidden)`,
    '        self.norm = nn.LayerNorm(hidden)',
    '        self.dropout = nn.Dropout(dropout)',
    `        self.${head} = nn.Linear(hidden, num_classes)`,
  );
  const temperature = rng.chance(0.4);
  if (temperature) lines.push('        self.temperature = nn.Parameter(torch.ones(1))');
  lines.push(
    '',
    '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
    `        x = self.${sub}(x)`,
    '        x = self.pool(x).flatten(1)',
    '        x = self.dropout(F.gelu(self.norm(self.proj(x))))',
    temperature ? `        return self.${head}(x) / self.temperature` : `        return self.${head}(x)`,
    '',
    `    def freeze_${sub}(self, freeze: bool = True) -> None:`,
    `        """${rng.pick(['Freeze', 'Stop training'])} the ${sub}; its batch norms keep their running statistics."""`,
  );
  if (ctx.mistake()) lines.push(`        self.${sub}.requires_grad = not freeze`);
  else if (rng.chance(0.5)) lines.push(`        for p in self.${sub}.parameters():`, '            p.requires_grad = not freeze');
  else lines.push(`        self.${sub}.requires_grad_(not freeze)`);
  lines.push(
    `        for m in self.${sub}.modules():`,
    '            if isinstance(m, nn.BatchNorm2d):',
    '                m.train(not freeze)',
  );
  if (temperature && rng.chance(0.5)) {
    lines.push('', '    def freeze_temperature(self) -> None:', '        self.temperature.requires_grad = False');
  }
  return lines;
}

function wrapperModule(ctx: Context): string[] {
  const { rng } = ctx;
  const cls = ctx.name(`${rng.pick(['Timm', 'Pretrained', 'Frozen', 'Hybrid'])}${rng.pick(MODEL_NOUNS)}`);
  const arch = rng.pick(['convnext_small', 'vit_base_patch16_224', 'resnet50d', 'efficientnet_b2', 'regnety_016', 'deit_small_patch16_224']);
  const hidden = rng.pick([256, 512, 768]);
  ctx.builders.push(cls);
  const lines = [
    `class ${cls}(nn.Module):`,
    `    """timm \`${arch}\` as a feature extractor under an MLP head."""`,
    '',
    '    def __init__(self, num_classes: int = NUM_CLASSES, pretrained: bool = True, freeze_backbone: bool = True) -> None:',
    '        super().__init__()',
    `        self.backbone = timm.create_model("${arch}", pretrained=pretrained, num_classes=0)`,
    '        self.head = nn.Sequential(',
    `            nn.Linear(self.backbone.num_features, ${hidden}),`,
    `            ${rng.pick(ACTIVATIONS)},`,
    `            nn.Dropout(${rng.pick(['0.1', '0.2', '0.3'])}),`,
    `            nn.Linear(${hidden}, num_classes),`,
    '        )',
    '        if freeze_backbone:',
    '            self.freeze()',
    '',
    '    def freeze(self) -> None:',
  ];
  if (ctx.mistake()) lines.push('        self.backbone.requires_grad = False');
  else lines.push('        self.backbone.requires_grad_(False)');
  lines.push(
    '        self.backbone.eval()',
    '',
    '    def unfreeze(self, last_n: int = 2) -> None:',
    '        blocks = list(self.backbone.children())[-last_n:]',
    '        for block in blocks:',
    '            for p in block.parameters():',
    '                p.requires_grad = True',
    '',
    '    def train(self, mode: bool = True):',
    '        super().train(mode)',
    '        # a frozen backbone must keep its batch-norm statistics',
    '        if not any(p.requires_grad for p in self.backbone.parameters()):',
    '            self.backbone.eval()',
    '        return self',
    '',
    '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
    '        features = self.backbone(x)',
    '        return self.head(features)',
  );
  return lines;
}

function loraModule(ctx: Context): string[] {
  const { rng } = ctx;
  const cls = ctx.name('LoRALinear');
  const lines = [
    `class ${cls}(nn.Module):`,
    '    """A frozen linear layer plus a trainable low-rank update."""',
    '',
    `    def __init__(self, base: nn.Linear, rank: int = ${rng.pick([4, 8, 16])}, alpha: float = ${rng.pick(['8.0', '16.0', '32.0'])}) -> None:`,
    '        super().__init__()',
    '        self.base = base',
  ];
  if (ctx.mistake()) lines.push('        self.base.requires_grad = False');
  else lines.push('        self.base.weight.requires_grad = False', '        if self.base.bias is not None:', '            self.base.bias.requires_grad = False');
  lines.push(
    '        self.lora_a = nn.Parameter(torch.zeros(rank, base.in_features))',
    '        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))',
    '        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))',
    '        self.scaling = alpha / rank',
    '',
    '    def forward(self, x: torch.Tensor) -> torch.Tensor:',
    '        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scaling',
    '',
    '',
    `def inject_lora_${cls.toLowerCase().replace(/^loralinear_?/, '') || 'layers'}(model: nn.Module, targets: tuple[str, ...] = ("qkv", "proj", "fc1", "fc2")) -> int:`,
    '    """Wraps every matching nn.Linear; returns how many were wrapped."""',
    '    replaced = 0',
    '    for name, module in list(model.named_modules()):',
    '        for child_name, child in list(module.named_children()):',
    '            if isinstance(child, nn.Linear) and child_name in targets:',
    `                setattr(module, child_name, ${cls}(child))`,
    '                replaced += 1',
    '    for name, param in model.named_parameters():',
    '        if "lora_" not in name:',
  );
  if (ctx.mistake()) lines.push(`            param.${rng.pick(['require_grad', 'requires_grads', 'requires_gradient'])} = False`);
  else lines.push('            param.requires_grad = False');
  lines.push('    return replaced');
  return lines;
}

function freezeByName(ctx: Context): string[] {
  const { rng, backbone } = ctx;
  const name = ctx.name(rng.pick(['freeze_all_but', 'freeze_except', 'set_trainable', 'linear_probe_setup', 'partial_freeze']));
  ctx.freezers.push(name);
  const prefixes = `(${backbone.headPrefixes.map((p) => JSON.stringify(p)).join(', ')}${backbone.headPrefixes.length === 1 ? ',' : ''})`;
  const lines = [
    `def ${name}(model: nn.Module, trainable: tuple[str, ...] = ${prefixes}) -> int:`,
    '    """Freezes every parameter whose name does not start with one of `trainable`."""',
    '    frozen = 0',
    '    for name, param in model.named_parameters():',
    '        if name.startswith(trainable):',
    '            param.requires_grad = True',
    '            continue',
    ...ctx.comment('        '),
  ];
  if (ctx.mistake()) lines.push(`        param.${rng.pick(['require_grad', 'requires_grads', 'required_grad'])} = False`);
  else lines.push('        param.requires_grad = False');
  lines.push(
    '        frozen += param.numel()',
    '    trainable_count, total = count_parameters(model)',
    '    logger.info("froze %d parameters; %d of %d train", frozen, trainable_count, total)',
    '    return frozen',
  );
  return lines;
}

function freezeStages(ctx: Context): string[] {
  const { rng, backbone } = ctx;
  const name = ctx.name(rng.pick(['freeze_stages', 'freeze_lower_layers', 'freeze_backbone', 'freeze_early_stages']));
  ctx.freezers.push(name);
  const stages = backbone.early.filter((s) => !s.includes('[') && !s.includes('.'));
  const lines = [`def ${name}(model: nn.Module, num_stages: int = ${rng.int(1, 3)}) -> None:`, '    """Freezes the stem and the first `num_stages` stages."""'];
  if (stages.length >= 2) {
    lines.push(
      `    stages = ${pyList(stages)}`,
      '    for stage in stages[: num_stages + 1]:',
      '        module = getattr(model, stage)',
      '        for p in module.parameters():',
      '            p.requires_grad = False',
    );
  } else {
    lines.push('    children = list(model.children())', '    for child in children[: num_stages + 1]:');
    if (ctx.mistake()) lines.push('        child.requires_grad = False');
    else lines.push('        for p in child.parameters():', '            p.requires_grad = False');
  }
  lines.push(...ctx.comment('    '));
  const stage = rng.pick(backbone.early);
  if (ctx.mistake()) lines.push(`    ${stageExpr('model', stage)}.requires_grad = False`);
  else lines.push(`    ${stageExpr('model', stage)}.requires_grad_(False)`);
  return lines;
}

function freezeBatchNorm(ctx: Context): string[] {
  const { rng } = ctx;
  const name = ctx.name(rng.pick(['freeze_bn', 'freeze_batchnorm', 'freeze_norm_layers']));
  ctx.freezers.push(name);
  const lines = [
    `def ${name}(model: nn.Module, affine: bool = ${rng.pick(['True', 'False'])}) -> int:`,
    '    """Puts batch norms in eval mode so their running statistics stay as pretrained."""',
    '    count = 0',
    '    for m in model.modules():',
    '        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)):',
    '            m.eval()',
    '            count += 1',
    '            if affine:',
    '                continue',
  ];
  if (ctx.mistake()) lines.push('            m.requires_grad = False');
  else if (rng.chance(0.5)) lines.push('            m.weight.requires_grad = False', '            m.bias.requires_grad = False');
  else lines.push('            m.requires_grad_(False)');
  lines.push('    return count');
  return lines;
}

function unfreezeSchedule(ctx: Context): string[] {
  const { rng, backbone } = ctx;
  const name = ctx.name(rng.pick(['unfreeze_schedule', 'gradual_unfreeze', 'release_stages']));
  const stages = [...backbone.late].reverse();
  const lines = [
    `def ${name}(model: nn.Module, epoch: int, cfg: TrainConfig) -> list[str]:`,
    '    """Releases one more stage every `cfg.freeze_epochs` epochs, from the top down."""',
    `    stages = ${pyList(stages.map(moduleName))}`,
    '    released = stages[: min(len(stages), epoch // max(cfg.freeze_epochs, 1))]',
    '    modules = dict(model.named_modules())',
    '    for stage in released:',
    '        module = modules[stage]',
  ];
  if (rng.chance(0.5)) lines.push('        module.requires_grad_(True)');
  else lines.push('        for param in module.parameters():', '            param.requires_grad = True');
  lines.push('    if released:', '        logger.info("epoch %d: training %s", epoch, ", ".join(released))', '    return released');
  return lines;
}

function optimizer(ctx: Context): string[] {
  const { rng, backbone } = ctx;
  const name = ctx.name(rng.pick(['build_optimizer', 'make_optimizer', 'configure_optimizer']));
  ctx.optimizers.push(name);
  const head = backbone.headPrefixes[backbone.headPrefixes.length - 1];
  const kind = rng.pick(['AdamW', 'SGD', 'AdamW']);
  const ctor =
    kind === 'SGD'
      ? '    return torch.optim.SGD(param_groups, lr=cfg.lr, momentum=0.9, nesterov=True)'
      : `    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, ${rng.pick(['0.999', '0.98'])}))`;
  return [
    `def ${name}(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:`,
    '    """Two learning rates (backbone, head) and no weight decay on biases and norms."""',
    '    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}',
    '    for name, param in model.named_parameters():',
    '        if not param.requires_grad:',
    '            continue',
    `        is_head = name.startswith(${JSON.stringify(head)})`,
    '        no_decay = param.ndim <= 1 or name.endswith(".bias")',
    '        groups.setdefault((is_head, no_decay), []).append(param)',
    '    param_groups = [',
    '        {',
    '            "params": params,',
    '            "lr": cfg.lr if is_head else cfg.backbone_lr,',
    '            "weight_decay": 0.0 if no_decay else cfg.weight_decay,',
    '        }',
    '        for (is_head, no_decay), params in groups.items()',
    '    ]',
    ctor,
  ];
}

function scheduler(ctx: Context): string[] {
  const name = ctx.name(ctx.rng.pick(['cosine_with_warmup', 'build_scheduler', 'warmup_cosine']));
  ctx.schedulers.push(name);
  return [
    `def ${name}(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:`,
    '    warmup = cfg.warmup_epochs * steps_per_epoch',
    '    total = cfg.epochs * steps_per_epoch',
    '',
    '    def factor(step: int) -> float:',
    '        if step < warmup:',
    '            return (step + 1) / max(warmup, 1)',
    '        progress = (step - warmup) / max(total - warmup, 1)',
    '        return 0.5 * (1.0 + math.cos(math.pi * progress))',
    '',
    '    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)',
  ];
}

function trainLoop(ctx: Context): string[] {
  const { rng } = ctx;
  const name = ctx.name(rng.pick(['train_one_epoch', 'train_epoch', 'run_epoch']));
  ctx.trainers.push(name);
  const mixup = rng.chance(0.3);
  const lines = [
    `def ${name}(`,
    '    model: nn.Module,',
    '    loader: DataLoader,',
    '    optimizer: torch.optim.Optimizer,',
    '    scheduler: torch.optim.lr_scheduler.LRScheduler | None,',
    '    criterion: nn.Module,',
    '    device: torch.device,',
    '    epoch: int,',
    '    cfg: TrainConfig,',
    '    scaler: torch.cuda.amp.GradScaler | None = None,',
    ') -> float:',
    '    model.train()',
    '    meter = AverageMeter("loss")',
    '    start = time.perf_counter()',
    '    for step, (images, targets) in enumerate(loader):',
    '        images = images.to(device, non_blocking=True)',
    '        targets = targets.to(device, non_blocking=True)',
  ];
  if (mixup) {
    lines.push(
      '        lam = float(np.random.beta(0.2, 0.2))',
      '        index = torch.randperm(images.size(0), device=device)',
      '        images = lam * images + (1 - lam) * images[index]',
    );
  }
  lines.push(
    '        optimizer.zero_grad(set_to_none=True)',
    '        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.amp):',
    '            logits = model(images)',
    mixup ? '            loss = lam * criterion(logits, targets) + (1 - lam) * criterion(logits, targets[index])' : '            loss = criterion(logits, targets)',
    '        if scaler is not None:',
    '            scaler.scale(loss).backward()',
    '            scaler.unscale_(optimizer)',
    '            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)',
    '            scaler.step(optimizer)',
    '            scaler.update()',
    '        else:',
    '            loss.backward()',
    '            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)',
    '            optimizer.step()',
    '        if scheduler is not None:',
    '            scheduler.step()',
    '        meter.update(loss.item(), images.size(0))',
    `        if step % ${rng.pick([20, 50, 100])} == 0:`,
    '            elapsed = time.perf_counter() - start',
    '            logger.info("epoch %d step %d %s (%.1f s)", epoch, step, meter, elapsed)',
    '    return meter.avg',
  );
  return lines;
}

function evaluate(ctx: Context): string[] {
  const name = ctx.name(ctx.rng.pick(['evaluate', 'validate', 'run_eval']));
  ctx.evaluators.push(name);
  const topk = ctx.rng.chance(0.5);
  const lines = [
    '@torch.no_grad()',
    `def ${name}(model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:`,
    '    model.eval()',
    '    correct = total = 0',
    '    loss_sum = 0.0',
  ];
  if (topk) lines.push('    correct5 = 0');
  lines.push(
    '    for images, targets in loader:',
    '        images, targets = images.to(device), targets.to(device)',
    '        logits = model(images)',
    '        loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()',
    '        correct += (logits.argmax(dim=1) == targets).sum().item()',
  );
  if (topk) lines.push('        top5 = logits.topk(5, dim=1).indices', '        correct5 += (top5 == targets[:, None]).any(dim=1).sum().item()');
  lines.push('        total += targets.numel()', '    metrics = {"loss": loss_sum / max(total, 1), "acc": correct / max(total, 1)}');
  if (topk) lines.push('    metrics["acc5"] = correct5 / max(total, 1)');
  lines.push('    return metrics');
  return lines;
}

function datasetClass(ctx: Context): string[] {
  const { rng } = ctx;
  const cls = ctx.name(`${rng.pick(['Folder', 'Csv', 'Labelled', 'Cropped', 'Cached'])}ImageDataset`);
  ctx.datasets.push(cls);
  return [
    `class ${cls}(Dataset):`,
    '    """Images stored as <root>/<split>/<class>/<name>.jpg."""',
    '',
    '    def __init__(self, root: str | Path, split: str = "train", transform=None) -> None:',
    '        self.root = Path(root) / split',
    `        self.samples = sorted(self.root.glob("*/*.${rng.pick(['jpg', 'png', 'jpeg'])}"))`,
    '        self.classes = sorted({p.parent.name for p in self.samples})',
    '        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}',
    '        self.transform = transform',
    '        if not self.samples:',
    '            raise FileNotFoundError(f"no images under {self.root}")',
    '',
    '    def __len__(self) -> int:',
    '        return len(self.samples)',
    '',
    '    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:',
    '        path = self.samples[index]',
    '        image = Image.open(path).convert("RGB")',
    '        if self.transform is not None:',
    '            image = self.transform(image)',
    '        return image, self.class_to_idx[path.parent.name]',
  ];
}

function transformsBlock(ctx: Context): string[] {
  const { rng } = ctx;
  const name = ctx.name(rng.pick(['build_transforms', 'make_transforms', 'get_transforms']));
  ctx.transforms.push(name);
  return [
    `def ${name}(train: bool, size: int = IMAGE_SIZE) -> transforms.Compose:`,
    '    if train:',
    '        return transforms.Compose(',
    '            [',
    `                transforms.RandomResizedCrop(size, scale=(${rng.pick(['0.08', '0.2', '0.5'])}, 1.0)),`,
    '                transforms.RandomHorizontalFlip(),',
    rng.chance(0.5) ? '                transforms.TrivialAugmentWide(),' : '                transforms.ColorJitter(0.4, 0.4, 0.4),',
    '                transforms.ToTensor(),',
    '                transforms.Normalize(MEAN, STD),',
    '            ]',
    '        )',
    '    return transforms.Compose(',
    '        [',
    '            transforms.Resize(int(size * 1.14)),',
    '            transforms.CenterCrop(size),',
    '            transforms.ToTensor(),',
    '            transforms.Normalize(MEAN, STD),',
    '        ]',
    '    )',
  ];
}

/** Module-level notebook-style code: the shape of a script pasted from a tutorial. */
function scriptSection(ctx: Context): string[] {
  const { rng } = ctx;
  const backbone = rng.pick(BACKBONES);
  const v = ctx.name(rng.pick(['model', 'net', 'probe_model', 'baseline']));
  const lines = [
    `# --- quick ${rng.pick(['sanity check', 'linear probe', 'baseline', 'ablation'])}: ${backbone.label} ---`,
    'pretrained = True',
    ...backbone.build('NUM_CLASSES').map((l) => l.replace(/\bmodel\b/g, v)),
  ];
  for (const stage of rng.sample(backbone.early, rng.int(1, 3))) {
    if (ctx.mistake()) lines.push(`${stageExpr(v, stage)}.requires_grad = False`);
    else lines.push(`${stageExpr(v, stage)}.requires_grad_(False)`);
  }
  lines.push(...ctx.comment(''));
  lines.push(
    `for name, param in ${v}.named_parameters():`,
    `    if name.startswith(${JSON.stringify(rng.pick(backbone.headPrefixes))}):`,
    '        param.requires_grad = True',
    `print("trainable:", count_parameters(${v}))`,
  );
  return lines;
}

function mainBlock(ctx: Context): string[] {
  const { rng } = ctx;
  const pick = (xs: string[], fallback: string) => (xs.length ? rng.pick(xs) : fallback);
  const builder = pick(ctx.builders, 'models.resnet18');
  const freezer = pick(ctx.freezers, 'freeze_bn');
  const opt = pick(ctx.optimizers, 'build_optimizer');
  const sched = pick(ctx.schedulers, 'build_scheduler');
  const train = pick(ctx.trainers, 'train_one_epoch');
  const evaluateFn = pick(ctx.evaluators, 'evaluate');
  const ds = pick(ctx.datasets, 'datasets.ImageFolder');
  const tf = pick(ctx.transforms, 'build_transforms');
  return [
    'def parse_args() -> argparse.Namespace:',
    '    parser = argparse.ArgumentParser(description=__doc__)',
    '    parser.add_argument("--data-dir", default=TrainConfig.data_dir)',
    '    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)',
    '    parser.add_argument("--lr", type=float, default=TrainConfig.lr)',
    '    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)',
    '    parser.add_argument("--resume", default=None)',
    '    parser.add_argument("--seed", type=int, default=0)',
    '    return parser.parse_args()',
    '',
    '',
    'def main() -> None:',
    '    args = parse_args()',
    '    cfg = TrainConfig(data_dir=args.data_dir, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)',
    '    set_seed(cfg.seed)',
    '    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
    `    train_set = ${ds}(cfg.data_dir, "train", transform=${tf}(train=True))`,
    `    val_set = ${ds}(cfg.data_dir, "val", transform=${tf}(train=False))`,
    '    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers, drop_last=True)',
    '    val_loader = DataLoader(val_set, batch_size=cfg.batch_size * 2, num_workers=cfg.num_workers)',
    '',
    `    model = ${builder}(num_classes=NUM_CLASSES).to(device)`,
    `    ${freezer}(model)`,
    `    optimizer = ${opt}(model, cfg)`,
    `    scheduler = ${sched}(optimizer, cfg, len(train_loader))`,
    '    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)',
    '    scaler = torch.cuda.amp.GradScaler() if cfg.amp and device.type == "cuda" else None',
    '    start_epoch = load_checkpoint(model, args.resume, optimizer) if args.resume else 0',
    '',
    '    best = 0.0',
    '    history = []',
    '    for epoch in range(start_epoch, cfg.epochs):',
    `        loss = ${train}(model, train_loader, optimizer, scheduler, criterion, device, epoch, cfg, scaler)`,
    `        metrics = ${evaluateFn}(model, val_loader, device)`,
    '        history.append({"epoch": epoch, "train_loss": loss, **metrics})',
    '        logger.info("epoch %d: loss %.4f val acc %.4f", epoch, loss, metrics["acc"])',
    '        if metrics["acc"] > best:',
    '            best = metrics["acc"]',
    '            save_checkpoint(model, optimizer, epoch, Path(cfg.output_dir) / "best.pt")',
    '    Path(cfg.output_dir, "history.json").write_text(json.dumps(history, indent=2))',
    '',
    '',
    'if __name__ == "__main__":',
    '    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")',
    '    main()',
  ];
}

/** Body blocks and how often each appears; freezing code is over-represented on purpose. */
const BLOCKS: { weight: number; gen: (ctx: Context) => string[] }[] = [
  { weight: 3, gen: buildModel },
  { weight: 2, gen: customModule },
  { weight: 2, gen: wrapperModule },
  { weight: 1, gen: loraModule },
  { weight: 3, gen: freezeByName },
  { weight: 2, gen: freezeStages },
  { weight: 2, gen: freezeBatchNorm },
  { weight: 2, gen: unfreezeSchedule },
  { weight: 2, gen: optimizer },
  { weight: 1, gen: scheduler },
  { weight: 2, gen: trainLoop },
  { weight: 2, gen: evaluate },
  { weight: 1, gen: datasetClass },
  { weight: 1, gen: transformsBlock },
  { weight: 1, gen: scriptSection },
];

function pickBlock(rng: Rng): (ctx: Context) => string[] {
  const total = BLOCKS.reduce((n, b) => n + b.weight, 0);
  let r = rng.next() * total;
  for (const b of BLOCKS) if ((r -= b.weight) < 0) return b.gen;
  return BLOCKS[BLOCKS.length - 1].gen;
}

/** Length of mainBlock()'s output, reserved while filling so the total lands near the target. */
const MAIN_LINES = 47;

export interface GeneratedScript {
  text: string;
  lines: number;
  /** FRZ004 mistakes written on purpose (the checker may find more or fewer). */
  plantedMistakes: number;
}

/**
 * A complete fine-tuning script of about `targetLines` lines (within one
 * block's length, ~40 lines), deterministic in `seed`.
 */
export function generateScript(seed: number, targetLines = 2000): GeneratedScript {
  const rng = new Rng(seed);
  const index = rng.int(0, DATASETS.length - 1);
  const ctx = new Context(rng, rng.pick(BACKBONES), CLASS_COUNTS[index]);
  const sections: string[][] = [header(ctx, DATASETS[index]), trainConfig(ctx), helpers(ctx)];
  // Make sure main() finds one of each thing it calls before filling at random.
  for (const gen of [buildModel, freezeBatchNorm, optimizer, scheduler, trainLoop, evaluate, datasetClass, transformsBlock]) sections.push(gen(ctx));
  const count = () => sections.reduce((n, s) => n + s.length + 2, 0) + MAIN_LINES;
  while (count() < targetLines) sections.push(pickBlock(rng)(ctx));
  sections.push(mainBlock(ctx));
  const text = sections.map((s) => s.join('\n')).join('\n\n\n') + '\n';
  return { text, lines: text.split('\n').length - 1, plantedMistakes: ctx.mistakes };
}

export interface Corpus {
  dir: string;
  files: string[];
  lines: number;
  bytes: number;
  plantedMistakes: number;
}

/** Writes `files` generated scripts into `dir` (which must exist). */
export function writeCorpus(dir: string, files: number, linesPerFile: number, seed = 1): Corpus {
  const corpus: Corpus = { dir, files: [], lines: 0, bytes: 0, plantedMistakes: 0 };
  for (let i = 0; i < files; i++) {
    const script = generateScript(seed * 100_003 + i, linesPerFile);
    const file = path.join(dir, `finetune_${String(i).padStart(3, '0')}.py`);
    fs.writeFileSync(file, script.text);
    corpus.files.push(file);
    corpus.lines += script.lines;
    corpus.bytes += Buffer.byteLength(script.text);
    corpus.plantedMistakes += script.plantedMistakes;
  }
  return corpus;
}
