import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/**
 * The data of a quick fine-tune experiment, in memory as float32 samples
 * and integer labels: an image folder in torchvision's ImageFolder layout, a
 * CSV of features and a label, or NumPy arrays (.npz, or .npy pairs).
 *
 * Bad data gets a DatasetError that names the file. A corrupt image is
 * skipped with a warning rather than ending the run, as long as every class
 * keeps at least one image.
 */
export interface Dataset {
  kind: 'image-folder' | 'csv' | 'numpy';
  /** One sample's shape: [channels, height, width] for images, [features] for tables. */
  shape: number[];
  /** Class names, in label order. */
  classes: string[];
  /** Samples, one after another, each of `shape`. */
  x: Float32Array;
  y: Int32Array;
  /** Where each sample came from (a file, or a file and row). */
  sources: string[];
  warnings: string[];
}

export class DatasetError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

export interface ImageOptions {
  /** Height and width the images are resized to (the model's input). */
  size: [number, number];
  /** Per-channel mean and std of the normalisation; ImageNet's by default. */
  mean?: [number, number, number];
  std?: [number, number, number];
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const IMAGE_FILE = /\.(png|jpe?g)$/i;
/** Refuses an image whose decoded pixels would need more than this (a decompression bomb). */
const MAX_IMAGE_PIXELS = 50_000_000;

/** An ImageFolder's class folders, sorted as torchvision sorts them; a DatasetError where there are fewer than two. */
function classFolders(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw unreadable(dir, e);
  }
  return classesOf(dir, entries);
}

function unreadable(dir: string, e: unknown): DatasetError {
  return new DatasetError(dir, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : `cannot read the folder (${(e as NodeJS.ErrnoException).code})`);
}

/** The class folders among a folder's entries (sorted by name, as torchvision does); at least two, or why not. */
function classesOf(dir: string, entries: fs.Dirent[]): string[] {
  const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classes.length === 0) throw new DatasetError(dir, 'no class folders: an image folder has one subfolder per class (ImageFolder layout), with the images inside');
  if (classes.length === 1) throw new DatasetError(dir, `only one class folder (${classes[0]}): a classifier needs at least two`);
  return classes;
}

/**
 * What an image folder holds, without decoding it: each class, its image
 * count and its first image's path (for a thumbnail). Asynchronous: the
 * panel asks as the user types a path, and a folder of a thousand classes
 * must not hold up the extension host.
 */
export async function summarizeImageFolder(dir: string): Promise<{ classes: { name: string; count: number; first?: string }[] }> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw unreadable(dir, e);
  }
  return {
    classes: await Promise.all(
      classesOf(dir, entries).map(async (name) => {
        const files = (await fs.promises.readdir(path.join(dir, name))).filter((f) => IMAGE_FILE.test(f)).sort();
        return { name, count: files.length, ...(files[0] ? { first: path.join(dir, name, files[0]) } : {}) };
      }),
    ),
  };
}

/**
 * ImageFolder: one subfolder per class (sorted by name, as torchvision
 * does), PNG or JPEG images in each; decoded, resized bilinearly to `size`,
 * scaled to [0, 1] and normalised per channel, in CHW order.
 */
export function loadImageFolder(dir: string, options: ImageOptions): Dataset {
  const [h, w] = options.size;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const classes = classFolders(dir);
  const warnings: string[] = [];
  const samples: Float32Array[] = [];
  const labels: number[] = [];
  const sources: string[] = [];
  classes.forEach((cls, label) => {
    const folder = path.join(dir, cls);
    const files = fs.readdirSync(folder).filter((f) => IMAGE_FILE.test(f)).sort();
    let kept = 0;
    for (const f of files) {
      const file = path.join(folder, f);
      let image: Rgba;
      try {
        image = decode(file);
      } catch (e) {
        warnings.push(`${file}: not a readable image (${(e as Error).message}); skipped`);
        continue;
      }
      samples.push(normalise(resize(image, h, w), mean, std));
      labels.push(label);
      sources.push(file);
      kept++;
    }
    if (kept === 0) throw new DatasetError(folder, files.length === 0 ? 'no PNG or JPEG images in this class folder' : 'none of the images in this class folder could be read');
  });
  const size = 3 * h * w;
  const x = new Float32Array(samples.length * size);
  samples.forEach((s, i) => x.set(s, i * size));
  return { kind: 'image-folder', shape: [3, h, w], classes, x, y: Int32Array.from(labels), sources, warnings };
}

interface Rgba {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row by row. */
  data: Uint8Array;
}

