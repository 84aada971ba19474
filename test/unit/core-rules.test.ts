import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFix, check, py, pythonCompiles } from './helpers';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import { checkProgram } from '../../server/src/engine/check';

/** Findings as "RULE@line", sorted, for compact assertions. */
function findings(source: string): string[] {
  return check(source)
    .findings.map((f) => `${f.ruleId}@${f.line}`)
    .sort();
}

const HEAD = py`
  import torch
  import torch.nn as nn
  import torch.nn.functional as F
  from torchvision import models
`; // 4 lines; the first line of a body below is line 5

test('FRZ001 harmless (information) and FRZ002 on a frozen ResNet backbone trained in train mode', () => {
  const src = HEAD + py`
    model = models.resnet18(weights=None)
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(512, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(2):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
  `;
  const r = check(src).findings;
  assert.deepEqual(r.map((f) => `${f.ruleId}@${f.line}`), ['FRZ001@9', 'FRZ002@11']);
  assert.equal(r[0].severity, 'information');
  assert.match(r[0].message, /harmless as written/);
  assert.match(r[1].message, /`model` \(all but `fc`\) is frozen but its BatchNorm layers are in train mode/);
});

test('trap: BatchNorm put back in eval after every model.train() stays silent for FRZ002', () => {
  const src = HEAD + py`
    model = models.resnet50(weights=None)
    model.requires_grad_(False)
    model.fc = nn.Linear(2048, 3)
    opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-3)
    for epoch in range(2):
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
  `;
  assert.deepEqual(findings(src), []);
});

test('trap: a train() override that keeps the frozen backbone in eval', () => {
  const src = HEAD + py`
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(8, 2)
            self.backbone.requires_grad_(False)

        def train(self, mode=True):
            super().train(mode)
            self.backbone.eval()
            return self

        def forward(self, x):
            return self.head(self.backbone(x))

    model = Net()
    opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(src), []);
});

test('FRZ002 fires for a workspace class whose frozen part holds BatchNorm, not for one without', () => {
  const body = (norm: string) =>
    HEAD +
    py`
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), ${norm}, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.backbone(x))

    model = Net()
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(body('nn.BatchNorm2d(8)')), ['FRZ002@17']);
  assert.deepEqual(findings(body('nn.GroupNorm(2, 8)')), []);
});

test('FRZ005: unfrozen after a filtered optimizer, never added; add_param_group silences it', () => {
  const base = (extra: string) =>
    HEAD +
    py`
    model = models.resnet18(weights=None)
    model.requires_grad_(False)
    model.fc = nn.Linear(512, 4)
    opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(3):
        if epoch == 1:
            model.layer4.requires_grad_(True)
            ${extra}
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
  `;
  // The frozen ResNet also keeps its BatchNorm in train mode (the default): FRZ002 at the step.
  assert.deepEqual(findings(base('pass')), ['FRZ002@16', 'FRZ005@11']);
  assert.deepEqual(findings(base('opt.add_param_group({"params": model.layer4.parameters(), "lr": 0.001})')), ['FRZ002@16']);
});

test('FRZ006: frozen after gradients, zero_grad(set_to_none=False), momentum; set_to_none=True is silent', () => {
  const base = (setToNone: string) =>
    HEAD +
    py`
    model = models.resnet18(weights=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def run(n):
        for x, y in loader:
            opt.zero_grad(set_to_none=${setToNone})
            F.cross_entropy(model(x), y).backward()
            opt.step()

    run(1)
    for p in model.layer1.parameters():
        p.requires_grad = False
    run(1)
  `;
  assert.deepEqual(findings(base('False')), ['FRZ002@12', 'FRZ006@16']);
  assert.deepEqual(findings(base('True')), ['FRZ002@12']);
});

test('FRZ006 relies on zero_grad()\'s default, which the torch version decides', () => {
  const src =
    HEAD +
    py`
    model = nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for step in range(2):
        if step == 1:
            model.weight.requires_grad = False
        opt.zero_grad()
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
  `;
  assert.deepEqual(findings(src), [], 'assumed torch >= 2.0: zero_grad() sets grads to None');
});

