// Data for the experiment tests: NumPy files as NumPy writes them, and a
// small learnable image set for the tiny CNN fixture.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { seededRandom, type Dataset } from '../../server/src/experiment/datasets';

export const TINY_CNN = path.resolve(__dirname, '../../../test/fixtures/onnx/tiny_cnn.preserve.onnx');

/** A .npy file as NumPy writes it (format version 1). */
export function npy(descr: string, shape: number[], data: ArrayBufferView): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** 60 images of 5 classes for the tiny CNN (3×16×16), each class a different colour cast plus noise: learnable from pooled features. */
export function colourCasts(): Dataset {
  const n = 60;
  const rand = seededRandom(11);
  const size = 3 * 16 * 16;
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 5;
    for (let c = 0; c < 3; c++) for (let k = 0; k < 256; k++) x[i * size + c * 256 + k] = (rand() - 0.5) * 0.5 + (c === y[i] % 3 ? 1 : -0.5) * (y[i] < 3 ? 1 : -1);
  }
  return { kind: 'numpy', shape: [3, 16, 16], classes: ['a', 'b', 'c', 'd', 'e'], x, y, sources: [], warnings: [] };
}

/** Writes a dataset as an .npz with x and y; returns its path. */
export function writeNpz(file: string, d: Dataset): string {
  fs.writeFileSync(file, zipSync({ 'x.npy': npy('<f4', [d.y.length, ...d.shape], d.x), 'y.npy': npy('<i4', [d.y.length], d.y) }));
  return path.resolve(file);
}
