// The workspace class index: top-level classes and imports read line by line,
// nn.Module-ness through workspace base classes, incremental updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkspaceIndex } from '../../server/src/engine/workspaceIndex';

test('classes, bases through the workspace, docstrings skipped, imports', () => {
  const index = new WorkspaceIndex();
  index.update('/w/base.py', 'import torch.nn as nn\nfrom torch import nn as tnn\n\nclass Encoder(nn.Module):\n    """\nclass Fake(nn.Module):\n    """\n    pass\n\nclass Plain:\n    pass\n');
  index.update('/w/heads.py', 'from .base import Encoder\nimport models.blocks, utils\n\nclass Tuned(Encoder, metaclass=Meta):\n    pass\n\nclass Lit(pl.LightningModule):\n    pass\n\nclass Seq(nn.Sequential): pass\n');
  assert.deepEqual(index.moduleClasses().map((c) => c.name).sort(), ['Encoder', 'Lit', 'Seq', 'Tuned']);
  assert.deepEqual(index.find('Tuned')[0], { name: 'Tuned', file: '/w/heads.py', line: 3, bases: ['Encoder'] });
  assert.equal(index.find('Fake').length, 0, 'a class line inside a docstring is not a class');
  assert.deepEqual(index.file('/w/heads.py')?.imports, [{ module: 'base', level: 1 }, { module: 'models.blocks', level: 0 }, { module: 'utils', level: 0 }]);
  assert.deepEqual(index.importersOf('models'), ['/w/heads.py']);

  // Incremental: the base class stops being a module, and so does its subclass.
  index.update('/w/base.py', 'class Encoder:\n    pass\n');
  assert.deepEqual(index.moduleClasses().map((c) => c.name).sort(), ['Lit', 'Seq']);
  index.remove('/w/heads.py');
  assert.deepEqual(index.moduleClasses(), []);
});

test('a folder is indexed without virtual environments and caches', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-index-'));
  try {
    fs.mkdirSync(path.join(dir, 'pkg'));
    fs.mkdirSync(path.join(dir, '.venv', 'lib'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.writeFileSync(path.join(dir, 'pkg', 'net.py'), 'import torch\nclass Net(torch.nn.Module):\n    pass\n');
    fs.writeFileSync(path.join(dir, '.venv', 'lib', 'torch_thing.py'), 'class Hidden(nn.Module):\n    pass\n');
    fs.writeFileSync(path.join(dir, 'node_modules', 'x.py'), 'class Hidden2(nn.Module):\n    pass\n');
    const index = new WorkspaceIndex();
    assert.equal(index.addFolder(dir), 1);
    assert.deepEqual(index.moduleClasses().map((c) => c.name), ['Net']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
