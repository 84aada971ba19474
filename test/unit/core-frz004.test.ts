import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFix, check, preferredFix, py } from './helpers';
import { DEFAULT_CONFIG } from '../../server/src/config/config';

const header = py`
  import torch
  import torch.nn as nn
  from torchvision import models
`;

function frz004Lines(source: string): number[] {
  return check(source).findings.filter((f) => f.ruleId === 'FRZ004').map((f) => f.line);
}

test('module.requires_grad = False on a torchvision submodule is flagged and fixed', () => {
  const src = header + py`
    model = models.resnet18(weights=None)
    model.layer1.requires_grad = False
  `;
  const { findings } = check(src);
  assert.equal(findings.length, 1);
  const [f] = findings;
  assert.equal(f.ruleId, 'FRZ004');
  assert.equal(f.line, 5);
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /looks like a submodule of the nn\.Module `model`/);
  assert.match(f.message, /nothing is frozen/);
  assert.equal(f.related.length, 1, 'points at where the model is created');
  const fixed = applyFix(src, preferredFix(f)!);
  assert.match(fixed, /^model\.layer1\.requires_grad_\(False\)$/m);
  assert.deepEqual(frz004Lines(fixed), []);
});

test('a name bound to an nn layer is certainly a module; the message says why', () => {
  const { findings } = check(header + 'head = nn.Linear(512, 10)\nhead.requires_grad = False\n');
  assert.equal(findings.length, 1);
  assert.match(findings[0].message, /`head` is an nn\.Module \(created by nn\.Linear\(\)\)/);
});

test('requires_grad on tensors is correct and stays silent', () => {
  const src = header + py`
    model = models.resnet50(weights=None)
    for p in model.parameters():
        p.requires_grad = False
    for name, param in model.named_parameters():
        if name.startswith("layer4"):
            param.requires_grad = True
    model.fc.weight.requires_grad = False
    x = torch.randn(3, requires_grad=True)
    x.requires_grad = False
    w = nn.Parameter(torch.zeros(4))
    w.requires_grad = False
    first = next(model.parameters())
    first.requires_grad = False
    params = list(model.parameters())
    for p in params:
        p.requires_grad = False
    params[0].requires_grad = True
  `;
  assert.deepEqual(frz004Lines(src), []);
});

test('items of modules() and named_children() are modules', () => {
  const src = header + py`
    model = models.resnet18()
    for m in model.modules():
        m.requires_grad = False
    for name, child in model.named_children():
        child.requires_grad = False
    for i, (name, child) in enumerate(model.named_children()):
        child.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), [6, 8, 10]);
});

test('misspellings are flagged on tensors, modules and unknown receivers', () => {
  const src = header + py`
    model = models.resnet18()
    for p in model.parameters():
        p.require_grad = False
    model.fc.requires_grads = False
    something.required_grad = False
    model.layer4.requires_grad_ = False
  `;
  const { findings } = check(src);
  assert.deepEqual(findings.map((f) => f.line), [6, 7, 8, 9]);
  assert.match(findings[0].message, /not a tensor attribute/);
  assert.equal(preferredFix(findings[0])!.edits[0].newText, 'requires_grad');
  assert.match(findings[1].message, /not an nn\.Module attribute/);
  assert.match(findings[2].message, /cannot tell whether `something` is a tensor or an nn\.Module/);
  assert.equal(preferredFix(findings[2])!.edits[0].newText, 'something.required_grad_(False)'.replace('required_grad_', 'requires_grad_'));
});

test('configuration objects and non-torch values are left alone', () => {
  const src = header + py`
    import argparse
    args = argparse.ArgumentParser().parse_args()
    args.require_grad = False
    cfg.requires_grads = True
    settings = {"a": 1}
    settings.required_grad = False
    n = 3
    n.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), []);
});

test('attributes that usually hold parameters are not guessed to be modules', () => {
  const src = header + py`
    vit = models.vit_b_16()
    vit.class_token.requires_grad = False
    vit.encoder.pos_embedding.requires_grad = False
    clip_model = make_clip()
    clip_model.logit_scale.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), []);
});

test('classes deriving from nn.Module: self, self.attr and instances', () => {
  const src = header + py`
    class Backbone(nn.Module):
        pass

    class Net(Backbone):
        def __init__(self):
            super().__init__()
            self.encoder = models.resnet50()
            self.scale = nn.Parameter(torch.ones(1))
            self.head = nn.Linear(2048, 3)

        def freeze(self):
            self.encoder.requires_grad = False
            self.scale.requires_grad = False
            self.requires_grad = False

    net = Net()
    net.head.requires_grad = False
    net.scale.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), [15, 17, 20]);
});

test('a plain class is not a module', () => {
  const src = header + py`
    class Holder:
        def __init__(self):
            self.requires_grad = False
    h = Holder()
    h.requires_grad = True
  `;
  assert.deepEqual(frz004Lines(src), []);
});

