import * as tf from '@tensorflow/tfjs-core';

/**
 * BatchNorm in training mode (batch statistics) as one differentiable op
 * with its analytic gradient, instead of the dozens of small ops that
 * autodiff would record through moments and the normalisation:
 *
 *   y = x̂·γ + β, x̂ = (x - μ)/σ, σ = √(var + ε) over the batch and spatial axes;
 *   dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/(σ·M) · (M·dy - Σ dy - x̂·Σ dy·x̂).
 *
 * On wasm this is about 350 fewer kernel calls per step of the demo CNN.
 * Checked against PyTorch in test/unit/gradients.test.ts.
 */

export interface BatchStats {
  /** The batch mean and biased variance per channel (for the running statistics). */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** x: [N, C, ...]; scale and bias: [C]. Returns y and the batch statistics (which carry no gradient). */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor, eps: number): { y: tf.Tensor; stats: BatchStats } {
  let stats: BatchStats | undefined;
  const op = tf.customGrad(((xs: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const r = forward(xs, gamma, beta, eps);
    stats = { mean: tf.keep(r.mean), variance: tf.keep(r.variance) };
    save([xs, gamma, r.mean, r.variance]);
    return {
      value: r.y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sg, m, v] = saved;
        return backward(dy as tf.Tensor, sx, sg, m, v, eps);
      },
    };
    // customGrad's type has the save function among the inputs' type.
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, scale, bias);
  return { y, stats: stats! };
}

function channelShape(x: tf.Tensor): number[] {
  return [1, -1, ...Array(x.rank - 2).fill(1)];
}

function reduceAxes(x: tf.Tensor): number[] {
  return [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2)];
}

function forward(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) {
  const { mean, variance } = tf.moments(x, reduceAxes(x));
  const r = (t: tf.Tensor) => tf.reshape(t, channelShape(x));
  const inv = tf.rsqrt(tf.add(variance, eps));
  const y = tf.add(tf.mul(tf.sub(x, r(mean)), r(tf.mul(inv, gamma))), r(beta));
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

function backward(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, eps: number): tf.Tensor[] {
  const axes = reduceAxes(x);
  const r = (t: tf.Tensor) => tf.reshape(t, channelShape(x));
  const M = axes.reduce((p, a) => p * x.shape[a], 1);
  const inv = tf.rsqrt(tf.add(variance, eps));
  const xhat = tf.mul(tf.sub(x, r(mean)), r(inv));
  const dbeta = tf.sum(dy, axes);
  const dgamma = tf.sum(tf.mul(dy, xhat), axes);
  const dx = tf.mul(r(tf.div(tf.mul(gamma, inv), M)), tf.sub(tf.sub(tf.mul(dy, M), r(dbeta)), tf.mul(xhat, r(dgamma))));
  return [dx, dgamma, dbeta];
}
