import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { BACKENDS, type BackendName } from './request';

/**
 * The tfjs backend an experiment trains on, chosen at run time:
 * `@tensorflow/tfjs-node-gpu` (CUDA) if it loads, else `@tensorflow/tfjs-node`,
 * else wasm, else the pure-JS cpu backend. Both native packages are optional
 * dependencies: their install downloads libtensorflow, which fails where
 * there is no network, and npm then drops them.
 *
 * tfjs's wasm backend lacks the gradient kernels that training a CNN needs
 * (Conv2DBackpropFilter, the depthwise backprops, UnsortedSegmentSum for
 * Gather's gradient), its MaxPoolGrad gives wrong values and its
 * Conv2DBackpropInput is a plain loop; this module registers kernels of its
 * own for them, and one for the cpu backend's Conv2DBackpropFilter, which
 * is slow enough to look hung. Each is tested against gradients
 * computed by PyTorch (test/unit/gradients.test.ts).
 */

export { BACKENDS, type BackendName } from './request';

export interface SelectedBackend {
  /** What FreezeLens calls it (tensorflow-gpu and tensorflow are both tfjs's 'tensorflow' backend). */
  name: BackendName;
}

/** Loads `forced`, or the first backend of BACKENDS that loads. Throws when a forced one cannot load, or none does (saying why each failed). */
export async function selectBackend(forced?: BackendName): Promise<SelectedBackend> {
  const skipped: string[] = [];
  for (const name of forced ? [forced] : BACKENDS) {
    try {
      await load(name);
      return { name };
    } catch (e) {
      const reason = `${name}: ${firstLine((e as Error).message)}`;
      if (forced) throw new Error(`backend ${reason}`);
      skipped.push(reason);
    }
  }
  throw new Error(`no tfjs backend loads: ${skipped.join('; ')}`);
}

async function load(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      // Either package registers the 'tensorflow' backend (libtensorflow, CUDA in the -gpu build).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      await use('tensorflow');
      return;
    case 'wasm':
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      registerWasmGradients();
      await use('wasm');
      return;
    case 'cpu':
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-cpu');
      registerCpuGradients();
      await use('cpu');
      return;
  }
}