function decode(file: string): Rgba {
  const bytes = fs.readFileSync(file);
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
    const png = PNG.sync.read(bytes);
    if (png.width * png.height > MAX_IMAGE_PIXELS) throw new Error(`${png.width}×${png.height} pixels is more than the ${MAX_IMAGE_PIXELS} read`);
    return { width: png.width, height: png.height, data: png.data };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, data: img.data };
  }
  throw new Error('neither PNG nor JPEG data');
}

/**
 * Bilinear resampling with half-pixel centres, the sampling of PyTorch's
 * `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`.
 * Hand-written: the image libraries here decode but do not resize, and a
 * native resizer (sharp) cannot be bundled into the extension.
 */
export function resize(img: Rgba, h: number, w: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  const sy = img.height / h;
  const sx = img.width / w;
  for (let y = 0; y < h; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(fy), img.height - 1);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(Math.floor(fx), img.width - 1);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 4 + c];
        const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
        const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
        out[c * h * w + y * w + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return out;
}

/** [0, 255] to [0, 1], then (v - mean) / std per channel; CHW in place. */
function normalise(chw: Float32Array, mean: number[], std: number[]): Float32Array {
  const plane = chw.length / 3;
  for (let c = 0; c < 3; c++) for (let i = c * plane; i < (c + 1) * plane; i++) chw[i] = (chw[i] / 255 - mean[c]) / std[c];
  return chw;
}

/**
 * A CSV with a header row: numeric feature columns and a label column
 * (`label` by default, else the last). Labels may be names (sorted into
 * classes) or integers (used as they are).
 */
export function loadCsv(file: string, options: { label?: string } = {}): Dataset {
  const text = readText(file);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new DatasetError(file, 'no data rows: a header row and one row per sample are needed');
  const header = splitCsv(lines[0]);
  const labelName = options.label ?? (header.includes('label') ? 'label' : header[header.length - 1]);
  const labelCol = header.indexOf(labelName);
  if (labelCol < 0) throw new DatasetError(file, `no column '${labelName}' (the columns are ${header.join(', ')})`);
  const features = header.length - 1;
  const x = new Float32Array((lines.length - 1) * features);
  const raw: string[] = [];
  const sources: string[] = [];
  for (let r = 1; r < lines.length; r++) {
    const cells = splitCsv(lines[r]);
    if (cells.length !== header.length) throw new DatasetError(file, `line ${r + 1} has ${cells.length} columns, the header ${header.length}`);
    let k = 0;
    cells.forEach((cell, c) => {
      if (c === labelCol) return raw.push(cell.trim());
      const v = Number(cell);
      if (cell.trim() === '' || !Number.isFinite(v)) throw new DatasetError(file, `line ${r + 1}, column '${header[c]}': '${cell}' is not a number`);
      x[(r - 1) * features + k++] = v;
    });
    sources.push(`${file}:${r + 1}`);
  }
  const { classes, y } = labelsOf(raw, file);
  return { kind: 'csv', shape: [features], classes, x, y, sources, warnings: [] };
}

