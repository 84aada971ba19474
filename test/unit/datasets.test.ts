// The experiment datasets: ImageFolder (PNG and JPEG decoded, resized,
// normalised), CSV, NumPy arrays, the validation split, and the messages
// bad data gets, each naming the file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { npy } from './experimentData';
import { DatasetError, IMAGENET_MEAN, IMAGENET_STD, loadCsv, loadImageFolder, loadNumpy, parseNpy, resize, splitValidation, summarizeImageFolder } from '../../server/src/experiment/datasets';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-datasets-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, files: Record<string, Buffer>): string {
  const dir = path.join(tmp, name);
  for (const [rel, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), bytes);
  }
  return dir;
}

function png(w: number, h: number, rgb: [number, number, number]): Buffer {
  const p = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) p.data.set([...rgb, 255], i * 4);
  return PNG.sync.write(p);
}

function jpg(w: number, h: number, rgb: [number, number, number]): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], i * 4);
  return jpeg.encode({ data, width: w, height: h }, 100).data;
}

function expectError(f: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof DatasetError && e.file === file && pattern.test(e.message) && e.message.startsWith(file));
}

test('ImageFolder: classes from sorted folder names, PNG and JPEG decoded, resized and normalised in CHW; a corrupt image is skipped with a warning', () => {
  const dir = folder('images', {
    'dog/a.jpg': jpg(8, 6, [0, 0, 255]),
    'dog/broken.jpg': Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01]),
    'cat/b.png': png(5, 7, [255, 0, 0]),
    'cat/c.png': png(4, 4, [0, 255, 0]),
    'cat/notes.txt': Buffer.from('not an image'),
  });
  const ds = loadImageFolder(dir, { size: [3, 2] });
  assert.deepEqual(ds.classes, ['cat', 'dog']);
  assert.deepEqual(Array.from(ds.y), [0, 0, 1]);
  assert.deepEqual(ds.shape, [3, 3, 2]);
  assert.equal(ds.x.length, 3 * 3 * 3 * 2);
  assert.deepEqual(ds.sources.map((s) => path.relative(dir, s)), ['cat/b.png', 'cat/c.png', 'dog/a.jpg']);
  assert.equal(ds.warnings.length, 1);
  assert.match(ds.warnings[0], /dog\/broken\.jpg: not a readable image .*; skipped/);
  // A pure red PNG: channel 0 is (1 - mean) / std everywhere, channel 1 (0 - mean) / std.
  const plane = 6;
  for (let i = 0; i < plane; i++) {
    assert.ok(Math.abs(ds.x[i] - (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]) < 1e-5);
    assert.ok(Math.abs(ds.x[plane + i] - (0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]) < 1e-5);
  }
  // JPEG is lossy: a pure blue one decodes close to blue.
  const blue = ds.x.subarray(2 * 18 + 2 * plane, 2 * 18 + 3 * plane);
  for (const v of blue) assert.ok(Math.abs(v - (1 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]) < 0.1);
  // Mean and std can be set.
  const plain = loadImageFolder(dir, { size: [1, 1], mean: [0, 0, 0], std: [1, 1, 1] });
  assert.deepEqual(Array.from(plain.x.subarray(0, 3)), [1, 0, 0]);
});

test('bilinear resizing samples at half-pixel centres, as F.interpolate(align_corners=False) does', () => {
  // One row [0, 100] widened to 4: PyTorch gives [0, 25, 75, 100]; narrowed back, the centres' average.
  const row = { width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 255, 100, 100, 100, 255]) };
  assert.deepEqual(Array.from(resize(row, 1, 4).subarray(0, 4)), [0, 25, 75, 100]);
  assert.deepEqual(Array.from(resize(row, 1, 1).subarray(0, 1)), [50]);
});