test('FRZ007: a comparison written where an assignment was meant, with the fix', () => {
  const r = check(HEAD + 'model = models.resnet18()\nfor p in model.parameters():\n    p.requires_grad == False\n').findings;
  assert.deepEqual(r.map((f) => `${f.ruleId}@${f.line}`), ['FRZ007@7']);
  assert.equal(r[0].fixes[0].edits[0].newText, '=');
});

test('FRZ008: a later loop re-enables everything before training; unfreezing only the head is fine', () => {
  const undone = HEAD + py`
    model = models.resnet18()
    for p in model.parameters():
        p.requires_grad = False
    for p in model.parameters():
        p.requires_grad = True
  `;
  assert.deepEqual(findings(undone), ['FRZ008@9']);
  const head = HEAD + py`
    model = models.resnet18()
    for p in model.parameters():
        p.requires_grad = False
    for p in model.fc.parameters():
        p.requires_grad = True
  `;
  assert.deepEqual(findings(head), []);
});

test('FRZ009: a head assigned after the optimizer never trains; assigned before is fine', () => {
  const after = HEAD + py`
    model = models.resnet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.fc = nn.Linear(512, 10)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(after), ['FRZ009@7']);
  const before = after.replace('opt = torch.optim.SGD(model.parameters(), lr=0.01)\nmodel.fc = nn.Linear(512, 10)', 'model.fc = nn.Linear(512, 10)\nopt = torch.optim.SGD(model.parameters(), lr=0.01)');
  assert.deepEqual(findings(before), []);
});

test('FRZ010: a filtered optimizer over a fully frozen model', () => {
  const src = HEAD + py`
    model = models.resnet18()
    model.requires_grad_(False)
    opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-3)
  `;
  const r = check(src).findings;
  assert.deepEqual(r.map((f) => `${f.ruleId}@${f.line}`), ['FRZ010@7']);
  assert.equal(r[0].severity, 'error');
});

test('FRZ011: eval() used as a freeze; trap: validation eval() then train() again is silent', () => {
  const src = HEAD + py`
    model = models.resnet18()
    model.layer1.eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(src), ['FRZ011@6']);
  const validation = HEAD + py`
    model = models.resnet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(2):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        model.eval()
  `;
  assert.deepEqual(findings(validation), []);
});

test('FRZ012: track_running_stats toggled on existing BatchNorm layers', () => {
  const src = HEAD + py`
    model = models.resnet18()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
  `;
  assert.deepEqual(findings(src), ['FRZ012@8']);
});

test('FRZ003 and FRZ015: LR split between a pretrained backbone and a new head', () => {
  const make = (groups: string) =>
    HEAD +
    py`
    model = models.resnet18(weights="DEFAULT")
    model.fc = nn.Linear(512, 10)
    opt = torch.optim.SGD(${groups}, lr=0.01)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(make('model.parameters()')), ['FRZ003@7']);
  const backbone = '[p for n, p in model.named_parameters() if not n.startswith("fc.")]';
  assert.deepEqual(findings(make(`[{"params": ${backbone}, "lr": 0.001}, {"params": model.fc.parameters(), "lr": 0.01}]`)), []);
  assert.deepEqual(findings(make(`[{"params": ${backbone}, "lr": 0.1}, {"params": model.fc.parameters(), "lr": 0.01}]`)), ['FRZ015@7']);
  // Training from scratch (weights=None): no pretrained features to protect.
  assert.deepEqual(findings(make('model.parameters()').replace('weights="DEFAULT"', 'weights=None')), []);
});

test('FRZ014: a trainable module in the optimizer that only runs under no_grad; trap: a linear probe', () => {
  const src = HEAD + py`
    backbone = models.resnet18()
    head = nn.Linear(1000, 2)
    opt = torch.optim.SGD(list(backbone.parameters()) + list(head.parameters()), lr=0.01)
    for x, y in loader:
        with torch.no_grad():
            feats = backbone(x)
        opt.zero_grad()
        F.cross_entropy(head(feats), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(src), ['FRZ014@10']);
  const probe = src
    .replace('list(backbone.parameters()) + list(head.parameters())', 'head.parameters()')
    .replace('backbone = models.resnet18()', 'backbone = models.resnet18()\nbackbone.requires_grad_(False)');
  // BatchNorm updates its running statistics in train mode even under no_grad.
  assert.deepEqual(findings(probe), ['FRZ002@14']);
  assert.deepEqual(findings(probe.replace('backbone.requires_grad_(False)', 'backbone.requires_grad_(False)\nbackbone.eval()')), []);
});