async function use(backend: string): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not initialise the ${backend} backend`);
  await tf.ready();
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

// ---------------------------------------------------------------------------
// The wasm backend's missing and wrong gradient kernels.
//
// The wasm backend keeps tensors in its heap; a kernel allocates its output
// with makeOutput and reads and writes heap views (taken after every
// allocation, since one may grow the heap and detach older views).
// MaxPoolGrad, UnsortedSegmentSum and the depthwise backprops are loops
// written here: each touches every element a constant number of times,
// which is as fast as any composition of wasm kernels would be.
// The convolution backprops are convolutions themselves: they lay the data
// out in JS and hand the arithmetic to wasm's Conv2D (XNNPACK).

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: object): boolean;
}
type KernelArgs = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };

/** Registers the kernels below for 'wasm' (replacing its MaxPoolGrad and its slow Conv2DBackpropInput). */
export function registerWasmGradients(): void {
  replaceKernels('wasm', {
    Conv2DBackpropFilter: conv2dBackpropFilter,
    Conv2DBackpropInput: conv2dBackpropInput,
    DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
    DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
    MaxPoolGrad: maxPoolGrad,
    UnsortedSegmentSum: unsortedSegmentSum,
  });
}

const replaced = new Set<string>();

/** Registers FreezeLens's kernels for a backend, once per process, in place of tfjs's own where it has them. */
function replaceKernels(backendName: string, kernels: Record<string, (args: never) => TensorInfo>): void {
  if (replaced.has(backendName)) return;
  replaced.add(backendName);
  for (const [kernelName, fn] of Object.entries(kernels)) {
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as KernelConfig['kernelFunc'] });
  }
}

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

// ---------------------------------------------------------------------------
// The cpu backend's Conv2DBackpropFilter reads every element through
// TensorBuffer.get: on the demo CNN's convolutions it takes seconds per call
// (52 s of a 57 s training step, measured), while the same sums over flat
// arrays take tens of milliseconds. It is replaced for 'cpu' by the loop below.

interface CpuBackend {
  data: { get(dataId: object): { values: backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: backend_util.BackendValues): TensorInfo;
}

/** Registers the cpu kernel below in place of tfjs's. */
export function registerCpuGradients(): void {
  replaceKernels('cpu', { Conv2DBackpropFilter: cpuConv2dBackpropFilter });
}

/** dW[kh, kw, c, co] += x[b, ih, iw, c] · dy[b, oh, ow, co] over the taps that fall inside x; the innermost loop runs along co, contiguous in both dW and dy. */
function cpuConv2dBackpropFilter({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: CpuBackend; attrs: Record<string, unknown> }): TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs, false);
  const { inChannels: C, outChannels: CO } = info;
  const [KH, KW] = filterShape;
  const xs = backend.data.get(x.dataId).values as Float32Array;
  const g = backend.data.get(dy.dataId).values as Float32Array;
  const dw = new Float32Array(KH * KW * C * CO);
  forEachTap(info, KH, KW, (dyPos, xPos, tap) => {
    const dyRow = dyPos * CO;
    for (let c = 0; c < C; c++) {
      const xv = xs[xPos * C + c];
      if (xv === 0) continue; // after a ReLU, half the inputs add nothing
      const w0 = (tap * C + c) * CO;
      for (let co = 0; co < CO; co++) dw[w0 + co] += xv * g[dyRow + co];
    }
  });
  return backend.makeTensorInfo(filterShape, 'float32', dw);
}

/** tfjs's geometry of a 2-D convolution (output size, padding, strides), as its own kernels compute it. */
function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>, depthwise: boolean): backend_util.Conv2DInfo {
  const dilations = (attrs.dilations ?? 1) as number | [number, number];
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

/** Inputs with at most this many channels take the patches form (measured on the demo stem, 3 channels). */
const PATCHES_MAX_CHANNELS = 8;

/**
 * dW as a matrix product, for inputs with few channels (a network's first
 * convolution): the patches of x laid out as a [kh·kw·c, positions] matrix
 * (zeros where a tap falls in the padding) times dy [positions, co]. With
 * few channels the swapped convolution below has a batch of c images and
 * runs far below XNNPACK's speed (18 ms against 4 ms on the demo's stem).
 * The patches are written in this orientation because wasm's BatchMatMul
 * with transposeA is about 14 times slower than without.
 */
function filterGradByPatches(x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo, filterShape: number[], backend: WasmBackend): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const [KH, KW] = filterShape;
  const N = B * OH * OW;
  const patches = backend.makeOutput([1, KH * KW * C, N], 'float32');
  const xs = backend.typedArrayFromHeap(x);
  const p = backend.typedArrayFromHeap(patches);
  p.fill(0);
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let c = 0; c < C; c++) {
        const row = ((kh * KW + kw) * C + c) * N;
        for (let b = 0; b < B; b++)
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * info.strideHeight + kh * info.dilationHeight - info.padInfo.top;
            if (ih < 0 || ih >= H) continue;
            const col = row + (b * OH + oh) * OW;
            const src = (b * H + ih) * W;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow * info.strideWidth + kw * info.dilationWidth - info.padInfo.left;
              if (iw >= 0 && iw < W) p[col + ow] = xs[(src + iw) * C + c];
            }
          }
      }
  const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, N, CO], dtype: dy.dtype };
  const product = wasmKernel('BatchMatMul')({ inputs: { a: patches, b: dy3 }, backend, attrs: { transposeA: false, transposeB: false } });
  backend.disposeData(patches.dataId);
  // [1, kh·kw·c, co] holds [KH, KW, C, CO] in the same order.
  return { dataId: product.dataId, shape: filterShape, dtype: 'float32' };
}

/**
 * dW[kh, kw, c, co] = Σ over batch and output positions of x at the tap × dy,
 * which is itself a convolution: of x with channels and batch swapped
 * ([C, H, W, B]) by dy as the filter ([OH, OW, B, CO]), the original stride
 * becoming the dilation and the dilation the stride. The two transposes
 * are written here; the convolution is wasm's own (XNNPACK), about twice as
 * fast as laying out patches for a matrix product.
 */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs, false);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const [KH, KW] = filterShape;
  if (C <= PATCHES_MAX_CHANNELS) return filterGradByPatches(x, dy, info, filterShape, backend);
  const { top, left } = info.padInfo;
  // Bottom and right padding so the swapped convolution's output starts at tap 0 and covers every tap.
  const bottom = Math.max(0, (OH - 1) * info.strideHeight + (KH - 1) * info.dilationHeight + 1 - H - top);
  const right = Math.max(0, (OW - 1) * info.strideWidth + (KW - 1) * info.dilationWidth + 1 - W - left);
  const xT = backend.makeOutput([C, H, W, B], 'float32');
  const dyT = backend.makeOutput([OH, OW, B, CO], 'float32');
  const xs = backend.typedArrayFromHeap(x);
  const g = backend.typedArrayFromHeap(dy);
  const xt = backend.typedArrayFromHeap(xT);
  const gt = backend.typedArrayFromHeap(dyT);
  const HW = H * W;
  for (let b = 0; b < B; b++) for (let hw = 0; hw < HW; hw++) for (let c = 0; c < C; c++) xt[(c * HW + hw) * B + b] = xs[(b * HW + hw) * C + c];
  const OHW = OH * OW;
  for (let b = 0; b < B; b++) for (let o = 0; o < OHW; o++) gt.set(g.subarray((b * OHW + o) * CO, (b * OHW + o + 1) * CO), (o * B + b) * CO);
  const swapped = wasmKernel('Conv2D')({
    inputs: { x: xT, filter: dyT },
    backend,
    attrs: { strides: [info.dilationHeight, info.dilationWidth], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth], dimRoundingMode: undefined },
  });
  backend.disposeData(xT.dataId);
  backend.disposeData(dyT.dataId);
  // [C, KH', KW', CO] (KH' ≥ KH where the input has rows no tap reaches) to [KH, KW, C, CO].
  const [, KHo, KWo] = swapped.shape;
  const dw = backend.makeOutput(filterShape, 'float32');
  const sw = backend.typedArrayFromHeap(swapped);
  const out = backend.typedArrayFromHeap(dw);
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let c = 0; c < C; c++) out.set(sw.subarray(((c * KHo + kh) * KWo + kw) * CO, ((c * KHo + kh) * KWo + kw + 1) * CO), ((kh * KW + kw) * C + c) * CO);
  backend.disposeData(swapped.dataId);
  return dw;
}

/**
 * dx of a convolution is a convolution of dy by the filter turned 180° with
 * its channels swapped. With a stride s, the rows of dx fall into s phases
 * (i mod s), each reached by every s-th tap only: each phase is a
 * stride-1 convolution of dy by that subset of taps, and the phases
 * interleave into dx. The filters and the interleaving are written here;
 * the convolutions are wasm's own (XNNPACK), many times faster than wasm's
 * Conv2DBackpropInput, a plain loop. A dilated filter takes the general
 * form: dy spread out by the stride and padded, one dilated convolution.
 */
function conv2dBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, attrs, false);
  const [KH, KW] = filter.shape;
  const rows = phases(KH, info.strideHeight, info.padInfo.top, info.inHeight, info.outHeight);
  const cols = phases(KW, info.strideWidth, info.padInfo.left, info.inWidth, info.outWidth);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || !rows || !cols) return spreadBackpropInput(info, dy, filter, backend);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outChannels: CO } = info;
  const dx = backend.makeOutput(inputShape, 'float32');
  backend.typedArrayFromHeap(dx).fill(0);
  for (const ph of rows)
    for (const pw of cols) {
      // The phase's taps, turned 180° and with in and out channels swapped: [JH, JW, CO, C].
      const sub = backend.makeOutput([ph.taps, pw.taps, CO, C], 'float32');
      const w = backend.typedArrayFromHeap(filter);
      const f = backend.typedArrayFromHeap(sub);
      for (let jh = 0; jh < ph.taps; jh++)
        for (let jw = 0; jw < pw.taps; jw++) {
          const kh = ph.first + (ph.taps - 1 - jh) * info.strideHeight;
          const kw = pw.first + (pw.taps - 1 - jw) * info.strideWidth;
          for (let c = 0; c < C; c++) for (let co = 0; co < CO; co++) f[((jh * pw.taps + jw) * CO + co) * C + c] = w[((kh * KW + kw) * C + c) * CO + co];
        }
      const part = wasmKernel('Conv2D')({ inputs: { x: dy, filter: sub }, backend, attrs: { strides: [1, 1], pad: [[0, 0], [ph.before, ph.after], [pw.before, pw.after], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined } });
      backend.disposeData(sub.dataId);
      const [, PH, PW] = part.shape;
      const out = backend.typedArrayFromHeap(dx);
      const pt = backend.typedArrayFromHeap(part);
      for (let b = 0; b < B; b++)
        for (let qh = 0; qh < ph.count; qh++) {
          const ih = qh * info.strideHeight + ph.phase;
          for (let qw = 0; qw < pw.count; qw++) {
            const iw = qw * info.strideWidth + pw.phase;
            const src = ((b * PH + qh) * PW + qw) * C;
            out.set(pt.subarray(src, src + C), ((b * H + ih) * W + iw) * C);
          }
        }
      backend.disposeData(part.dataId);
    }
  return dx;
}

interface Phase {
  /** dx rows i ≡ phase (mod stride). */
  phase: number;
  /** How many rows of dx are in it. */
  count: number;
  /** Its first tap, and how many taps (every stride-th) reach it. */
  first: number;
  taps: number;
  /** dy's padding for the stride-1 convolution that computes it. */
  before: number;
  after: number;
}

/**
 * One dimension's phases: row i = q·s + r of dx gets dy[o]·w[k] where
 * o·s + k - pad = i, so k ≡ r + pad (mod s) and o = q + a - j for the j-th
 * of those taps, a = (r + pad - first) / s. Null where dy would need a
 * negative padding (a padding wider than the filter), left to the general form.
 */
function phases(K: number, stride: number, pad: number, size: number, outSize: number): Phase[] | null {
  const out: Phase[] = [];
  for (let r = 0; r < Math.min(stride, size); r++) {
    const first = (r + pad) % stride;
    const taps = first < K ? Math.ceil((K - first) / stride) : 0;
    const count = Math.ceil((size - r) / stride);
    if (taps === 0) continue; // no tap reaches these rows: their gradient is zero
    const a = (r + pad - first) / stride;
    const before = taps - 1 - a;
    if (before < 0) return null;
    out.push({ phase: r, count, first, taps, before, after: Math.max(0, count + taps - 1 - before - outSize) });
  }
  return out;
}

/** The general form: dy spread out by the stride and padded, then one (dilated) convolution by the turned filter. */
function spreadBackpropInput(info: backend_util.Conv2DInfo, dy: TensorInfo, filter: TensorInfo, backend: WasmBackend): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const [KH, KW] = filter.shape;
  const dh = info.dilationHeight;
  const dw = info.dilationWidth;
  // dx[i] = Σ_k P[i + k·d] · Wflip[k], where P holds dy[o] at (KH-1)·d - pad + o·stride.
  const HP = H + (KH - 1) * dh;
  const WP = W + (KW - 1) * dw;
  const top = (KH - 1) * dh - info.padInfo.top;
  const left = (KW - 1) * dw - info.padInfo.left;
  const spread = backend.makeOutput([B, HP, WP, CO], 'float32');
  const flipped = backend.makeOutput([KH, KW, CO, C], 'float32');
  const g = backend.typedArrayFromHeap(dy);
  const w = backend.typedArrayFromHeap(filter);
  const sp = backend.typedArrayFromHeap(spread);
  const fl = backend.typedArrayFromHeap(flipped);
  sp.fill(0);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++) {
      const ph = top + oh * info.strideHeight;
      if (ph < 0 || ph >= HP) continue;
      for (let ow = 0; ow < OW; ow++) {
        const pw = left + ow * info.strideWidth;
        if (pw < 0 || pw >= WP) continue;
        const src = ((b * OH + oh) * OW + ow) * CO;
        sp.set(g.subarray(src, src + CO), ((b * HP + ph) * WP + pw) * CO);
      }
    }
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let c = 0; c < C; c++)
        for (let co = 0; co < CO; co++) fl[((kh * KW + kw) * CO + co) * C + c] = w[(((KH - 1 - kh) * KW + (KW - 1 - kw)) * C + c) * CO + co];
  const dx = wasmKernel('Conv2D')({ inputs: { x: spread, filter: flipped }, backend, attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [dh, dw], dimRoundingMode: undefined } });
  backend.disposeData(spread.dataId);
  backend.disposeData(flipped.dataId);
  return dx;
}

function wasmKernel(name: string): (a: KernelArgs) => TensorInfo {
  return tf.getKernel(name, 'wasm')!.kernelFunc as unknown as (a: KernelArgs) => TensorInfo;
}

/**
 * Visits every tap of a 2-D convolution that falls inside the input: the
 * offsets of the output position in dy ([B, OH, OW, CO]), of the input
 * position in x ([B, H, W, C]) and of the tap in the filter (kh·KW + kw).
 * The callers loop over channels themselves (per tap, not per element, so
 * the callback costs little).
 */
function forEachTap(info: backend_util.Conv2DInfo, KH: number, KW: number, visit: (dyPos: number, xPos: number, tap: number) => void): void {
  const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const dyPos = (b * OH + oh) * OW + ow;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * info.strideHeight + kh * info.dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * info.strideWidth + kw * info.dilationWidth - info.padInfo.left;
            if (iw >= 0 && iw < W) visit(dyPos, (b * H + ih) * W + iw, kh * KW + kw);
          }
        }
      }
}

/** Visits every (input, output, filter) element triple of a depthwise convolution: x[b,ih,iw,c] meets dy[b,oh,ow,c·M+m] through w[kh,kw,c,m]. */
function forEachDepthwiseTap(info: backend_util.Conv2DInfo, KH: number, KW: number, visit: (xi: number, dyi: number, wi: number) => void): void {
  const C = info.inChannels;
  const M = info.outChannels / C;
  forEachTap(info, KH, KW, (dyPos, xPos, tap) => {
    for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) visit(xPos * C + c, (dyPos * C + c) * M + m, (tap * C + c) * M + m);
  });
}

function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs, true);
  const dw = backend.makeOutput(filterShape, 'float32');
  const xs = backend.typedArrayFromHeap(x);
  const g = backend.typedArrayFromHeap(dy);
  const out = backend.typedArrayFromHeap(dw);
  out.fill(0);
  forEachDepthwiseTap(info, filterShape[0], filterShape[1], (xi, dyi, wi) => (out[wi] += xs[xi] * g[dyi]));
  return dw;
}

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, attrs, true);
  const dx = backend.makeOutput(inputShape, 'float32');
  const g = backend.typedArrayFromHeap(dy);
  const w = backend.typedArrayFromHeap(filter);
  const out = backend.typedArrayFromHeap(dx);
  out.fill(0);
  forEachDepthwiseTap(info, filter.shape[0], filter.shape[1], (xi, dyi, wi) => (out[xi] += g[dyi] * w[wi]));
  return dx;
}

/**
 * Each output's gradient goes to the input that was its window's maximum:
 * the first one in row-major order on ties, as PyTorch's max_pool2d picks
 * (the padding, at -inf, never wins).
 */
function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, input } = inputs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const dx = backend.makeOutput(input.shape, 'float32');
  const xs = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  const out = backend.typedArrayFromHeap(dx);
  out.fill(0);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let kh = 0; kh < info.filterHeight; kh++) {
            const ih = oh * info.strideHeight + kh - info.padInfo.top;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < info.filterWidth; kw++) {
              const iw = ow * info.strideWidth + kw - info.padInfo.left;
              if (iw < 0 || iw >= W) continue;
              const i = ((b * H + ih) * W + iw) * C + c;
              // NaN wins, as in PyTorch (isnan(val) || val > max).
              if (xs[i] > best || Number.isNaN(xs[i])) {
                best = xs[i];
                at = i;
                if (Number.isNaN(best)) break;
              }
            }
          }
          if (at >= 0) out[at] += g[((b * OH + oh) * OW + ow) * C + c];
        }
  return dx;
}

/** out[segmentIds[i], ...] += x[i, ...]: Gather's gradient, summing the rows that the same index picked. */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  const rows = segmentIds.shape.reduce((p, d) => p * d, 1);
  const rowSize = x.shape.slice(segmentIds.shape.length).reduce((p, d) => p * d, 1);
  const result = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const xs = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  const out = backend.typedArrayFromHeap(result);
  out.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue; // as TensorFlow: out-of-range ids are dropped
    for (let k = 0; k < rowSize; k++) out[s * rowSize + k] += xs[i * rowSize + k];
  }
  return result;
}
