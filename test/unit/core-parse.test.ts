import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parser } from '@lezer/python';
import type { Tree } from '@lezer/common';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import { LineIndex } from '../../server/src/python/lineIndex';
import { maskMagics, NotebookFormatError, readNotebook } from '../../server/src/python/notebook';

function shape(tree: Tree): string {
  const out: string[] = [];
  tree.iterate({ enter: (n) => void out.push(`${n.name}@${n.from}-${n.to}`) });
  return out.join(' ');
}

/** A tiny deterministic PRNG so the edit sequence is the same on every run. */
function prng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

test('incremental reparse after random edits gives the same tree as a full parse', () => {
  const base = Array.from({ length: 200 }, (_, i) => `def f${i}(x):\n    model.layer${i % 4}.requires_grad = False\n    return x + ${i}\n`).join('');
  const unit = new SourceUnit('t.py', base);
  void unit.tree;
  const rand = prng(7);
  const alphabet = 'abc_().:=\n ';
  for (let i = 0; i < 300; i++) {
    const at = Math.floor(rand() * unit.text.length);
    if (rand() < 0.6) unit.applyChanges([{ from: at, to: at, insert: alphabet[Math.floor(rand() * alphabet.length)] }]);
    else unit.applyChanges([{ from: at, to: Math.min(unit.text.length, at + 1 + Math.floor(rand() * 3)), insert: '' }]);
    if (i % 50 === 0) assert.equal(shape(unit.tree), shape(parser.parse(unit.text)), `after edit ${i}`);
  }
  assert.equal(shape(unit.tree), shape(parser.parse(unit.text)));
});

test('replaceText keeps the tree right when the whole text is resent', () => {
  const unit = new SourceUnit('t.py', 'a = 1\nb = 2\nc = 3\n');
  void unit.tree;
  unit.replaceText('a = 1\nb = model.x\nc = 3\n');
  assert.equal(unit.text, 'a = 1\nb = model.x\nc = 3\n');
  assert.equal(shape(unit.tree), shape(parser.parse(unit.text)));
});

test('LineIndex handles \\n, \\r\\n, lone \\r and clamps out-of-range positions', () => {
  const idx = new LineIndex('ab\r\ncd\ref\n');
  assert.deepEqual(idx.positionAt(0), { line: 0, character: 0 });
  assert.deepEqual(idx.positionAt(4), { line: 1, character: 0 });
  assert.deepEqual(idx.positionAt(7), { line: 2, character: 0 });
  assert.equal(idx.lineCount, 4);
  assert.equal(idx.lineText(0), 'ab');
  assert.equal(idx.lineText(1), 'cd');
  assert.equal(idx.offsetAt({ line: 0, character: 99 }), 2);
  assert.equal(idx.offsetAt({ line: 99, character: 0 }), 10);
  assert.deepEqual(idx.positionAt(-5), { line: 0, character: 0 });
});

test('magics become comments of the same length', () => {
  const src = '%matplotlib inline\nimport torch\n  !pip install timm\nx = 1';
  const masked = maskMagics(src);
  assert.equal(masked.length, src.length);
  assert.equal(masked, '#matplotlib inline\nimport torch\n  #pip install timm\nx = 1');
  assert.equal(maskMagics('%%bash\nls -la\n'), '#%bash\n#s -la\n');
  assert.equal(maskMagics('%%time\nx = f()\n'), '#%time\nx = f()\n');
});

test('readNotebook reads code cells and maps every cell line to its .ipynb line', () => {
  const nb = JSON.stringify(
    {
      cells: [
        { cell_type: 'markdown', metadata: {}, source: ['# title'] },
        { cell_type: 'code', metadata: {}, outputs: [], source: ['import torch\n', 'model = f()\n', 'model.x = 1'] },
        { cell_type: 'code', metadata: {}, outputs: [], source: 'a = 1\nb = 2' },
      ],
      metadata: { kernelspec: { language: 'python' } },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  );
  const cells = readNotebook(nb);
  assert.equal(cells.length, 2);
  assert.equal(cells[0].index, 1);
  assert.equal(cells[0].source, 'import torch\nmodel = f()\nmodel.x = 1');
  const fileLines = nb.split('\n');
  cells[0].fileLines.forEach((fileLine, i) => assert.ok(fileLines[fileLine].includes(cells[0].source.split('\n')[i]), `cell line ${i}`));
  assert.equal(cells[1].fileLines.length, 2);
  assert.equal(cells[1].fileLines[0], cells[1].fileLines[1], 'a one-string source stays on one file line');
});

test('readNotebook: invalid JSON and non-notebooks give clear errors; other languages give no cells', () => {
  assert.throws(() => readNotebook('{"cells": [\n{"cell_type": "code",\n}'), (e: Error) => e instanceof NotebookFormatError && /invalid notebook JSON at line 3/.test(e.message));
  assert.throws(() => readNotebook('{"foo": 1}'), /no "cells" array/);
  assert.throws(() => readNotebook(''), NotebookFormatError);
  const r = JSON.stringify({ cells: [{ cell_type: 'code', source: 'x <- 1' }], metadata: { kernelspec: { language: 'R' } } });
  assert.deepEqual(readNotebook(r), []);
});
