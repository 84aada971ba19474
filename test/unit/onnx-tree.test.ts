// The module tree behind ONNX exports of real PyTorch models, the diagnostics
// on them, and `freezelens onnx`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { findNode, subtreeParams, walk } from '../../server/src/models/tree';
import { inspectOnnx } from '../../server/src/onnx/inspect';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'onnx');
const fixture = (name: string) => path.join(FIXTURES, name);

// PyTorch's counts of the fixture models (scripts/gen-onnx-fixtures.py):
// TinyCNN 1,517 params, 50 buffers (two BatchNorms: 17 + 33, num_batches_tracked not exported);
// TinyTransformer 3,107 params.
test('PRESERVE and TRAINING exports keep PyTorch names: the tree and counts are the model\'s', () => {
  for (const mode of ['preserve', 'training']) {
    const r = inspectOnnx(fixture(`tiny_cnn.${mode}.onnx`));
    const tree = r.modules!.tree;
    assert.equal(r.modules!.naming, 'initializers');
    assert.equal(subtreeParams(tree), 1_517);
    // A TRAINING export keeps the Dropout node (under the `dropout` module); eval-mode exports drop it.
    assert.deepEqual(tree.children.map((c) => c.name), mode === 'training' ? ['features', 'dropout', 'fc'] : ['features', 'fc']);
    if (mode === 'training') assert.equal(findNode(tree, 'dropout')?.dropout, true);
    const bn = findNode(tree, 'features.1')!;
    assert.equal(bn.cls, 'BatchNormalization');
    assert.equal(bn.runningStats, true);
    assert.deepEqual([bn.params, bn.buffers, bn.paramNames], [16, 16, ['weight', 'bias']]);
    assert.deepEqual(findNode(tree, 'fc')?.paramNames, ['weight', 'bias']);
    assert.equal(findNode(tree, 'features.0')?.params, 216);
  }
  const t = inspectOnnx(fixture('tiny_transformer.preserve.onnx')).modules!.tree;
  // Tensors the exporter merged behind Identity nodes (LayerNorm ones and zeros) count as the separate parameters they are.
  assert.equal(subtreeParams(t), 3_107);
  assert.deepEqual(
    walk(t).map(([p]) => p).filter((p) => p.split('.').length <= 2),
    ['', 'embed', 'layer', 'layer.self_attn', 'layer.norm1', 'layer.linear1', 'layer.linear2', 'layer.norm2', 'norm', 'head'],
  );
  assert.deepEqual(findNode(t, 'layer.self_attn')?.paramNames, ['in_proj_weight', 'in_proj_bias']);
});

test('an EVAL export: modules from node scopes, BatchNorm folded (FRZ103)', () => {
  const r = inspectOnnx(fixture('tiny_cnn.eval.onnx'));
  // Folded: conv0 gains a bias (8), the BatchNorms' 48 params are gone: 1,517 - 48 + 8.
  assert.equal(subtreeParams(r.modules!.tree), 1_477);
  assert.equal(findNode(r.modules!.tree, 'features.0')?.cls, 'Conv');
  assert.equal(findNode(r.modules!.tree, 'features.0')?.params, 224);
  assert.equal(findNode(r.modules!.tree, 'features.1'), undefined);
  assert.deepEqual(r.diagnostics.map((d) => d.ruleId), ['FRZ103']);
  // The transformer's names mostly survive even in EVAL; the renamed MatMul weights are found by scope.
  assert.equal(subtreeParams(inspectOnnx(fixture('tiny_transformer.eval.onnx')).modules!.tree), 3_107);
});

test('diagnostics: training-mode BatchNorm and Dropout, clean exports, external data, unreadable files', () => {
  assert.deepEqual(inspectOnnx(fixture('tiny_cnn.training.onnx')).diagnostics.map((d) => d.ruleId), ['FRZ101', 'FRZ102']);
  assert.deepEqual(inspectOnnx(fixture('tiny_cnn.preserve.onnx')).diagnostics, []);
  assert.deepEqual(inspectOnnx(fixture('tiny_cnn.external.onnx')).diagnostics, []);
  assert.deepEqual(inspectOnnx(fixture('tiny_transformer.preserve.onnx')).diagnostics, []);
  const broken = inspectOnnx(fixture('tiny_cnn.preserve.expected.json'));
  assert.equal(broken.diagnostics[0].ruleId, 'FRZ105');
  assert.match(broken.diagnostics[0].message, /Not a readable ONNX model: .* \(at byte \d+\)/);
});

