// Model structure in scripts: workspace nn.Module classes evaluated from
// __init__, catalog models and head replacements, what trains at the end of
// the script, and the uses (hover counts, CodeLens, FRZ016, FRZ002/FRZ013).
// Exactness against real torch is the oracle's job (test/oracle/models.test.mjs);
// these pin the semantics with counts worked out by hand in the comments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../server/src/analysis/analyze';
import { hoverAt, optimizerLenses } from '../../server/src/engine/inspect';
import { modelReports, type ModelReport, type ModelTreeNode } from '../../server/src/engine/models';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import type { ImportResolver } from '../../server/src/python/program';
import { check, py } from './helpers';

function models(source: string, modules: Record<string, string> = {}): ModelReport[] {
  const units = new Map(Object.entries(modules).map(([name, text]) => [name, new SourceUnit(`${name}.py`, text)]));
  const resolveImport: ImportResolver = (module) => units.get(module);
  return modelReports(analyze({ id: 'train.py', units: [new SourceUnit('train.py', source)], resolveImport }));
}

function only(source: string, modules: Record<string, string> = {}): ModelReport {
  const all = models(source, modules);
  assert.equal(all.length, 1, `one model expected, got ${all.map((m) => m.name).join(', ')}`);
  return all[0];
}

function node(root: ModelTreeNode, path: string): ModelTreeNode {
  const walk = (n: ModelTreeNode): ModelTreeNode | undefined => (n.path === path ? n : n.children.map(walk).find(Boolean));
  const found = walk(root);
  assert.ok(found, `no module ${path}`);
  return found;
}

function paths(root: ModelTreeNode): string[] {
  return [root.path, ...root.children.flatMap(paths)];
}

test('layers, defaults, arithmetic and a ModuleList built in a loop give exact counts', () => {
  const m = only(py`
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, dim, expand=4):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.fc1 = nn.Linear(dim, dim * expand)
            self.fc2 = nn.Linear(dim * expand, dim, bias=False)

    class Net(nn.Module):
        def __init__(self, dim=16, depth=3, num_classes=10):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, kernel_size=(3, 3), bias=False)
            self.bn = nn.BatchNorm2d(dim)
            self.blocks = nn.ModuleList()
            for _ in range(depth):
                self.blocks.append(Block(dim))
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.register_buffer("mask", torch.ones(dim, dim))
            self.head = nn.Linear(dim, num_classes)

    model = Net(depth=2)
  `);
  // stem 3*16*9 = 432; bn 32 params, 33 buffers; block: norm 32 + fc1 16*64+64 = 1088 + fc2 64*16 = 1024 -> 2144;
  // cls_token 16; head 16*10+10 = 170. Total 432 + 32 + 2*2144 + 16 + 170 = 4938.
  assert.equal(m.totalParams, 4938);
  assert.equal(m.trainableParams, 4938);
  assert.equal(m.source, 'class');
  assert.deepEqual(paths(m.root), ['', 'stem', 'bn', 'blocks', 'blocks.0', 'blocks.0.norm', 'blocks.0.fc1', 'blocks.0.fc2', 'blocks.1', 'blocks.1.norm', 'blocks.1.fc1', 'blocks.1.fc2', 'head']);
  assert.equal(m.root.params, 16); // cls_token is the model's own parameter
  assert.equal(m.root.buffers, 256);
  assert.equal(node(m.root, 'bn').buffers, 33);
  assert.equal(node(m.root, 'blocks.1.fc2').params, 1024);
});

test('a class that freezes its backbone in __init__ trains only its head', () => {
  const m = only(py`
    import torch.nn as nn
    from torchvision import models

    class Classifier(nn.Module):
        def __init__(self, num_classes=7):
            super().__init__()
            self.backbone = models.resnet18(weights=None)
            self.backbone.fc = nn.Identity()
            for p in self.backbone.parameters():
                p.requires_grad = False
            self.head = nn.Linear(512, num_classes)

    model = Classifier()
  `);
  // resnet18 without fc: 11,689,512 - 513,000 = 11,176,512; head 512*7+7 = 3,591.
  assert.equal(m.totalParams, 11_176_512 + 3_591);
  assert.equal(m.trainableParams, 3_591);
  assert.equal(node(m.root, 'backbone.fc').class, 'Identity');
  assert.equal(node(m.root, 'backbone.layer4').trainable, false);
  assert.equal(node(m.root, 'head').trainable, true);
});

