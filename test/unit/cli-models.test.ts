/**
 * `freezelens models` as a user runs it: the built CLI in a child process,
 * on the examples, on a file that only defines classes (`--call`), and on
 * catalog names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'bin', 'freezelens.js');

function models(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [CLI, 'models', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface JsonNode {
  path: string;
  class: string;
  params: number | null;
  buffers: number | null;
  children: JsonNode[];
}

function nodes(n: JsonNode): JsonNode[] {
  return [n, ...n.children.flatMap(nodes)];
}

test('models FILE --format json: exactly the documented keys, exact counts, state at the end of the script', () => {
  const r = models(['examples/finetune_resnet.py', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out), ['models']);
  assert.equal(out.models.length, 1);
  const m = out.models[0];
  assert.deepEqual(Object.keys(m), ['name', 'source', 'call', 'totalParams', 'trainableParams', 'root']);
  assert.equal(m.name, 'model');
  assert.equal(m.source, 'catalog');
  assert.equal(m.call, 'models.resnet18(weights=None)');
  // resnet18 with fc replaced by Linear(512, 10): 11,689,512 - 513,000 + 5,130.
  assert.equal(m.totalParams, 11_181_642);
  // conv1 (9,408) and bn1 (128) are frozen; `layer1.requires_grad = False` freezes nothing.
  assert.equal(m.trainableParams, 11_181_642 - 9_408 - 128);
  for (const n of nodes(m.root)) assert.deepEqual(Object.keys(n), ['path', 'class', 'params', 'buffers', 'children']);
  const all = nodes(m.root);
  assert.deepEqual(all.slice(0, 5).map((n) => n.path), ['', 'conv1', 'bn1', 'relu', 'maxpool']);
  const fc = all.find((n) => n.path === 'fc')!;
  assert.deepEqual([fc.class, fc.params, fc.buffers], ['Linear', 5_130, 0]);
  const bn = all.find((n) => n.path === 'layer4.1.bn2')!;
  assert.deepEqual([bn.class, bn.params, bn.buffers], ['BatchNorm2d', 1_024, 1_025]);
  // Sums of own counts give the total: nothing counted twice.
  assert.equal(all.reduce((s, n) => s + (n.params ?? 0), 0), m.totalParams);
});

test('models FILE --call evaluates a constructor in the file scope; unknown counts are null', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-models-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'net.py'),
      [
        'import os',
        'import torch.nn as nn',
        '',
        'class Net(nn.Module):',
        '    def __init__(self, num_classes=10, width=int(os.environ.get("WIDTH", 8))):',
        '        super().__init__()',
        '        self.body = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU())',
        '        self.head = nn.Linear(16, num_classes)',
        '        self.extra = nn.Linear(width, 2)',
        '',
      ].join('\n'),
    );
    const r = models(['net.py', '--call', 'Net(num_classes=7, width=4)', '--format', 'json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout).models[0];
    assert.equal(m.source, 'class');
    assert.equal(m.call, 'Net(num_classes=7, width=4)');
    // conv 3*16*9+16 = 448; bn 32; head 16*7+7 = 119; extra 4*2+2 = 10.
    assert.equal(m.totalParams, 448 + 32 + 119 + 10);
    assert.equal(m.root.class, 'Net');

    const unknown = JSON.parse(models(['net.py', '--call', 'Net(num_classes=7)', '--format', 'json'], dir).stdout).models[0];
    assert.equal(unknown.totalParams, null);
    assert.equal(nodes(unknown.root).find((n: JsonNode) => n.path === 'extra')?.params, null);
    assert.equal(nodes(unknown.root).find((n: JsonNode) => n.path === 'head')?.params, 119);

    const missing = models(['net.py', '--call', 'Nope()'], dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Nope\(\) does not build a model FreezeLens can follow/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('models --catalog: torchvision, timm and Hugging Face names; text table', () => {
  const tv = JSON.parse(models(['--catalog', 'vit_b_16', '--format', 'json']).stdout).models[0];
  assert.equal(tv.totalParams, 86_567_656);
  assert.equal(tv.trainableParams, 86_567_656);
  const hf = JSON.parse(models(['--catalog', 'roberta-base', '--format', 'json']).stdout).models[0];
  assert.equal(hf.totalParams, 124_645_632);
  const text = models(['--catalog', 'resnet18', '--num-classes', '10']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^resnet18 = torchvision\.models\.resnet18\(num_classes=10\)  \[catalog\]\n  trains 11,181,642 of 11,181,642 params \(100\.00%\)\n/);
  assert.match(text.stdout, /\n {8}bn2 +BatchNorm2d +128 +128 +129  BN\n/);
  const none = models(['--catalog', 'resnet5000']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /'resnet5000' is not in the catalog/);
  assert.equal(models(['--catalog', 'resnet18', '--format', 'sarif']).code, 2);
  assert.equal(models([]).code, 2);
});