test('freezelens onnx: summary, tree and diagnostics; JSON in the models format; exit codes', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'onnx', ...args], { cwd: ROOT, encoding: 'utf8' });
  const text = cli('test/fixtures/onnx/tiny_cnn.training.onnx');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^test\/fixtures\/onnx\/tiny_cnn\.training\.onnx: pytorch 1\.13\.0, IR 7, opset ai\.onnx 14\n {2}input {2}input \[batch, 3, 16, 16\]\n {2}output logits \[batch, 5\]\n/);
  assert.match(text.stdout, /parameters 1,517 \(module names from PyTorch's initializer names\)/);
  assert.match(text.stdout, /FRZ101 1 BatchNormalization node runs|FRZ101 2 BatchNormalization nodes run/);
  const json = JSON.parse(cli('test/fixtures/onnx/tiny_cnn.preserve.onnx', '--format', 'json').stdout);
  assert.equal(json.models[0].source, 'onnx');
  assert.equal(json.models[0].totalParams, 1_517);
  // The models format, plus what the graph says of a module with nodes of its own (the root runs Flatten).
  assert.deepEqual(Object.keys(json.models[0].root), ['path', 'class', 'params', 'buffers', 'ops', 'outputShapes', 'children']);
  assert.deepEqual(json.diagnostics, []);
  const unreadable = cli('package.json');
  assert.equal(unreadable.status, 2);
  assert.match(unreadable.stdout, /FRZ105 Not a readable ONNX model/);
});

test('the tree JSON of an export carries each module\'s ops, its output shapes where the graph records them, and BN\'s training_mode', () => {
  const json = (name: string) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'onnx', fixture(name), '--format', 'json'], { encoding: 'utf8' });
    const root = JSON.parse(r.stdout).models[0].root;
    const find = (n: { path: string; children: unknown[] }, p: string): Record<string, unknown> | undefined => (n.path === p ? (n as Record<string, unknown>) : (n.children as (typeof n)[]).map((c) => find(c, p)).find(Boolean));
    return (p: string) => find(root, p)!;
  };
  // After onnx's shape inference, every intermediate value has a shape (python onnx: value_info).
  const shaped = json('tiny_cnn.shapes.onnx');
  assert.deepEqual(shaped('features.3').ops, ['Conv']);
  assert.deepEqual(shaped('features.3').outputShapes, [['batch', 16, 16, 16]]);
  assert.deepEqual(shaped('features.6').outputShapes, [['batch', 16, 1, 1]]);
  assert.deepEqual(shaped('fc').outputShapes, [['batch', 5]]);
  assert.equal(shaped('features.1').bnTrainingMode, false);
  // PyTorch's export records no intermediate shapes: only the graph's output is known.
  const plain = json('tiny_cnn.preserve.onnx');
  assert.deepEqual(plain('features.3').outputShapes, []);
  assert.deepEqual(plain('fc').outputShapes, [['batch', 5]]);
  assert.equal(json('tiny_cnn.training.onnx')('features.4').bnTrainingMode, true);
  // A container without nodes of its own has no ops to show.
  assert.equal(plain('features').ops, undefined);
});

