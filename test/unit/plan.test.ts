// The freeze planner's core: stages per architecture, presets, plan edits,
// the summary's estimates, the generated code's shape, and `freezelens plan`.
// The generated code is run with real PyTorch in test/oracle/plans.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { catalogReport, type ModelTreeNode } from '../../server/src/engine/models';
import { styleOf } from '../../server/src/engine/planTarget';
import { fmt, generateCode, lrAt, pathExpression } from '../../server/src/plan/codegen';
import { presetPlan, summarise, toggle, PlanError } from '../../server/src/plan/plan';
import { stagesOf } from '../../server/src/plan/stages';

const ROOT = path.resolve(__dirname, '../../..');
const tree = (name: string): ModelTreeNode => catalogReport(name)!.root;

test('stages follow the architecture: ResNet layers, ViT and BERT blocks, EfficientNet features, DenseNet blocks', () => {
  const names = (m: string) => stagesOf(tree(m)).stages.map((s) => s.name);
  assert.deepEqual(names('resnet18'), ['stem', 'layer1', 'layer2', 'layer3', 'layer4']);
  assert.deepEqual(stagesOf(tree('resnet18')).stages[0].paths, ['conv1', 'bn1']);
  assert.deepEqual(stagesOf(tree('resnet18')).head?.paths, ['fc']);
  const vit = stagesOf(tree('vit_b_16'));
  assert.equal(vit.stages.length, 13);
  // The class token and position embedding are parameters, not modules: the stem names them.
  assert.deepEqual(vit.stages[0].paths, ['class_token', 'encoder.pos_embedding', 'conv_proj']);
  assert.deepEqual(vit.stages[12].paths, ['encoder.layers.encoder_layer_11', 'encoder.ln']);
  assert.deepEqual(vit.head?.paths, ['heads']);
  assert.deepEqual(names('efficientnet_b0'), Array.from({ length: 9 }, (_, i) => `features.${i}`));
  assert.deepEqual(stagesOf(tree('densenet121')).stages[1].paths, ['features.denseblock1', 'features.transition1']);
  const bert = stagesOf(tree('bert-base-uncased'));
  assert.deepEqual(bert.stages.map((s) => s.name).slice(0, 2), ['stem', 'encoder.layer.0']);
  // Every parameter is in exactly one stage or the head.
  for (const m of ['resnet18', 'vit_b_16', 'efficientnet_b0', 'densenet121', 'convnext_tiny', 'mobilenet_v3_small']) {
    const st = stagesOf(tree(m));
    const sum = [...st.stages, ...(st.head ? [st.head] : [])].reduce((n, s) => n + s.params, 0);
    assert.equal(sum, catalogReport(m)!.totalParams, m);
  }
});

test('a model without numbered blocks gets one stage per top-level child', () => {
  const root: ModelTreeNode = {
    path: '',
    class: 'Net',
    params: 0,
    buffers: 0,
    children: [
      { path: 'encoder', class: 'Linear', params: 100, buffers: 0, children: [] },
      { path: 'act', class: 'ReLU', params: 0, buffers: 0, children: [] },
      { path: 'decoder', class: 'Linear', params: 50, buffers: 0, children: [] },
      { path: 'classifier', class: 'Linear', params: 10, buffers: 0, children: [] },
    ],
  };
  const st = stagesOf(root);
  assert.equal(st.kind, 'children');
  assert.deepEqual(st.stages.map((s) => s.name), ['encoder', 'decoder']);
  assert.equal(st.head?.name, 'classifier');
});