test('FRZ017: freezing after DistributedDataParallel wrapping', () => {
  const src = HEAD + py`
    from torch.nn.parallel import DistributedDataParallel as DDP
    model = DDP(models.resnet18())
    model.module.layer1.requires_grad_(False)
  `;
  assert.deepEqual(findings(src), ['FRZ017@7']);
});

test('an unknown helper that receives the model silences the rules about it', () => {
  const src = HEAD + py`
    from mylib import freeze_layers
    model = models.resnet18()
    freeze_layers(model, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
  `;
  assert.deepEqual(findings(src), []);
});

test('requires_grad from a name test: True where it holds, False elsewhere', () => {
  const src = HEAD + py`
    model = models.resnet18()
    model.fc = nn.Linear(512, 5)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("fc.")
    opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    for epoch in range(3):
        if epoch == 1:
            for p in model.layer4.parameters():
                p.requires_grad = True
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
  `;
  assert.deepEqual(findings(src), ['FRZ002@17', 'FRZ005@13']);
});

/** The whole text after applying every edit of a fix (edits may be in any order). */


const FROZEN_RESNET_TRAINING = py`
  from torchvision import models
  from torch import nn, optim
  import torch.nn.functional as F

  model = models.resnet18(weights=None)
  for p in model.parameters():
      p.requires_grad = False
  model.fc = nn.Linear(512, 3)
  opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
  for epoch in range(2):
      model.train()
      for x, y in loader:
          opt.zero_grad()
          F.cross_entropy(model(x), y).backward()
          opt.step()
`;

test('FRZ002 fixes: set_bn_eval after train(), or FrozenBatchNorm2d after the freeze; both leave no FRZ002', () => {
  const frz002 = check(FROZEN_RESNET_TRAINING).findings.find((f) => f.ruleId === 'FRZ002')!;
  assert.equal(frz002.fixes.length, 2);
  const [helper, convert] = frz002.fixes;
  assert.equal(helper.preferred, true);
  const a = applyFix(FROZEN_RESNET_TRAINING, helper);
  assert.match(a, /^import torch$/m, 'adds the import the helper needs');
  assert.match(a, /^def set_bn_eval\(module\):$/m);
  assert.match(a, /^ {4}model\.train\(\)\n {4}set_bn_eval\(model\)$/m, 'called right after train(), same indentation');
  assert.ok(pythonCompiles(a), a);
  assert.deepEqual(check(a).findings.filter((f) => f.ruleId === 'FRZ002'), []);

  const b = applyFix(FROZEN_RESNET_TRAINING, convert);
  assert.match(b, /^def convert_frozen_batchnorm\(module\):$/m);
  assert.match(b, /^for p in model\.parameters\(\):\n {4}p\.requires_grad = False\nconvert_frozen_batchnorm\(model\)$/m, 'after the freeze loop, not inside it');
  assert.ok(pythonCompiles(b), b);
  assert.deepEqual(check(b).findings.filter((f) => f.ruleId === 'FRZ002'), []);
});

