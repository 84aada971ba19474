// Helpers imported from other workspace files are followed at their call
// sites: the core with an in-memory resolver, and the CLI on real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkProgram } from '../../server/src/engine/check';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import type { ImportResolver } from '../../server/src/python/program';
import { py } from './helpers';

const ROOT = path.resolve(__dirname, '../../..');

/** Checks `main` with the given modules importable by dotted name; returns "RULE@line" of the main file. */
function checkWith(main: string, modules: Record<string, string>) {
  const asked: string[] = [];
  const units = new Map(Object.entries(modules).map(([name, text]) => [name, new SourceUnit(`${name}.py`, text)]));
  const resolveImport: ImportResolver = (module, level) => {
    asked.push(`${'.'.repeat(level)}${module}`);
    return units.get(module);
  };
  const unit = new SourceUnit('train.py', main);
  const result = checkProgram({ id: 'train.py', units: [unit], resolveImport });
  return {
    asked,
    notes: result.notes,
    findings: result.findings.map((f) => `${f.ruleId}@${unit.lines.positionAt(f.span.from).line + 1}`).sort(),
    raw: result.findings,
  };
}

const TRAIN = py`
  for epoch in range(2):
      model.train()
      for x, y in loader:
          optimizer.zero_grad()
          F.cross_entropy(model(x), y).backward()
          optimizer.step()
`;

const HELPERS = py`
  import torch.nn as nn


  def freeze_backbone(model):
      for name, param in model.named_parameters():
          if not name.startswith("fc."):
              param.requires_grad = False


  def set_bn_eval(model):
      for m in model.modules():
          if isinstance(m, nn.BatchNorm2d):
              m.eval()
`;

test('a freeze helper imported with `from helpers import ...` is followed: FRZ002 at the train() call', () => {
  const main = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models
    from helpers import freeze_backbone

    model = models.resnet18(weights=None)
    model.fc = nn.Linear(512, 3)
    freeze_backbone(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
  ` + TRAIN;
  const r = checkWith(main, { helpers: HELPERS });
  assert.deepEqual(r.findings, ['FRZ002@12']);
  assert.ok(r.asked.includes('helpers'));
  assert.ok(!r.asked.includes('torch') && !r.asked.includes('torchvision'), 'libraries are never looked up');
});

test('the BN helper imported as a module (`import helpers as h`) puts BatchNorm back in eval: silent', () => {
  const main = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models
    import helpers as h

    model = models.resnet18(weights=None)
    model.fc = nn.Linear(512, 3)
    h.freeze_backbone(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for epoch in range(2):
        model.train()
        h.set_bn_eval(model)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  assert.deepEqual(checkWith(main, { helpers: HELPERS }).findings, []);
});

test('without the module (not in the workspace) the helper is an unknown call, and the rules stay silent', () => {
  const main = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models
    from helpers import freeze_backbone

    model = models.resnet18(weights=None)
    model.fc = nn.Linear(512, 3)
    freeze_backbone(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
  ` + TRAIN;
  assert.deepEqual(checkWith(main, {}).findings, []);
});

test('mistakes inside an imported module are reported when that file is checked, not in the importer', () => {
  const helpers = py`
    def freeze(model):
        model.layer1.requires_grad = False
  `;
  const main = py`
    from torchvision import models
    from helpers import freeze

    model = models.resnet18(weights=None)
    freeze(model)
  `;
  const r = checkWith(main, { helpers });
  assert.deepEqual(r.findings, []);
  assert.ok(r.raw.every((f) => f.span.unit === 0 && f.related.every((x) => x.span.unit === 0)));
});

test('cyclic imports (a imports b imports a) are followed once and finish', () => {
  const a = py`
    from b import build_head


    def attach(model, n):
        model.fc = build_head(n)
        return model
  `;
  const b = py`
    import torch.nn as nn
    from a import attach


    def build_head(n):
        return nn.Linear(512, n)
  `;
  const main = py`
    import torch
    import torch.nn.functional as F
    from torchvision import models
    from a import attach

    model = models.resnet18(weights=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model = attach(model, 3)
  ` + TRAIN;
  const r = checkWith(main, { a, b });
  // The replacement happens inside attach() in a.py: reported at the call that ran it, naming the place.
  assert.deepEqual(r.findings, ['FRZ009@8']);
  const f = r.raw[0];
  assert.match(f.message, /\(in code this call runs, at a\.py:5\)$/);
  assert.deepEqual(f.fixes, [], 'no fix: it would have to edit the other file');
});

test('a long chain of imports stops at the depth cap with a note, and the analysis finishes', () => {
  const modules: Record<string, string> = {};
  for (let i = 0; i < 30; i++) modules[`m${i}`] = `from m${i + 1} import f${i + 1}\n\ndef f${i}(model):\n    return f${i + 1}(model)\n`;
  const main = 'from torchvision import models\nfrom m0 import f0\n\nmodel = models.resnet18(weights=None)\nf0(model)\nmodel.layer1.requires_grad = False\n';
  const r = checkWith(main, modules);
  assert.deepEqual(r.findings, ['FRZ004@6'], 'the unrelated mistake is still reported');
  assert.ok(r.notes.some((n) => /imports nested deeper than \d+ modules are not followed/.test(n)), r.notes.join('\n'));
});

test('CLI: a script importing a package module and a sibling file, in a real folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-imports-'));
  try {
    fs.mkdirSync(path.join(dir, 'utils'));
    fs.writeFileSync(path.join(dir, 'utils', '__init__.py'), '');
    fs.writeFileSync(path.join(dir, 'utils', 'freezing.py'), HELPERS);
    fs.writeFileSync(
      path.join(dir, 'train.py'),
      py`
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torchvision import models
        from utils.freezing import freeze_backbone

        model = models.resnet18(weights=None)
        model.fc = nn.Linear(512, 3)
        freeze_backbone(model)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
      ` + TRAIN,
    );
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/freezelens.js'), 'check', '--format', 'json', dir], { encoding: 'utf8' });
    const report = JSON.parse(r.stdout);
    const got = report.findings.map((f: { path: string; rule: string; line: number }) => `${path.basename(f.path)}:${f.rule}@${f.line}`);
    assert.deepEqual(got, ['train.py:FRZ002@12']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
