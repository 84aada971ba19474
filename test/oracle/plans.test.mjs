// Generated freeze-plan code against real PyTorch. For every preset (and
// each BatchNorm policy) on torchvision's resnet18 with a new head and on a
// small workspace class, `freezelens plan --format json` writes the code;
// plan_steps.py pastes it after the model's construction and trains a few
// optimizer steps on random data. Then, from the plan alone:
//   - frozen parameters are unchanged and do not require grad; every other
//     parameter changed;
//   - frozen BatchNorm's running statistics are unchanged (eval and frozen
//     policies), and move under the train policy;
//   - each trainable parameter sits in a param group at the plan's LR;
//   - gradual unfreezing trains the last stage after `every` epochs, the
//     next one after 2 * every, at their planned LRs;
// and the scripts (construction, snippet, a training loop) have no
// FreezeLens findings.
//
//   node --test test/oracle/plans.test.mjs     (about 30 s; torch under /usr/bin/python3)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ensureCliBuilt } from './findings.mjs';
import { PYTHON, ROOT, checkPython, runProcess } from './run-fixtures.mjs';

const CLI = join(ROOT, 'bin', 'freezelens.js');
const RUNNER = join(ROOT, 'test', 'oracle', 'plan_steps.py');

const HEADER = 'import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom torchvision import models\n';
const TINYNET = `import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) + x


class TinyNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.ModuleList([Block(8) for _ in range(3)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x).flatten(1))
`;

const MODELS = {
  resnet18: {
    // What the script says (pretrained weights, a new head); what runs here (no download).
    script: `${HEADER}\nmodel = models.resnet18(weights="DEFAULT")\nmodel.fc = nn.Linear(model.fc.in_features, 10)\n`,
    run: (s) => s.replace('weights="DEFAULT"', 'weights=None'),
    input: [2, 3, 64, 64],
    classes: 10,
  },
  tinynet: {
    script: `${HEADER}from tinynet import TinyNet\n\nmodel = TinyNet()\n`,
    run: (s) => s,
    input: [2, 3, 8, 8],
    classes: 5,
  },
};

const CASES = [
  ['resnet18', 'linear-probe', 'eval', 'adamw'],
  ['resnet18', 'linear-probe', 'frozen', 'adamw'],
  ['resnet18', 'freeze-to:layer2', 'eval', 'sgd'],
  ['resnet18', 'freeze-to:layer3', 'train', 'adamw'],
  ['resnet18', 'full', 'eval', 'adamw'],
  ['resnet18', 'bn-only', 'eval', 'adamw'],
  ['resnet18', 'gradual:1', 'eval', 'adamw'],
  ['resnet18', 'discriminative:2.6', 'eval', 'sgd'],
  ['tinynet', 'linear-probe', 'eval', 'sgd'],
  ['tinynet', 'freeze-to:blocks.1', 'frozen', 'adamw'],
  ['tinynet', 'freeze-to:0', 'train', 'adamw'],
  ['tinynet', 'full', 'eval', 'adam'],
  ['tinynet', 'bn-only', 'eval', 'adamw'],
  ['tinynet', 'gradual:1', 'eval', 'sgd'],
  ['tinynet', 'discriminative:2', 'eval', 'adamw'],
];

let dir;
let results;
const cases = [];

