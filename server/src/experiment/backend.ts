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
 * Gather's gradient) and its MaxPoolGrad gives wrong values; this module
 * registers kernels of its own for them. Each is tested against gradients
 * computed by PyTorch (test/unit/gradients.test.ts).
 */

export { BACKENDS, type BackendName } from './request';

export interface SelectedBackend {
  /** What FreezeLens calls it (tensorflow-gpu and tensorflow are both tfjs's 'tensorflow' backend). */
  name: BackendName;
  /** Why the ones before it were passed over, for the run's log. */
  skipped: string[];
}

/** Loads `forced`, or the first backend of BACKENDS that loads. Throws when a forced one cannot load. */
export async function selectBackend(forced?: BackendName): Promise<SelectedBackend> {
  const skipped: string[] = [];
  for (const name of forced ? [forced] : BACKENDS) {
    try {
      await load(name);
      return { name, skipped };
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
// Conv2DBackpropFilter is a matrix product, so it lays the input out as
// patches (im2col) and hands the product to wasm's BatchMatMul (XNNPACK).

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: object): boolean;
}
type KernelArgs = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };

let registered = false;

/** Registers the kernels below for 'wasm' (once; replacing its MaxPoolGrad). */
export function registerWasmGradients(): void {
  if (registered) return;
  registered = true;
  const kernels: [string, (a: KernelArgs) => TensorInfo][] = [
    ['Conv2DBackpropFilter', conv2dBackpropFilter],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
    ['MaxPoolGrad', maxPoolGrad],
    ['UnsortedSegmentSum', unsortedSegmentSum],
  ];
  for (const [kernelName, fn] of kernels) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: fn as unknown as KernelConfig['kernelFunc'] });
  }
}

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

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

/**
 * dW[kh, kw, ci, co] = Σ over batch and output positions of x at the tap × dy.
 * The patches of x become a [positions, kh·kw·ci] matrix (zeros where the
 * tap falls in the padding), and dW is its transpose times dy [positions, co].
 */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs, false);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const [KH, KW] = filterShape;
  const K = KH * KW * C;
  const N = B * OH * OW;
  const patches = backend.makeOutput([1, N, K], 'float32');
  const xs = backend.typedArrayFromHeap(x);
  const p = backend.typedArrayFromHeap(patches);
  p.fill(0);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const row = ((b * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * info.strideHeight + kh * info.dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * info.strideWidth + kw * info.dilationWidth - info.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const src = ((b * H + ih) * W + iw) * C;
            p.set(xs.subarray(src, src + C), row + (kh * KW + kw) * C);
          }
        }
      }
  const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, N, CO], dtype: dy.dtype };
  const matMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc as unknown as (a: KernelArgs) => TensorInfo;
  const product = matMul({ inputs: { a: patches, b: dy3 }, backend, attrs: { transposeA: true, transposeB: false } });
  backend.disposeData(patches.dataId);
  // [1, K, CO] holds [KH, KW, C, CO] in the same order: the result is the product with the filter's shape.
  return { dataId: product.dataId, shape: filterShape, dtype: 'float32' };
}

/** Visits every (input position, output position, tap) of a depthwise convolution: x[b,ih,iw,c] meets dy[b,oh,ow,c·M+m] through w[kh,kw,c,m]. */
function forEachDepthwiseTap(info: backend_util.Conv2DInfo, KH: number, KW: number, visit: (xi: number, dyi: number, wi: number) => void): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const M = info.outChannels / C;
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const dyRow = ((b * OH + oh) * OW + ow) * C * M;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * info.strideHeight + kh * info.dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * info.strideWidth + kw * info.dilationWidth - info.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const xRow = ((b * H + ih) * W + iw) * C;
            const wRow = (kh * KW + kw) * C * M;
            for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) visit(xRow + c, dyRow + c * M + m, wRow + c * M + m);
          }
        }
      }
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
