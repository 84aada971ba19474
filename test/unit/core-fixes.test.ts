// Quick fixes for FRZ003, FRZ005, FRZ006, FRZ009 and FRZ011: each applied
// fix must give Python that compiles, keep the indentation, and make its
// finding go away on a re-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFix, check, py, pythonCompiles } from './helpers';
import { DEFAULT_CONFIG } from '../../server/src/config/config';
import type { Finding } from '../../server/src/rules/types';


function only(source: string, rule: string): Finding & { line: number } {
  const found = check(source).findings.filter((f) => f.ruleId === rule);
  assert.equal(found.length, 1, `one ${rule} in:\n${source}\n${JSON.stringify(check(source).findings.map((f) => f.ruleId))}`);
  return found[0];
}

const TRAIN_LOOP = py`
  for epoch in range(3):
      model.train()
      for x, y in loader:
          optimizer.zero_grad()
          F.cross_entropy(model(x), y).backward()
          optimizer.step()
`;

test('FRZ003: param groups split by name, the backbone at lr / 10, the factor from the configuration', () => {
  const src = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models

    model = models.resnet18(weights="IMAGENET1K_V1")
    model.fc = nn.Linear(512, 5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
  ` + TRAIN_LOOP;
  const f = only(src, 'FRZ003');
  const fix = f.fixes.find((x) => x.preferred)!;
  assert.match(fix.title, /lr \/ 10/);
  const fixed = applyFix(src, fix);
  assert.match(fixed, /"lr": 0\.01 \/ 10\}/);
  assert.match(fixed, /if not n\.startswith\(\("fc\.",\)\)\]/);
  assert.ok(pythonCompiles(fixed), fixed);
  assert.deepEqual(check(fixed).findings.filter((x) => x.ruleId === 'FRZ003' || x.ruleId === 'FRZ015'), []);

  const five = check(src, { ...DEFAULT_CONFIG, backboneLrFactor: 5 }).findings.find((x) => x.ruleId === 'FRZ003')!;
  assert.match(applyFix(src, five.fixes[0]), /"lr": 0\.01 \/ 5\}/);
});

test('FRZ005: add_param_group after the unfreeze loop, inside the epoch guard; the finding goes away', () => {
  const src = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models

    model = models.resnet18(weights=None)
    model.requires_grad_(False)
    model.fc = nn.Linear(512, 5)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for epoch in range(4):
        if epoch == 2:
            for p in model.layer4.parameters():
                p.requires_grad = True
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  const f = only(src, 'FRZ005');
  const fixed = applyFix(src, f.fixes[0]);
  assert.match(fixed, /^ {12}p\.requires_grad = True\n {8}optimizer\.add_param_group\(\{"params": \[p for p in model\.layer4\.parameters\(\) if p\.requires_grad and not any\(/m);
  assert.ok(pythonCompiles(fixed), fixed);
  assert.deepEqual(check(fixed).findings.filter((x) => x.ruleId === 'FRZ005'), []);
});

test('FRZ006: set_to_none=True (preferred), or clear the frozen gradients where they are frozen', () => {
  const src = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        if epoch == 1:
            model[0].requires_grad_(False)
        for x, y in loader:
            optimizer.zero_grad(set_to_none=False)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  const f = only(src, 'FRZ006');
  assert.equal(f.fixes.length, 2);
  const a = applyFix(src, f.fixes[0]);
  assert.match(a, /zero_grad\(set_to_none=True\)/);
  assert.deepEqual(check(a).findings.filter((x) => x.ruleId === 'FRZ006'), []);
  const b = applyFix(src, f.fixes[1]);
  assert.match(b, /^ {8}model\[0\]\.requires_grad_\(False\)\n {8}for p in model\[0\]\.parameters\(\):\n {12}p\.grad = None$/m);
  assert.ok(pythonCompiles(b), b);
});

test('FRZ009: add the new head with add_param_group (preferred), or build the optimizer after the replacement', () => {
  const src = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models

    model = models.resnet18(weights=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.fc = nn.Linear(512, 5)
  ` + TRAIN_LOOP;
  const f = only(src, 'FRZ009');
  assert.equal(f.fixes.length, 2);
  const add = applyFix(src, f.fixes[0]);
  assert.match(add, /^model\.fc = nn\.Linear\(512, 5\)\noptimizer\.add_param_group\(\{"params": model\.fc\.parameters\(\)\}\)$/m);
  assert.ok(pythonCompiles(add), add);
  assert.deepEqual(check(add).findings.filter((x) => x.ruleId === 'FRZ009'), []);
  const moved = applyFix(src, f.fixes[1]);
  assert.match(moved, /^model\.fc = nn\.Linear\(512, 5\)\noptimizer = torch\.optim\.SGD\(model\.parameters\(\), lr=0\.01\)\n/m);
  assert.ok(pythonCompiles(moved), moved);
  assert.deepEqual(check(moved).findings.filter((x) => x.ruleId === 'FRZ009'), []);
});

test('FRZ011: requires_grad_(False) after the eval() that was meant as a freeze', () => {
  const src = py`
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision import models

    model = models.resnet18(weights=None)
    model.fc = nn.Linear(512, 5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(3):
        model.train()
        model.layer1.eval()
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
  `;
  const f = only(src, 'FRZ011');
  const fixed = applyFix(src, f.fixes[0]);
  assert.match(fixed, /^ {4}model\.layer1\.eval\(\)\n {4}model\.layer1\.requires_grad_\(False\)$/m);
  assert.ok(pythonCompiles(fixed), fixed);
  assert.deepEqual(check(fixed).findings.filter((x) => x.ruleId === 'FRZ011'), []);
});