before(async () => {
  checkPython();
  ensureCliBuilt();
  dir = mkdtempSync(join(tmpdir(), 'freezelens-plans-'));
  writeFileSync(join(dir, 'tinynet.py'), TINYNET);
  for (const [name, m] of Object.entries(MODELS)) writeFileSync(join(dir, `${name}_model.py`), m.script);
  for (const [model, preset, bn, optimizer] of CASES) {
    const m = MODELS[model];
    const r = spawnSync(process.execPath, [CLI, 'plan', '--model', `${model}_model.py:model`, '--preset', preset, '--bn', bn, '--optimizer', optimizer, '--format', 'json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${model} ${preset}: ${r.stderr}`);
    const { code, plan, summary } = JSON.parse(r.stdout);
    const id = `${model}_${preset.replace(/\W/g, '_')}_${bn}_${optimizer}`;
    const epochs = plan.gradualEvery ? 2 * plan.gradualEvery + 1 : 2;
    // The whole script, as a user would have it after inserting the code.
    const loop = `\n\nfor epoch in range(${epochs}):\n${plan.gradualEvery ? '    unfreeze_for_epoch(epoch)\n' : ''}    model.train()\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = F.cross_entropy(model(x), y)\n        loss.backward()\n        optimizer.step()\n`;
    writeFileSync(join(dir, `${id}.py`), `${m.script}\n${code}${loop}`);
    cases.push({ id, model, preset, bn, optimizer, plan, summary, code, epochs, setup: `import sys\nsys.path.insert(0, ${JSON.stringify(dir)})\n${m.run(m.script)}`, input: m.input, classes: m.classes });
  }
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases.map((c) => ({ id: c.id, setup: c.setup, code: c.code, epochs: c.epochs, input: c.input, classes: c.classes }))));
  const run = await runProcess(PYTHON, [RUNNER, join(dir, 'cases.json'), join(dir, 'out.json')], { cwd: dir, env: { OMP_NUM_THREADS: '2' }, timeoutMs: 300_000 });
  assert.equal(run.code, 0, run.stderr);
  results = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const under = (name, path) => path === '' || name === path || name.startsWith(`${path}.`);

/** The LR the plan gives a parameter (from its stage), as codegen's rule says: head at lr, a stage d before it at lr*decay^d or lr/lrSplit. */
function plannedLr(plan, name) {
  if (plan.head && plan.head.paths.some((p) => under(name, p))) return plan.lr;
  const i = plan.stages.findIndex((s) => s.paths.some((p) => under(name, p)));
  assert.ok(i >= 0, `${name} is in no stage`);
  const depth = plan.stages.length - i;
  return plan.decay !== null ? plan.lr * plan.decay ** depth : plan.lrSplit !== null ? plan.lr / plan.lrSplit : plan.lr;
}

/** Paths unfrozen by gradual unfreezing within `epochs` epochs: the last frozen stages, one per `every` epochs. */
function unfrozenBy(plan, epochs) {
  if (!plan.gradualEvery) return [];
  const frozenStages = [...plan.stages].reverse().filter((s) => s.paths.some((p) => plan.frozen.some((f) => under(p, f))));
  const steps = Math.floor((epochs - 1) / plan.gradualEvery);
  return frozenStages.slice(0, steps).flatMap((s) => s.paths);
}

for (const [model, preset, bn, optimizer] of CASES) {
  test(`${model} ${preset} (BN ${bn}, ${optimizer}): frozen stays, the rest trains at the planned LRs`, () => {
    const c = cases.find((x) => x.model === model && x.preset === preset && x.bn === bn);
    const r = results[c.id];
    assert.ok(!r.error, r.error);
    const unfrozen = unfrozenBy(c.plan, c.epochs);
    let frozenCount = 0;
    let trainedCount = 0;
    for (const [name, p] of Object.entries(r.params)) {
      const planFrozen = c.plan.frozen.some((f) => under(name, f)) && !(bn === 'train' && p.batchnorm);
      const laterUnfrozen = unfrozen.some((u) => under(name, u));
      if (planFrozen && !laterUnfrozen) {
        frozenCount++;
        assert.equal(p.changed, false, `${name} is frozen but changed`);
        assert.equal(p.requires_grad, false, `${name} is frozen but requires grad`);
        assert.equal(p.lr, null, `${name} is frozen but in the optimizer`);
      } else {
        trainedCount++;
        assert.equal(p.changed, true, `${name} trains but did not change`);
        // The code writes LRs to 4 significant digits.
        assert.ok(Math.abs(p.lr - plannedLr(c.plan, name)) <= 1e-3 * plannedLr(c.plan, name), `${name}: lr ${p.lr}, planned ${plannedLr(c.plan, name)}`);
      }
    }
    assert.equal(trainedCount > 0, true);
    if (preset !== 'full' && preset.split(':')[0] !== 'discriminative') assert.ok(frozenCount > 0, 'the plan froze something');
    // Frozen BatchNorm statistics: fixed under eval and frozen, adapting under train.
    for (const [name, b] of Object.entries(r.buffers)) {
      if (!b.batchnorm || !/running_(mean|var)$/.test(name)) continue;
      const inFrozen = c.plan.frozen.some((f) => under(name, f)) && !unfrozen.some((u) => under(name, u));
      assert.equal(b.changed, !inFrozen || bn === 'train', `${name}: running statistics ${b.changed ? 'moved' : 'stayed'} (frozen part: ${inFrozen}, policy ${bn})`);
    }
    // Trainable-param counts agree with the summary (FrozenBatchNorm2d holds buffers, not parameters).
    if (bn !== 'frozen' && !c.plan.gradualEvery) {
      const trainable = Object.entries(r.params).filter(([, p]) => p.requires_grad).length;
      assert.ok(trainable > 0);
    }
  });
}

test('every generated script has no FreezeLens findings', () => {
  const r = spawnSync(process.execPath, [CLI, 'check', ...cases.map((c) => `${c.id}.py`), '--format', 'json'], { cwd: dir, encoding: 'utf8' });
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.findings.map((f) => `${f.path}:${f.line} ${f.rule} ${f.message}`), []);
  assert.equal(out.filesChecked, cases.length);
});

test('the summary counts what PyTorch counts: trainable parameters at the start, and the total', () => {
  for (const c of cases) {
    const params = Object.values(results[c.id].params);
    const sum = (xs) => xs.reduce((n, p) => n + p.numel, 0);
    assert.equal(c.summary.trainableParams, sum(params.filter((p) => p.trainable_at_start)), `${c.id}: trainable`);
    // FrozenBatchNorm2d keeps its weight and bias as buffers: PyTorch no longer counts them as parameters.
    if (c.bn !== 'frozen') assert.equal(c.summary.totalParams, sum(params), `${c.id}: total`);
  }
});