test('head replacement decides what the attribute is from then on', () => {
  const src = header + py`
    model = models.resnet18()
    model.fc = nn.Linear(512, 10)
    model.fc.requires_grad = False
    model.fc.weight.requires_grad = False
  `;
  const { findings } = check(src);
  assert.deepEqual(findings.map((f) => f.line), [6]);
  assert.match(findings[0].message, /`model\.fc` is an nn\.Module \(created by nn\.Linear\(\)\)/);
});

test('function parameters: annotations and what every caller passes', () => {
  const src = header + py`
    def freeze(module: nn.Module):
        module.requires_grad = False

    def freeze_all(m):
        m.requires_grad = False

    def set_flag(t: torch.Tensor):
        t.requires_grad = False

    model = models.resnet18()
    freeze_all(model.layer1)
    freeze_all(model)
  `;
  assert.deepEqual(frz004Lines(src), [5, 8]);
});

test('a parameter whose callers disagree, or that has no callers, is unknown and stays silent', () => {
  const src = header + py`
    def toggle(x):
        x.requires_grad = False

    model = models.resnet18()
    toggle(model)
    toggle(torch.zeros(3))

    def never_called(y):
        y.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), []);
});

test('factories that return models are followed', () => {
  const src = header + py`
    import timm
    from transformers import AutoModelForSequenceClassification

    def build():
        m = models.efficientnet_b0()
        return m

    a = build()
    a.features.requires_grad = False
    b = timm.create_model("resnet50", pretrained=True, num_classes=10)
    b.layer1.requires_grad = False
    c = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased", num_labels=3)
    c.bert.requires_grad = False
    d = models.get_model("resnet18")
    d.layer2.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), [12, 14, 16, 18]);
});

test('a name rebound on one branch only is unknown; rebound before the use is decided', () => {
  const src = header + py`
    model = models.resnet18()
    if cond:
        model = torch.zeros(3)
    model.requires_grad = False
    model = nn.Linear(3, 3)
    model.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), [9]);
});

test('chained assignment is reported without a rewrite', () => {
  const { findings } = check(header + 'm = nn.Linear(2, 2)\nm.requires_grad = flag = False\n');
  assert.equal(findings.length, 1);
  assert.equal(findings[0].fixes.length, 0);
});

test('value True reads as unfreezing; a variable reads neutrally', () => {
  const t = check(header + 'm = nn.Linear(2, 2)\nm.requires_grad = True\n').findings[0];
  assert.match(t.message, /nothing is unfrozen/);
  const v = check(header + 'm = nn.Linear(2, 2)\nm.requires_grad = finetune\n').findings[0];
  assert.match(v.message, /no parameter changes whether it trains/);
  assert.equal(preferredFix(v)!.edits[0].newText, 'm.requires_grad_(finetune)');
});

test('suppression comments: one rule, all rules, other rules, and strings that only look like one', () => {
  const src = header + py`
    m = nn.Linear(2, 2)
    m.requires_grad = False  # freezelens: ignore[FRZ004]
    m.requires_grad = False  # freezelens: ignore
    m.requires_grad = False  # freezelens: ignore[FRZ001]
    s = "# freezelens: ignore"; m.requires_grad = False
    m.requires_grad = False  # noqa  # freezelens: ignore[frz004, FRZ002]
  `;
  assert.deepEqual(frz004Lines(src), [7, 8]);
});

test('configuration: ignore, select and severity overrides apply', () => {
  const src = header + 'm = nn.Linear(2, 2)\nm.requires_grad = False\n';
  assert.equal(check(src, { ...DEFAULT_CONFIG, ignore: ['FRZ004'] }).findings.length, 0);
  assert.equal(check(src, { ...DEFAULT_CONFIG, select: ['FRZ0'] }).findings.length, 1);
  assert.equal(check(src, { ...DEFAULT_CONFIG, severity: { FRZ004: 'off' } }).findings.length, 0);
  assert.equal(check(src, { ...DEFAULT_CONFIG, severity: { FRZ004: 'error' } }).findings[0].severity, 'error');
});

test('import styles all resolve', () => {
  const src = py`
    import torch.nn
    import torchvision.models as tvm
    from torch import nn as N
    from torchvision.models import resnet34
    a = torch.nn.Linear(2, 2)
    a.requires_grad = False
    b = tvm.resnet18()
    b.layer1.requires_grad = False
    c = N.Conv2d(3, 8, 3)
    c.requires_grad = False
    d = resnet34()
    d.layer3.requires_grad = False
    e = N.Sequential(N.Linear(2, 2), N.ReLU())
    e[0].requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), [6, 8, 10, 12, 14]);
});

test('an unresolvable base class makes instances unknown, so correct spelling stays silent', () => {
  const src = header + py`
    from mylib import Base
    class Thing(Base):
        pass
    t = Thing()
    t.requires_grad = False
  `;
  assert.deepEqual(frz004Lines(src), []);
});