test('FRZ001 fix filters the optimizer to trainable parameters; FRZ006 fix sets grads to None', () => {
  const frz001 = check(FROZEN_RESNET_TRAINING).findings.find((f) => f.ruleId === 'FRZ001')!;
  const fixed = applyFix(FROZEN_RESNET_TRAINING, frz001.fixes[0]);
  assert.match(fixed, /optim\.SGD\(filter\(lambda p: p\.requires_grad, model\.parameters\(\)\), lr=0\.1/);
  assert.deepEqual(check(fixed).findings.filter((f) => f.ruleId === 'FRZ001'), []);

  const stale = HEAD + py`
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for step in range(2):
        if step == 1:
            model.weight.requires_grad = False
        opt.zero_grad(set_to_none=False)
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
  `;
  const frz006 = check(stale).findings.find((f) => f.ruleId === 'FRZ006')!;
  assert.ok(frz006, 'FRZ006 fires');
  const noneFixed = applyFix(stale, frz006.fixes[0]);
  assert.match(noneFixed, /opt\.zero_grad\(set_to_none=True\)/);
  assert.deepEqual(check(noneFixed).findings.filter((f) => f.ruleId === 'FRZ006'), []);
});

test('FRZ012 fix replaces the toggle with eval()', () => {
  const src = HEAD + 'model = models.resnet18()\nfor m in model.modules():\n    if isinstance(m, nn.BatchNorm2d):\n        m.track_running_stats = False\n';
  const f = check(src).findings.find((x) => x.ruleId === 'FRZ012')!;
  assert.match(applyFix(src, f.fixes[0]), /^ {8}m\.eval\(\)$/m);
});

test('FRZ006 with torch 1.13 pinned: zero_grad() keeps zeroed gradients, and the message says why', () => {
  const src = HEAD + py`
    model = nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for step in range(2):
        if step == 1:
            model.weight.requires_grad = False
        opt.zero_grad()
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
  `;
  const r = checkProgram({ id: 't', units: [new SourceUnit('t', src)] }, undefined, { torchVersion: { major: 1, minor: 13, source: 'requirements.txt: torch==1.13.1' } });
  const f = r.findings.find((x) => x.ruleId === 'FRZ006');
  assert.ok(f, 'FRZ006 fires under torch 1.13');
  assert.match(f.message, /defaults to set_to_none=False in torch 1\.13, requirements\.txt: torch==1\.13\.1/);
});

// Whether a step moves a parameter whose grad is a zero tensor, per optimizer, measured with
// torch 1.13: `fresh` without earlier state, `state` after steps with real gradients.
const ZERO_GRAD_MOTION: [string, boolean, boolean][] = [
  ['SGD(ps, lr=0.1)', false, false],
  ['SGD(ps, lr=0.1, momentum=0.9)', false, true],
  ['SGD(ps, lr=0.1, weight_decay=0.1)', true, true],
  ['Adam(ps, lr=0.1)', false, true],
  ['Adam(ps, lr=0.1, weight_decay=0.1)', true, true],
  ['AdamW(ps, lr=0.1)', true, true],
  ['RMSprop(ps, lr=0.1)', false, false],
  ['RMSprop(ps, lr=0.1, momentum=0.9)', false, true],
  ['Adagrad(ps, lr=0.1)', false, false],
  ['Adadelta(ps, lr=0.1)', false, false],
  ['Rprop(ps, lr=0.1)', false, false],
  ['ASGD(ps, lr=0.1)', true, true],
  ['Adamax(ps, lr=0.1)', false, true],
  ['NAdam(ps, lr=0.1)', false, true],
  ['RAdam(ps, lr=0.1)', false, true],
];

test('FRZ006 fires exactly for optimizers whose state moves zero-grad params; FRZ001 warns exactly where decay moves them', () => {
  for (const [ctor, fresh, withState] of ZERO_GRAD_MOTION) {
    const midTraining = HEAD + py`
      model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
      ps = model.parameters()
      optimizer = torch.optim.${ctor}
      for epoch in range(3):
          if epoch == 1:
              model[0].requires_grad_(False)
          for x, y in loader:
              optimizer.zero_grad(set_to_none=False)
              F.cross_entropy(model(x), y).backward()
              optimizer.step()
    `;
    assert.equal(findings(midTraining).includes('FRZ006@10'), withState, `FRZ006 for ${ctor}: ${findings(midTraining)}`);

    // Phase 1 trains everything and leaves gradients; phase 2 freezes and builds a new optimizer over all.
    const frozenAtBuild = HEAD + py`
      model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
      warmup = torch.optim.SGD(model.parameters(), lr=0.1)
      for x, y in loader:
          warmup.zero_grad()
          F.cross_entropy(model(x), y).backward()
          warmup.step()
      model[0].requires_grad_(False)
      ps = model.parameters()
      optimizer = torch.optim.${ctor}
      for x, y in loader:
          optimizer.zero_grad(set_to_none=False)
          F.cross_entropy(model(x), y).backward()
          optimizer.step()
    `;
    const frz001 = check(frozenAtBuild).findings.find((f) => f.ruleId === 'FRZ001');
    assert.ok(frz001, `FRZ001 for ${ctor}`);
    assert.equal(frz001.severity, fresh ? 'warning' : 'information', `FRZ001 severity for ${ctor}`);
    assert.deepEqual(findings(frozenAtBuild).filter((f) => f.startsWith('FRZ006')), [], 'no FRZ006 for an optimizer built after the freeze');
  }
});

test('precision: DataParallel, no-op flag writes and find_unused_parameters=True freezes are not FRZ017', () => {
  const loop = py`
    for epoch in range(3):
        if epoch == 1:
            CHANGE
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  const make = (wrap: string, change: string) =>
    HEAD + py`
      from torch.nn.parallel import DistributedDataParallel as DDP
      model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
      model = ${wrap}
      optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ` + loop.replace('CHANGE', change);
  assert.deepEqual(findings(make('nn.DataParallel(model)', 'model.module[0].requires_grad_(False)')), []);
  assert.deepEqual(findings(make('DDP(model)', 'model.module[0].requires_grad_(True)')), [], 'already trainable: nothing changes');
  assert.deepEqual(findings(make('DDP(model, find_unused_parameters=True)', 'model.module[0].requires_grad_(False)')), []);
  assert.deepEqual(findings(make('DDP(model)', 'model.module[0].requires_grad_(False)')), ['FRZ017@11']);
});

test('precision: a parameterless head (nn.Identity) is no new head for FRZ003, and replacing it after the optimizer is no FRZ009', () => {
  const src = HEAD + py`
    model = models.resnet18(weights="DEFAULT")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.fc = nn.Identity()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
  `;
  assert.deepEqual(findings(src), []);
});

test('FRZ008 stays silent when the part is frozen again before training starts', () => {
  const src = HEAD + py`
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model[0].requires_grad_(False)
    model[0].requires_grad_(True)
    model[0].requires_grad_(False)
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
  `;
  assert.deepEqual(findings(src).filter((f) => f.startsWith('FRZ008')), []);
  assert.deepEqual(findings(src.replace(/\n[^\n]*requires_grad_\(False\)\nfor/, '\nfor')).filter((f) => f.startsWith('FRZ008')), ['FRZ008@8']);
});

test('FRZ010 for param-group dicts says the groups are empty (PyTorch accepts them), and analysis goes on', () => {
  const src = HEAD + py`
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model.requires_grad_(False)
    optimizer = torch.optim.SGD([{"params": [p for p in model.parameters() if p.requires_grad]}], lr=0.1)
  `;
  const [f] = check(src).findings;
  assert.equal(f.ruleId, 'FRZ010');
  assert.match(f.message, /accepts empty groups without an error/);
  const plain = check(src.replace('[{"params": [p for p in model.parameters() if p.requires_grad]}]', '[p for p in model.parameters() if p.requires_grad]')).findings;
  assert.match(plain[0].message, /raises "optimizer got an empty parameter list"/);
});

test('FRZ002 gives way to FRZ012 when track_running_stats was switched off', () => {
  const src = HEAD + py`
    model = models.resnet18(weights="DEFAULT")
    model.requires_grad_(False)
    model.fc = nn.Linear(512, 3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01)
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
  `;
  assert.deepEqual(findings(src), ['FRZ012@10']);
});

test('FRZ001 warns when a frozen part in the head\'s param group is unfrozen later; its own group keeps it silent', () => {
  const body = py`
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model[0].requires_grad_(False)
    OPTIMIZER
    for epoch in range(4):
        if epoch == 2:
            model[0].requires_grad_(True)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  const shared = check(HEAD + body.replace('OPTIMIZER', 'optimizer = torch.optim.SGD(model.parameters(), lr=0.1)')).findings;
  assert.deepEqual(shared.map((f) => `${f.ruleId}@${f.line}:${f.severity}`), ['FRZ001@7:warning']);
  assert.match(shared[0].message, /when `model\.0` is unfrozen on line 10 it trains at that group's learning rate \(lr=0\.1\)/);
  const own = body.replace(
    'OPTIMIZER',
    'optimizer = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01}, {"params": model[2].parameters()}], lr=0.1)',
  );
  assert.deepEqual(findings(HEAD + own), []);
});

test('FRZ014 for an encoder whose output is detached straight away', () => {
  const src = HEAD + py`
    encoder = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 8))
    classifier = nn.Linear(8, 3)
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(classifier.parameters()), lr=1e-3)
    for x, y in loader:
        z = encoder(x).detach()
        loss = F.cross_entropy(classifier(z), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
  `;
  assert.deepEqual(findings(src), ['FRZ014@9']);
  assert.deepEqual(findings(src.replace('encoder(x).detach()', 'encoder(x)')), []);
});

test('FRZ002 is silent when the frozen BatchNorm layers get momentum 0 (their running statistics cannot move)', () => {
  const src = HEAD + py`
    model = models.resnet18(weights="DEFAULT")
    model.requires_grad_(False)
    model.fc = nn.Linear(512, 3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.0
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01)
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
  `;
  assert.deepEqual(findings(src), []);
  assert.deepEqual(findings(src.replace('m.momentum = 0.0', 'm.momentum = 0.01')), ['FRZ002@12']);
});

test('FRZ010 at training time: the freeze that leaves nothing trainable before a backward', () => {
  const src = HEAD + py`
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    def train(epochs):
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
    train(1)
    model.requires_grad_(False)
    train(1)
  `;
  const f = check(src).findings.filter((x) => x.ruleId === 'FRZ010');
  assert.deepEqual(f.map((x) => x.line), [14]);
  assert.match(f[0].message, /the backward\(\) on line 11 raises "element 0 of tensors does not require grad/);
  assert.deepEqual(findings(src.replace('model.requires_grad_(False)', 'model[0].requires_grad_(False)')).filter((x) => x.startsWith('FRZ010')), []);
});

test('FRZ002 follows forward pre-hooks: a hook that puts frozen BatchNorm in eval keeps it there after model.train()', () => {
  const base = py`
    import torch
    import torch.nn as nn
    from torchvision import models

    model = models.resnet18(weights=None)
    model.fc = nn.Linear(512, 10)
    for p in model.layer1.parameters():
        p.requires_grad = False
  `;
  const loop = py`
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for x, y in loader:
        model.train()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
  `;
  // Built by hand: an interpolated multi-line body would be re-indented by py``.
  const hook = (...body: string[]) =>
    ['def hook(bn, inputs):', ...body.map((l) => `    ${l}`), '', '', 'for m in model.layer1.modules():', '    if isinstance(m, nn.BatchNorm2d):', '        m.register_forward_pre_hook(hook)', ''].join('\n');
  const rules = (src: string) => check(src).findings.map((f) => f.ruleId);
  assert.deepEqual(rules(base + loop), ['FRZ002']);
  assert.deepEqual(rules(base + hook('bn.eval()') + loop), []);
  // The hook decides on the parameters' flags: frozen ones, so eval.
  assert.deepEqual(rules(base + hook('if not any(p.requires_grad for p in bn.parameters()):', '    bn.eval()') + loop), []);
  // A hook that does something else, or the opposite test, leaves the drift.
  assert.deepEqual(rules(base + hook('print(bn)') + loop), ['FRZ002']);
  assert.deepEqual(rules(base + hook('if any(p.requires_grad for p in bn.parameters()):', '    bn.eval()') + loop), ['FRZ002']);
});

test('FRZ005: a list of the frozen parameters, unfrozen and then added with add_param_group, reaches the optimizer', () => {
  const src = (add: string) =>
    HEAD +
    py`
      model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
      model[0].requires_grad_(False)
      optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)


      def unfreeze(part):
          params = [p for p in part.parameters() if not p.requires_grad]
          for p in params:
              p.requires_grad_(True)
          ADD


      for epoch in range(3):
          if epoch == 1:
              unfreeze(model[0])
          for x, y in loader:
              optimizer.zero_grad()
              F.cross_entropy(model(x), y).backward()
              optimizer.step()
    `.replace('ADD', add);
  // The list was built while they were frozen: it still holds them after the flip.
  assert.deepEqual(check(src('optimizer.add_param_group({"params": params, "lr": 1e-3})')).findings.map((f) => f.ruleId), []);
  assert.deepEqual(check(src('pass')).findings.map((f) => f.ruleId), ['FRZ005']);
});