test('# freezelens: model=... binds an export to a model the code builds where the analysis cannot follow', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-bind-'));
  try {
    fs.copyFileSync(fixture('tiny_cnn.preserve.onnx'), path.join(dir, 'cnn.onnx'));
    fs.writeFileSync(
      path.join(dir, 'train.py'),
      [
        'import torch',
        'from my_configs import build',
        '',
        'model = build("cnn")  # freezelens: model=cnn.onnx',
        'for n, p in model.named_parameters():',
        '    if n.startswith("feature."):',
        '        p.requires_grad = False',
        'optimizer = torch.optim.SGD(model.parameters(), lr=0.1)',
        '',
      ].join('\n'),
    );
    const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), ...args], { cwd: dir, encoding: 'utf8' });
    const models = JSON.parse(cli('models', 'train.py', '--format', 'json').stdout).models;
    assert.equal(models.length, 1);
    assert.equal(models[0].source, 'onnx');
    assert.equal(models[0].totalParams, 1_517);
    assert.deepEqual(models[0].root.children.map((c: { path: string }) => c.path), ['features', 'fc']);
    // The export's names decide name filters: `feature.` matches nothing (the module is `features`).
    const check = cli('check', 'train.py');
    assert.match(check.stdout, /train\.py:6:\d+: FRZ016 `name\.startswith\("feature\."\)` matches no parameter of `model`/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a torch.onnx.export of the model in the script binds the file it wrote, where the code does not show the structure', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-export-'));
  try {
    fs.mkdirSync(path.join(dir, 'exports'));
    fs.copyFileSync(fixture('tiny_transformer.preserve.onnx'), path.join(dir, 'exports', 'tagger.onnx'));
    const script = (exported: string) =>
      [
        'import torch',
        'from my_configs import build',
        '',
        'model = build("tagger")',
        'for n, p in model.named_parameters():',
        '    if not n.startswith("head."):',
        '        p.requires_grad = False',
        `torch.onnx.export(model, torch.randint(0, 50, (1, 6)), "${exported}", training=torch.onnx.TrainingMode.PRESERVE)`,
        '',
      ].join('\n');
    const models = (text: string) => {
      fs.writeFileSync(path.join(dir, 'train.py'), text);
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'models', 'train.py', '--format', 'json'], { cwd: dir, encoding: 'utf8' });
      return JSON.parse(r.stdout).models;
    };
    const bound = models(script('exports/tagger.onnx'));
    assert.equal(bound.length, 1);
    assert.equal(bound[0].source, 'onnx');
    assert.equal(bound[0].totalParams, 3_107);
    // Everything but the head (3*16+3 = 51 params) frozen.
    assert.equal(bound[0].trainableParams, 51);
    // No export file on disk: the model stays unknown.
    assert.deepEqual(models(script('exports/missing.onnx')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the models setting binds an export to the one model a matching script builds; several models bind none', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-models-setting-'));
  try {
    fs.mkdirSync(path.join(dir, 'exports'));
    fs.mkdirSync(path.join(dir, 'train'));
    fs.copyFileSync(fixture('tiny_cnn.preserve.onnx'), path.join(dir, 'exports', 'cnn.onnx'));
    fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens.models]\n"train/**/*.py" = "exports/cnn.onnx"\n');
    const one = ['import torch', 'from my_configs import build', '', 'model = build("cnn")', 'for n, p in model.named_parameters():', '    if n.startswith("feature."):', '        p.requires_grad = False', 'optimizer = torch.optim.SGD(model.parameters(), lr=0.1)', ''];
    const two = [...one, 'teacher = build("big")', 'teacher.eval()', ''];
    fs.writeFileSync(path.join(dir, 'train', 'one.py'), one.join('\n'));
    fs.writeFileSync(path.join(dir, 'train', 'two.py'), two.join('\n'));
    fs.writeFileSync(path.join(dir, 'other.py'), one.join('\n'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), ...args], { cwd: dir, encoding: 'utf8' });
    const models = (file: string) => JSON.parse(cli('models', file, '--format', 'json').stdout).models;
    const bound = models('train/one.py');
    assert.equal(bound.length, 1);
    assert.equal(bound[0].source, 'onnx');
    assert.equal(bound[0].totalParams, 1_517);
    // Two models in the script: the setting cannot say which; outside the glob it does not apply.
    assert.deepEqual(models('train/two.py'), []);
    assert.deepEqual(models('other.py'), []);
    const check = cli('check', '.', '--format', 'json');
    const frz016 = JSON.parse(check.stdout).findings.filter((f: { rule: string }) => f.rule === 'FRZ016').map((f: { path: string }) => f.path);
    assert.deepEqual(frz016, ['train/one.py']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an export elsewhere in the workspace binds the models built by the same function', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-workspace-export-'));
  try {
    fs.mkdirSync(path.join(dir, 'exports'));
    fs.copyFileSync(fixture('tiny_transformer.preserve.onnx'), path.join(dir, 'exports', 'tagger.onnx'));
    fs.writeFileSync(path.join(dir, 'export.py'), ['import torch', 'from my_models import build_tagger', '', 'model = build_tagger(vocab=50)', 'torch.onnx.export(model, torch.randint(0, 50, (1, 6)), "exports/tagger.onnx")', ''].join('\n'));
    fs.writeFileSync(path.join(dir, 'train.py'), ['import torch', 'import my_models', '', 'net = my_models.build_tagger(vocab=50).to("cpu")', 'for n, p in net.named_parameters():', '    if not n.startswith("head."):', '        p.requires_grad = False', ''].join('\n'));
    const models = () => JSON.parse(spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'models', 'train.py', '--format', 'json'], { cwd: dir, encoding: 'utf8' }).stdout).models;
    const bound = models();
    assert.equal(bound.length, 1);
    assert.equal(bound[0].source, 'onnx');
    assert.deepEqual([bound[0].totalParams, bound[0].trainableParams], [3_107, 51]);
    // A second export of the same builder to another file: which one describes this model is unknown.
    fs.copyFileSync(fixture('tiny_cnn.preserve.onnx'), path.join(dir, 'exports', 'other.onnx'));
    fs.writeFileSync(path.join(dir, 'export2.py'), ['import torch', 'from my_models import build_tagger', 'm = build_tagger(vocab=9)', 'torch.onnx.export(m, x, "exports/other.onnx")', ''].join('\n'));
    assert.deepEqual(models(), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('select, ignore and severity apply to the ONNX rules, from pyproject.toml and the command line', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-onnx-config-'));
  try {
    fs.copyFileSync(fixture('tiny_cnn.training.onnx'), path.join(dir, 'm.onnx'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'onnx', 'm.onnx', '--format', 'json', ...args], { cwd: dir, encoding: 'utf8' });
    const codes = (r: ReturnType<typeof cli>) => JSON.parse(r.stdout).diagnostics.map((d: { ruleId: string; severity: string }) => `${d.ruleId}:${d.severity}`);
    assert.deepEqual(codes(cli()), ['FRZ101:warning', 'FRZ102:warning']);
    assert.deepEqual(codes(cli('--ignore', 'FRZ102')), ['FRZ101:warning']);
    fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[tool.freezelens]\nseverity = { FRZ101 = "error" }\n');
    const r = cli();
    assert.deepEqual(codes(r), ['FRZ101:error', 'FRZ102:warning']);
    assert.equal(r.status, 1, 'an error-severity finding fails the run');
    assert.equal(r.stderr, '', 'FRZ101 is a known code in the configuration');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