test('a head replaced in the script updates the tree and the counts; hover shows them', () => {
  const source = py`
    import torch
    import torch.nn as nn
    import torchvision

    model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(512, 10)
    model.layer4
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01)
  `;
  const m = only(source);
  // 11,689,512 - 513,000 + 5,130
  assert.equal(m.totalParams, 11_181_642);
  assert.equal(m.trainableParams, 5_130);
  assert.equal(m.source, 'catalog');
  assert.equal(node(m.root, 'fc').params, 5_130);
  assert.equal(node(m.root, 'layer4.1.bn2').batchNorm, true);

  const analysis = analyze({ id: 'train.py', units: [new SourceUnit('train.py', source)] });
  const at = source.indexOf('model.layer4') + 'model.lay'.length;
  const hover = hoverAt(analysis, 0, at);
  // layer4: 8,393,728 params (torchvision resnet18), all frozen here.
  assert.match(hover?.markdown ?? '', /trains 0 of 8,393,728 params \(0\.00%\)/);
  const lenses = optimizerLenses(analysis);
  assert.equal(lenses.length, 1);
  assert.match(lenses[0].title, /^SGD trains 5,130 of 11,181,642 params \(0\.05%\)/);
});

test('what cannot be known is unknown, never guessed', () => {
  const m = only(py`
    import json
    import torch.nn as nn
    import thirdparty

    class Wrapper(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.proj = nn.Linear(cfg["dim"], 10)
            self.extra = thirdparty.Block(64)
            self.head = nn.Linear(64, 2)

    model = Wrapper(json.load(open("cfg.json")))
  `);
  assert.equal(m.totalParams, null);
  assert.equal(m.trainableParams, null);
  assert.equal(node(m.root, 'proj').params, null);
  assert.equal(node(m.root, 'head').params, 130);
  assert.equal(m.root.partial, true);
});

test('a branch on an unknown condition leaves what it builds unknown', () => {
  const m = only(py`
    import sys
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, use_bn):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            if use_bn:
                self.norm = nn.BatchNorm2d(8)

    model = Net(len(sys.argv) > 1)
  `);
  assert.equal(m.totalParams, null);
  assert.equal(node(m.root, 'conv').params, 224);
});

test('a module registered twice counts once, tied weights count once', () => {
  const m = only(py`
    import torch.nn as nn

    class LM(nn.Module):
        def __init__(self, vocab=100, d=8):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.act = nn.ReLU()
            self.also = self.act
            self.head = nn.Linear(d, vocab, bias=False)
            self.head.weight = self.embed.weight

    model = LM()
  `);
  assert.deepEqual(paths(m.root), ['', 'embed', 'act', 'head']);
  assert.equal(node(m.root, 'head').params, 800);
  assert.equal(m.totalParams, 800);
});

test('classes imported from another workspace file, inheritance and helper methods', () => {
  const m = only(
    py`
    import torch.nn as nn
    from blocks import ConvBN

    class Base(nn.Module):
        def __init__(self, widths=(8, 16)):
            super().__init__()
            self.features = self._make(widths)
            self.head = nn.Linear(widths[-1], 1000)

        def _make(self, widths):
            layers = []
            c = 3
            for w in widths:
                layers.append(ConvBN(c, w))
                c = w
            return nn.Sequential(*layers)

    class Tuned(Base):
        def __init__(self, num_classes):
            super().__init__(widths=(8, 16, 32))
            self.head = nn.Linear(32, num_classes)

    model = Tuned(5)
  `,
    {
      blocks: py`
      import torch.nn as nn

      def ConvBN(c_in, c_out):
          return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
    `,
    },
  );
  // convs 3*8*9 + 8*16*9 + 16*32*9 = 216 + 1152 + 4608; BN 2*(8+16+32) = 112; head 32*5+5 = 165.
  assert.equal(m.totalParams, 216 + 1152 + 4608 + 112 + 165);
  assert.deepEqual(m.root.children.map((c) => c.path), ['features', 'head']);
  assert.equal(node(m.root, 'features.2.1').class, 'BatchNorm2d');
});

test('FRZ016: a name filter that matches no parameter of a known model', () => {
  const bad = check(py`
    import torch
    from torchvision import models

    model = models.resnet50(weights="DEFAULT")
    for name, p in model.named_parameters():
        if name.startswith("layers.0"):
            p.requires_grad = False
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
  `);
  const f = bad.findings.filter((x) => x.ruleId === 'FRZ016');
  assert.equal(f.length, 1);
  assert.match(f[0].message, /`name\.startswith\("layers\.0"\)` matches no parameter of `model` \(resnet50\)/);
  assert.equal(bad.unit.text.slice(f[0].span.from, f[0].span.to), '"layers.0"');

  const good = check(py`
    import torch
    from torchvision import models

    model = models.resnet50(weights="DEFAULT")
    for name, p in model.named_parameters():
        if name.startswith("layer1.") or "bn" in name:
            p.requires_grad = False
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
  `);
  assert.deepEqual(good.findings.filter((x) => x.ruleId === 'FRZ016'), []);

  // Unknown structure: silent.
  const unknown = check(py`
    import torch
    import thirdparty

    model = thirdparty.build()
    for name, p in model.named_parameters():
        if name.startswith("layers.0"):
            p.requires_grad = False
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
  `);
  assert.deepEqual(unknown.findings.filter((x) => x.ruleId === 'FRZ016'), []);
});