function splitCsv(line: string): string[] {
  // Quoted fields with commas inside; doubled quotes escape a quote.
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function labelsOf(raw: string[], file: string): { classes: string[]; y: Int32Array } {
  const ints = raw.every((v) => /^-?\d+$/.test(v));
  if (ints) {
    const y = Int32Array.from(raw.map(Number));
    if (y.some((v) => v < 0)) throw new DatasetError(file, 'a negative class label');
    const n = Math.max(...y) + 1;
    if (new Set(y).size < 2) throw new DatasetError(file, 'only one class in the labels: a classifier needs at least two');
    return { classes: Array.from({ length: n }, (_, i) => String(i)), y };
  }
  const classes = [...new Set(raw)].sort();
  if (classes.length < 2) throw new DatasetError(file, 'only one class in the labels: a classifier needs at least two');
  const index = new Map(classes.map((c, i) => [c, i]));
  return { classes, y: Int32Array.from(raw.map((v) => index.get(v)!)) };
}

/**
 * NumPy arrays: an .npz holding the samples (`x`, `X`, `inputs` or
 * `features`) and the labels (`y`, `Y`, `labels` or `targets`), or two
 * .npy files. Samples are float or integer arrays in C order, one sample per
 * leading index.
 */
export function loadNumpy(file: string, labelsFile?: string): Dataset {
  let xArr: NpyArray;
  let yArr: NpyArray;
  if (file.endsWith('.npz')) {
    let members: Record<string, Uint8Array>;
    try {
      members = unzipSync(readBytes(file));
    } catch (e) {
      throw new DatasetError(file, `not a readable .npz (zip) file (${(e as Error).message})`);
    }
    const pick = (names: string[], what: string) => {
      const name = names.map((n) => `${n}.npy`).find((n) => n in members);
      if (!name) throw new DatasetError(file, `no ${what} array: expected one of ${names.join(', ')} (it has ${Object.keys(members).map((k) => k.replace(/\.npy$/, '')).join(', ') || 'none'})`);
      return parseNpy(members[name], `${file}:${name}`);
    };
    xArr = pick(['x', 'X', 'inputs', 'features'], 'sample');
    yArr = pick(['y', 'Y', 'labels', 'targets'], 'label');
  } else {
    if (!labelsFile) throw new DatasetError(file, 'an .npy file holds one array: give the labels as a second .npy, or use an .npz with x and y');
    xArr = parseNpy(readBytes(file), file);
    yArr = parseNpy(readBytes(labelsFile), labelsFile);
  }
  const n = xArr.shape[0] ?? 0;
  if (yArr.shape.length !== 1) throw new DatasetError(labelsFile ?? file, `labels must be one-dimensional, not of shape (${yArr.shape.join(', ')})`);
  if (yArr.shape[0] !== n) throw new DatasetError(labelsFile ?? file, `mismatched sizes: ${n} samples but ${yArr.shape[0]} labels`);
  if (n === 0) throw new DatasetError(file, 'no samples');
  const raw = Array.from(yArr.data, (v) => String(Math.round(v)));
  if (Array.from(yArr.data).some((v) => !Number.isInteger(v))) throw new DatasetError(labelsFile ?? file, 'labels must be whole numbers (class indices)');
  const { classes, y } = labelsOf(raw, labelsFile ?? file);
  return { kind: 'numpy', shape: xArr.shape.slice(1), classes, x: Float32Array.from(xArr.data), y, sources: Array.from({ length: n }, (_, i) => `${file}[${i}]`), warnings: [] };
}

interface NpyArray {
  shape: number[];
  data: Float64Array | Float32Array | Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;
}

/** The .npy format (version 1 to 3): magic, header dict, then the raw little-endian data. */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 10 || b.readUInt8(0) !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new DatasetError(where, 'not a .npy array (no \\x93NUMPY magic)');
  const major = b.readUInt8(6);
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > b.length) throw new DatasetError(where, 'the .npy header runs past the end of the file');
  const header = b.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new DatasetError(where, `a .npy header without descr or shape: ${header.trim()}`);
  if (fortran) throw new DatasetError(where, 'Fortran-ordered array: save it with np.ascontiguousarray first');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((p, d) => p * d, 1);
  const types: Record<string, [number, (buf: ArrayBuffer, off: number, n: number) => NpyArray['data']]> = {
    '<f8': [8, (a, o, n) => new Float64Array(a.slice(o, o + 8 * n))],
    '<f4': [4, (a, o, n) => new Float32Array(a.slice(o, o + 4 * n))],
    '<i4': [4, (a, o, n) => new Int32Array(a.slice(o, o + 4 * n))],
    '<u4': [4, (a, o, n) => new Uint32Array(a.slice(o, o + 4 * n))],
    '<i2': [2, (a, o, n) => new Int16Array(a.slice(o, o + 2 * n))],
    '<u2': [2, (a, o, n) => new Uint16Array(a.slice(o, o + 2 * n))],
    '|u1': [1, (a, o, n) => new Uint8Array(a.slice(o, o + n))],
    '|i1': [1, (a, o, n) => new Int8Array(a.slice(o, o + n))],
    '|b1': [1, (a, o, n) => new Uint8Array(a.slice(o, o + n))],
    // int64 labels are the NumPy default: read as float64, exact below 2^53.
    '<i8': [8, (a, o, n) => Float64Array.from(new BigInt64Array(a.slice(o, o + 8 * n)), Number)],
  };
  const t = types[descr];
  if (!t) throw new DatasetError(where, `unsupported dtype '${descr}' (float32/64, int8-64, uint8-32, bool are read)`);
  const dataStart = start + headerLen;
  if (dataStart + t[0] * count > b.length) throw new DatasetError(where, `mismatched sizes: shape (${shape.join(', ')}) needs ${t[0] * count} bytes, the file has ${b.length - dataStart}`);
  const copy = new Uint8Array(b).buffer as ArrayBuffer;
  return { shape, data: t[1](copy, dataStart, count) };
}

/** A seeded split into training and validation indices (at least one of each). */
export function splitValidation(n: number, fraction: number, seed: number): { train: number[]; val: number[] } {
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nVal = Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  return { val: order.slice(0, nVal).sort((a, b) => a - b), train: order.slice(nVal).sort((a, b) => a - b) };
}

/** mulberry32: a small, fast generator that gives the same numbers on every platform for a seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readText(file: string): string {
  return readBytes(file).toString('utf8');
}

function readBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new DatasetError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read it (${(e as NodeJS.ErrnoException).code})`);
  }
}