test('ImageFolder errors name the folder: missing, no class folders, one class, a class without images', () => {
  expectError(() => loadImageFolder(path.join(tmp, 'nope'), { size: [2, 2] }), path.join(tmp, 'nope'), /no such folder/);
  const empty = folder('empty', { 'readme.txt': Buffer.from('x') });
  expectError(() => loadImageFolder(empty, { size: [2, 2] }), empty, /no class folders/);
  const one = folder('one', { 'cat/a.png': png(2, 2, [1, 2, 3]) });
  expectError(() => loadImageFolder(one, { size: [2, 2] }), one, /only one class folder \(cat\)/);
  const hollow = folder('hollow', { 'cat/a.png': png(2, 2, [1, 2, 3]), 'dog/x.txt': Buffer.from('x') });
  expectError(() => loadImageFolder(hollow, { size: [2, 2] }), path.join(hollow, 'dog'), /no PNG or JPEG images/);
  const broken = folder('broken', { 'cat/a.png': png(2, 2, [1, 2, 3]), 'dog/x.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0, 1]) });
  expectError(() => loadImageFolder(broken, { size: [2, 2] }), path.join(broken, 'dog'), /none of the images .* could be read/);
});

test('CSV: numeric features and a label column (named or last), labels as names or indices; errors name the line', () => {
  const dir = folder('csv', {
    'named.csv': Buffer.from('a,b,label\n1,2,cat\n3,4.5,dog\n"5",6,cat\n'),
    'indexed.csv': Buffer.from('f1,f2,target\n0.5,1,0\n1,2,2\n'),
    'bad.csv': Buffer.from('a,label\n1,x\nfive,y\n'),
    'ragged.csv': Buffer.from('a,b,label\n1,2,x\n3,y\n'),
    'single.csv': Buffer.from('a,label\n1,x\n2,x\n'),
  });
  const named = loadCsv(path.join(dir, 'named.csv'));
  assert.deepEqual(named.classes, ['cat', 'dog']);
  assert.deepEqual(Array.from(named.y), [0, 1, 0]);
  assert.deepEqual(Array.from(named.x), [1, 2, 3, 4.5, 5, 6]);
  assert.deepEqual(named.shape, [2]);
  const indexed = loadCsv(path.join(dir, 'indexed.csv'));
  assert.deepEqual(indexed.classes, ['0', '1', '2']);
  assert.deepEqual(Array.from(indexed.y), [0, 2]);
  expectError(() => loadCsv(path.join(dir, 'bad.csv')), path.join(dir, 'bad.csv'), /line 3, column 'a': 'five' is not a number/);
  expectError(() => loadCsv(path.join(dir, 'ragged.csv')), path.join(dir, 'ragged.csv'), /line 3 has 2 columns, the header 3/);
  expectError(() => loadCsv(path.join(dir, 'single.csv')), path.join(dir, 'single.csv'), /only one class/);
  expectError(() => loadCsv(path.join(dir, 'named.csv'), { label: 'species' }), path.join(dir, 'named.csv'), /no column 'species'/);
});

test('NumPy: an .npz with x and y, or two .npy files; int64 labels; mismatched sizes and unsupported arrays are named', () => {
  const x = npy('<f4', [3, 2, 2], Float32Array.from({ length: 12 }, (_, i) => i / 2));
  const y = npy('<i8', [3], BigInt64Array.from([0n, 1n, 1n]));
  const dir = folder('numpy', {
    'data.npz': Buffer.from(zipSync({ 'x.npy': x, 'y.npy': y })),
    'x.npy': x,
    'y.npy': y,
    'short.npy': npy('<i8', [2], BigInt64Array.from([0n, 1n])),
    'odd.npz': Buffer.from(zipSync({ 'images.npy': x })),
    'complex.npy': npy('<c8', [1], new Float32Array(2)),
  });
  const ds = loadNumpy(path.join(dir, 'data.npz'));
  assert.deepEqual(ds.shape, [2, 2]);
  assert.deepEqual(Array.from(ds.y), [0, 1, 1]);
  assert.equal(ds.x[5], 2.5);
  assert.deepEqual(Array.from(loadNumpy(path.join(dir, 'x.npy'), path.join(dir, 'y.npy')).x), Array.from(ds.x));
  expectError(() => loadNumpy(path.join(dir, 'x.npy'), path.join(dir, 'short.npy')), path.join(dir, 'short.npy'), /mismatched sizes: 3 samples but 2 labels/);
  expectError(() => loadNumpy(path.join(dir, 'odd.npz')), path.join(dir, 'odd.npz'), /no sample array: expected one of x, X, inputs, features \(it has images\)/);
  expectError(() => loadNumpy(path.join(dir, 'x.npy')), path.join(dir, 'x.npy'), /give the labels as a second \.npy/);
  expectError(() => parseNpy(fs.readFileSync(path.join(dir, 'complex.npy')), 'complex.npy'), 'complex.npy', /unsupported dtype '<c8'/);
  expectError(() => parseNpy(x.subarray(0, x.length - 4), 'cut.npy'), 'cut.npy', /mismatched sizes: shape \(3, 2, 2\) needs 48 bytes, the file has 44/);
  expectError(() => parseNpy(Buffer.from('PK\x03\x04'), 'zip.npy'), 'zip.npy', /not a \.npy array/);
});

test('the validation split is seeded, disjoint and covers every sample', () => {
  const a = splitValidation(50, 0.2, 7);
  assert.deepEqual(a, splitValidation(50, 0.2, 7));
  assert.notDeepEqual(a, splitValidation(50, 0.2, 8));
  assert.equal(a.val.length, 10);
  assert.deepEqual([...a.train, ...a.val].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
  // Tiny sets still get one sample on each side.
  assert.deepEqual(splitValidation(2, 0.01, 1).val.length, 1);
  assert.deepEqual(splitValidation(2, 0.99, 1).train.length, 1);
});

test('an image folder\'s summary for the panel: classes in torchvision\'s order, counts and each first image, without decoding', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-summary-'));
  try {
    for (const [cls, files] of [['dog', ['b.jpg', 'a.png', 'notes.txt']], ['cat', ['x.jpeg']], ['.hidden', ['z.png']]] as const) {
      fs.mkdirSync(path.join(dir, cls));
      for (const f of files) fs.writeFileSync(path.join(dir, cls, f), 'not decoded');
    }
    assert.deepEqual(await summarizeImageFolder(dir), {
      classes: [
        { name: 'cat', count: 1, first: path.join(dir, 'cat', 'x.jpeg') },
        { name: 'dog', count: 2, first: path.join(dir, 'dog', 'a.png') },
      ],
    });
    fs.rmSync(path.join(dir, 'cat'), { recursive: true });
    await assert.rejects(summarizeImageFolder(dir), /only one class folder \(dog\)/);
    await assert.rejects(summarizeImageFolder(path.join(dir, 'nope')), /no such folder/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