test('FRZ002 and FRZ013 follow where BatchNorm and Dropout really are', () => {
  // A frozen ViT in train mode has Dropout but no BatchNorm: FRZ013, never FRZ002.
  const vit = check(py`
    import torch
    from torchvision import models

    model = models.vit_b_16(weights="DEFAULT", dropout=0.1)
    model.heads.head = torch.nn.Linear(768, 3)
    for p in model.encoder.parameters():
        p.requires_grad = False
    optimizer = torch.optim.Adam(model.heads.parameters(), lr=1e-3)
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
  `);
  assert.ok(!vit.findings.some((f) => f.ruleId === 'FRZ002'), 'no BatchNorm in a ViT');
  // A frozen block without Dropout layers in a user class: no FRZ013.
  const plain = check(py`
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.0))
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.body(x))

    model = Net()
    model.body.requires_grad_(False)
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()
  `);
  assert.ok(!plain.findings.some((f) => f.ruleId === 'FRZ013' || f.ruleId === 'FRZ002'), plain.findings.map((f) => f.ruleId).join());
});

test('FRZ016 states the consequence of the whole filter: negated, combined, computed', () => {
  const negated = check(py`
    import torch
    from torchvision import models

    model = models.vit_b_16(weights="DEFAULT")
    for name, p in model.named_parameters():
        if "fc" not in name:
            p.requires_grad = False
  `).findings.filter((f) => f.ruleId === 'FRZ016');
  assert.equal(negated.length, 1);
  assert.match(negated[0].message, /`"fc" in name` matches no parameter of `model` \(vit_b_16\), so the negated test selects every parameter: everything is frozen by it/);

  // One arm of an `or` is a typo; the other still selects layer1, so no claim that nothing is frozen.
  const combined = check(py`
    from torchvision import models

    model = models.resnet18(weights="DEFAULT")
    for name, p in model.named_parameters():
        if name.startswith("layer1.") or name.startswith("layr2."):
            p.requires_grad = False
  `).findings.filter((f) => f.ruleId === 'FRZ016');
  assert.equal(combined.length, 1);
  assert.match(combined[0].message, /^`name\.startswith\("layr2\."\)` matches no parameter of `model` \(resnet18\)\. Its top-level modules/);

  // Prefixes computed with an f-string: the finding goes on the `if` test.
  const computed = check(py`
    from torchvision import models

    model = models.resnet18(weights="DEFAULT")
    prefixes = tuple(f"layers.{i}." for i in range(2))
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad = False
  `);
  const f = computed.findings.filter((x) => x.ruleId === 'FRZ016');
  assert.equal(f.length, 1);
  assert.equal(f[0].line, 6);
  assert.match(f[0].message, /None of `name\.startswith\("layers\.0\."\)`, `name\.startswith\("layers\.1\."\)`/);
});

test('class trees reused across keystrokes follow edits to what the class reads', () => {
  const source = (width: number, helper: string) => py`
    import torch.nn as nn
    from blocks import make

    WIDTH = ${width}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = make(WIDTH)
            self.head = nn.Linear(WIDTH, 2)

    model = Net()
  ` + `\n# ${helper}\n`;
  const blocks = (out: number) => py`
    import torch.nn as nn

    def make(w):
        return nn.Linear(w, ${out})
  `;
  // body w*4+4, head w*2+2
  assert.equal(only(source(8, 'a'), { blocks: blocks(4) }).totalParams, 36 + 18);
  assert.equal(only(source(8, 'b'), { blocks: blocks(4) }).totalParams, 36 + 18);
  assert.equal(only(source(16, 'b'), { blocks: blocks(4) }).totalParams, 68 + 34, 'a module-level constant changed');
  assert.equal(only(source(16, 'b'), { blocks: blocks(3) }).totalParams, 51 + 34, 'a helper in another file changed');
});

test('name filters are decided on the real parameter names of a known model', () => {
  // Checked against torch 1.13 / torchvision 0.14: the trainable counts after each loop.
  const bn = only(py`
    from torchvision import models

    model = models.resnet18(weights=None)
    for n, p in model.named_parameters():
        if "bn" in n:
            p.requires_grad = False
  `);
  // The BatchNorms named bn1/bn2 (7,808 params), not the downsample ones.
  assert.equal(bn.trainableParams, 11_681_704);

  const stage = only(py`
    from torchvision import models

    model = models.resnet18(weights=None)
    for p in model.parameters():
        p.requires_grad = False
    for n, p in model.named_parameters():
        if "layer4" in n or n.startswith("fc"):
            p.requires_grad = True
  `);
  assert.equal(stage.trainableParams, 8_906_728);

  // A filter with a typo keeps nothing trainable: the optimizer over the trainable params raises.
  const typo = check(py`
    import torch
    from torchvision import models

    model = models.resnet18(weights=None)
    for n, p in model.named_parameters():
        if "fcc" not in n:
            p.requires_grad = False
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
  `);
  assert.deepEqual(typo.findings.map((f) => `${f.ruleId}@${f.line}`), ['FRZ016@6', 'FRZ010@8']);
});