test('presets: linear probe, freeze up to a stage (by name, suffix or number), full, BN only, gradual, discriminative', () => {
  const r = tree('resnet18');
  assert.deepEqual(presetPlan(r, 'linear-probe').frozen, ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4']);
  assert.deepEqual(presetPlan(r, 'freeze-to:layer2').frozen, ['conv1', 'bn1', 'layer1', 'layer2']);
  assert.deepEqual(presetPlan(r, 'freeze-to:2').frozen, ['conv1', 'bn1', 'layer1', 'layer2']);
  assert.deepEqual(presetPlan(tree('vit_b_16'), 'freeze-to:encoder_layer_0').frozen.slice(-1), ['encoder.layers.encoder_layer_0']);
  assert.deepEqual(presetPlan(r, 'full').frozen, []);
  assert.equal(presetPlan(r, 'bn-only').frozen.length, 20);
  assert.equal(presetPlan(r, 'gradual:3').gradualEvery, 3);
  const d = presetPlan(r, 'discriminative:2.6');
  assert.ok(Math.abs(d.decay! - 1 / 2.6) < 1e-12);
  assert.throws(() => presetPlan(r, 'freeze-to:layer9'), (e: Error) => e instanceof PlanError && /no stage 'layer9'; the stages are stem, layer1/.test(e.message));
  assert.throws(() => presetPlan(r, 'discriminative:0.5'), PlanError);
  assert.throws(() => presetPlan(r, 'sideways'), /unknown preset 'sideways'/);
  // A model trained from scratch gets one learning rate: there is no pretrained backbone to protect.
  assert.equal(presetPlan(r, 'full', { pretrained: false }).lrSplit, null);
});

test('checkboxes: freezing a parent freezes its subtree; unfreezing a child splits the parent; a full set merges back', () => {
  const r = tree('resnet18');
  let plan = presetPlan(r, 'full');
  plan = toggle(r, plan, 'layer1', true);
  assert.deepEqual(plan.frozen, ['layer1']);
  assert.equal(plan.preset, 'custom');
  plan = toggle(r, plan, 'layer1.0.conv1', false);
  assert.deepEqual(plan.frozen.sort(), ['layer1.0.bn1', 'layer1.0.bn2', 'layer1.0.conv2', 'layer1.1']);
  plan = toggle(r, plan, 'layer1.0.conv1', true);
  assert.deepEqual(plan.frozen, ['layer1']);
  // Freezing everything is the model's root.
  assert.deepEqual(toggle(r, plan, '', true).frozen, ['']);
});

test('summary: trainable counts, gradient and optimizer memory by its formula, backward saved, and an error when nothing trains', () => {
  const r = tree('resnet18');
  const lp = summarise(r, presetPlan(r, 'linear-probe'));
  assert.equal(lp.totalParams, 11_689_512);
  assert.equal(lp.trainableParams, 513_000);
  // AdamW: a gradient and two moments of 4 bytes per trainable parameter.
  assert.equal(lp.trainingStateBytes, 513_000 * 4 * 3);
  assert.equal(summarise(r, presetPlan(r, 'linear-probe', { optimizer: 'sgd' })).trainingStateBytes, 513_000 * 4 * 2);
  assert.equal(lp.backwardBasis, 'params');
  // Everything but the head is a frozen prefix: its backward is skipped whole (fc is 513,000 of 11,689,512).
  assert.ok(Math.abs(lp.backwardSaved - (11_689_512 - 513_000) / 11_689_512) < 1e-9);
  assert.deepEqual(lp.problems, []);
  const none = summarise(r, toggle(r, presetPlan(r, 'full'), '', true));
  assert.equal(none.trainableParams, 0);
  assert.match(none.problems[0].message, /optimizer got an empty parameter list/);
  assert.throws(() => generateCode(r, toggle(r, presetPlan(r, 'full'), '', true)), /empty parameter list/);
  assert.match(summarise(r, presetPlan(r, 'linear-probe', { bn: 'train' })).problems[0].message, /keeps training/);
});

test('generated code: freezing by path, the BN hook, trainable-only param groups at the planned LRs, the gradual schedule', () => {
  const r = tree('resnet18');
  const code = generateCode(r, presetPlan(r, 'gradual:2')).code;
  // Past 88 characters, one module per line, as black writes it.
  assert.match(code, /^frozen_modules = \[\n {4}model\.conv1,\n {4}model\.bn1,\n {4}model\.layer1,\n {4}model\.layer2,\n {4}model\.layer3,\n {4}model\.layer4,\n\]$/m);
  assert.match(code, /m\.register_forward_pre_hook\(keep_frozen_bn_in_eval\)/);
  assert.match(code, /\{"params": \[p for p in model\.fc\.parameters\(\) if p\.requires_grad\], "lr": 1e-3\},  # head/);
  assert.match(code, /def unfreeze_for_epoch\(epoch\):\n.*\n    if epoch == 2:  # layer4\n        unfreeze\(model\.layer4, lr=1e-4\)\n    elif epoch == 4:  # layer3/);
  // A plan that trains what the script froze starts by letting everything train.
  assert.match(generateCode(r, presetPlan(r, 'full'), undefined, { unfreezeFirst: true }).code, /^model\.requires_grad_\(True\)  # the plan decides what trains/m);
  assert.doesNotMatch(code, /requires_grad_\(True\)  #/);
  const frozenBn = generateCode(r, presetPlan(r, 'linear-probe', { bn: 'frozen' }));
  assert.deepEqual(frozenBn.imports, ['from torchvision.ops import FrozenBatchNorm2d']);
  assert.match(frozenBn.code, /^model\.layer1\[0\]\.bn1 = frozen_batchnorm\(model\.layer1\[0\]\.bn1\)$/m);
  const styled = generateCode(r, presetPlan(r, 'freeze-to:layer3', { optimizer: 'sgd' }), { model: 'net', optimizer: 'opt', nn: 'torch.nn', torch: 'torch' }).code;
  assert.match(styled, /^frozen_modules = \[net\.conv1,/m);
  assert.match(styled, /isinstance\(m, torch\.nn\.modules\.batchnorm\._BatchNorm\)/);
  assert.match(styled, /^opt = torch\.optim\.SGD\(/m);
  assert.match(styled, /lr=1e-3, momentum=0\.9,/);
});

test('paths, learning rates and the script\'s style as Python spells them', () => {
  assert.equal(pathExpression('model', 'features.3.block'), 'model.features[3].block');
  assert.equal(pathExpression('model', 'encoder.layers.encoder_layer_0'), 'model.encoder.layers.encoder_layer_0');
  assert.equal(pathExpression('m', 'blocks.lambda'), 'm.get_submodule("blocks.lambda")');
  assert.deepEqual([fmt(1e-3), fmt(1e-4), fmt(0.05), fmt(3.846e-4), fmt(2.5e-5)], ['1e-3', '1e-4', '0.05', '3.846e-4', '2.5e-5']);
  assert.deepEqual(styleOf('import torch\nimport torch.nn as nn\nopt = torch.optim.SGD(model.parameters())\n', 'net'), { model: 'net', optimizer: 'opt', nn: 'nn', torch: 'torch' });
  assert.equal(styleOf('import torch\nfrom torch import nn\n', 'model').nn, 'nn');
  assert.equal(styleOf('from torch import optim, nn as tnn\n', 'model').nn, 'tnn');
  assert.equal(styleOf('import torch\n', 'model').nn, 'torch.nn');
});

test('freezelens plan: code to stdout, summary to stderr, JSON on request, exit codes', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'plan', ...args], { cwd: ROOT, encoding: 'utf8' });
  const text = cli('--model', 'resnet18', '--preset', 'freeze-to:layer3', '--lr', '3e-4');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^# FreezeLens plan \(freeze-to:layer3\): trains 8,906,728 of 11,689,512 parameters \(76\.19%\)\.$/m);
  assert.match(text.stderr, /^Plan freeze-to:layer3 on resnet18: trains 8,906,728 of 11,689,512 params \(76\.19%\)$/m);
  assert.match(text.stderr, /gradients \+ AdamW state: 106\.9 MB \(full fine-tune: 140\.3 MB\)/);
  const json = JSON.parse(cli('--model', 'resnet18', '--preset', 'bn-only', '--format', 'json', '--model-var', 'net', '--optimizer-var', 'opt').stdout);
  assert.deepEqual(Object.keys(json).sort(), ['code', 'plan', 'summary']);
  assert.match(json.code, /^opt = torch\.optim\.AdamW\(/m);
  assert.equal(json.plan.version, 1);
  const onnx = cli('--model', 'test/fixtures/onnx/tiny_cnn.shapes.onnx', '--preset', 'linear-probe');
  assert.equal(onnx.status, 0, onnx.stderr);
  // With the graph's shapes, backward savings come from FLOPs, and the frozen prefix's activations need not be kept.
  assert.match(onnx.stderr, /backward compute saved: [\d.]+% \(from the graph's FLOPs per module\)/);
  assert.match(onnx.stderr, /activation memory not kept for backward: [\d.]+ kB per sample/);
  assert.equal(cli('--model', 'resnet18', '--preset', 'freeze-to:nope').status, 1);
  assert.equal(cli('--model', 'no-such-net').status, 1);
  assert.equal(cli('--model', 'resnet18', '--bn', 'sometimes').status, 2);
  assert.equal(cli('--preset', 'full').status, 2);
});

test('the LR of a module path is its param group\'s: the head\'s, its stage\'s, or the head\'s outside every stage', () => {
  const r = tree('resnet18');
  const d = presetPlan(r, 'discriminative:2');
  assert.equal(lrAt(d, 'fc'), 1e-3);
  assert.equal(lrAt(d, 'fc.weight'), 1e-3);
  assert.equal(lrAt(d, 'layer4.0.conv1'), 1e-3 / 2);
  assert.equal(lrAt(d, 'layer3'), 1e-3 / 4);
  assert.equal(lrAt(d, 'bn1'), 1e-3 / 32);
  assert.equal(lrAt(presetPlan(r, 'full'), 'layer1.0'), 1e-4);
  assert.equal(lrAt(d, 'not.a.module'), 1e-3);
});
