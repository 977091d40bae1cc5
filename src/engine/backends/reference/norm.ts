// Batch norm over N and the spatial axes per channel, with PyTorch's running-statistics
// conventions; instance norm over the spatial axes per image and channel.
import type { OpKernel, Float } from '../../backend.js';
import { spatialSize } from './spatial.js';

/** Per-channel batch mean and biased variance of x [N,C,(D,)H,W] (hw: values per channel of one image). */
function batchStats(x: Float, n: number, c: number, hw: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(c), variance = new Float64Array(c);
  const m = n * hw;
  for (let ci = 0; ci < c; ci++) {
    let s = 0;
    for (let ni = 0; ni < n; ni++) for (let p = 0, b = (ni * c + ci) * hw; p < hw; p++) s += x[b + p];
    const mu = s / m;
    // Two passes: the variance of the deviations, not E[x^2] - mu^2, for float64 accuracy.
    let v = 0;
    for (let ni = 0; ni < n; ni++) for (let p = 0, b = (ni * c + ci) * hw; p < hw; p++) v += (x[b + p] - mu) ** 2;
    mean[ci] = mu;
    variance[ci] = v / m;
  }
  return { mean, variance };
}

export const batchnorm: OpKernel<'batchnorm'> = (ins, outs, node, rt) => {
  const [x, gamma, beta, rmIn, rvIn] = ins;
  const y = outs[0].data;
  const { training, eps, momentum, relu } = node.attrs;
  const [n, c] = x.shape;
  const hw = spatialSize(x.shape);
  let mean: ArrayLike<number>, variance: ArrayLike<number>;
  if (training) {
    ({ mean, variance } = batchStats(x.data as Float, n, c, hw));
    const rm = rt.param(node.attrs.runningMean).data, rv = rt.param(node.attrs.runningVar).data;
    const m = n * hw;
    for (let ci = 0; ci < c; ci++) {
      rm[ci] = (1 - momentum) * rm[ci] + momentum * mean[ci];
      rv[ci] = (1 - momentum) * rv[ci] + momentum * variance[ci] * (m / (m - 1));
    }
  } else {
    mean = rmIn.data;
    variance = rvIn.data;
  }
  for (let ci = 0; ci < c; ci++) {
    const inv = 1 / Math.sqrt(variance[ci] + eps);
    const scale = gamma.data[ci] * inv, shift = beta.data[ci] - mean[ci] * scale;
    for (let ni = 0; ni < n; ni++) {
      const b = (ni * c + ci) * hw;
      for (let p = 0; p < hw; p++) {
        const v = x.data[b + p] * scale + shift;
        y[b + p] = relu && v < 0 ? 0 : v;
      }
    }
  }
};

export const batchnormGrad: OpKernel<'batchnorm_grad'> = (ins, outs, node) => {
  const [x, gamma, rm, rv, dyT, yT] = ins;
  const [dx, dgamma, dbeta] = outs.map((o) => o.data as Float);
  const { training, eps, relu } = node.attrs;
  const [n, c] = x.shape;
  const hw = spatialSize(x.shape), m = n * hw;
  const X = x.data as Float, Y = yT.data as Float, DY = dyT.data as Float;
  // Statistics are recomputed from x rather than read from the forward's scratch: the eval
  // branch needs none, and the forward has already moved the running statistics.
  const { mean, variance } = training ? batchStats(X, n, c, hw) : { mean: rm.data as Float, variance: rv.data as Float };
  const g = (i: number) => (relu && !(Y[i] > 0) ? 0 : DY[i]);
  for (let ci = 0; ci < c; ci++) {
    const inv = 1 / Math.sqrt(variance[ci] + eps);
    let sumDy = 0, sumDyXhat = 0;
    for (let ni = 0; ni < n; ni++) {
      const b = (ni * c + ci) * hw;
      for (let p = 0; p < hw; p++) {
        const d = g(b + p);
        sumDy += d;
        sumDyXhat += d * (X[b + p] - mean[ci]) * inv;
      }
    }
    dgamma[ci] = sumDyXhat;
    dbeta[ci] = sumDy;
    const gi = gamma.data[ci] * inv;
    for (let ni = 0; ni < n; ni++) {
      const b = (ni * c + ci) * hw;
      for (let p = 0; p < hw; p++) {
        if (!training) { dx[b + p] = g(b + p) * gi; continue; }
        // d/dx of gamma * xhat with xhat depending on the batch mean and variance.
        const xhat = (X[b + p] - mean[ci]) * inv;
        dx[b + p] = gi * (g(b + p) - sumDy / m - xhat * sumDyXhat / m);
      }
    }
  }
};

// Instance norm: batch norm's training formulas, applied to each (image, channel) on its own.
// One image's channels are batch statistics over a batch of one: batchStats with n = 1.

export const instancenorm: OpKernel<'instancenorm'> = (ins, outs, node) => {
  const [x, gamma, beta] = ins;
  const y = outs[0].data;
  const { eps, relu } = node.attrs;
  const [n, c] = x.shape;
  const hw = spatialSize(x.shape);
  for (let ni = 0; ni < n; ni++) {
    const off = ni * c * hw;
    const { mean, variance } = batchStats((x.data as Float).subarray(off, off + c * hw), 1, c, hw);
    for (let ci = 0; ci < c; ci++) {
      const scale = gamma.data[ci] / Math.sqrt(variance[ci] + eps), shift = beta.data[ci] - mean[ci] * scale;
      for (let p = 0, b = off + ci * hw; p < hw; p++) {
        const v = x.data[b + p] * scale + shift;
        y[b + p] = relu && v < 0 ? 0 : v;
      }
    }
  }
};

/** Inputs [x, gamma, beta, dy, y] (y for the fused ReLU's mask); outputs [dx, dgamma, dbeta]. */
export const instancenormGrad: OpKernel<'instancenorm_grad'> = (ins, outs, node) => {
  const [x, gamma, , dyT, yT] = ins;
  const [dx, dgamma, dbeta] = outs.map((o) => o.data as Float);
  const { eps, relu } = node.attrs;
  const [n, c] = x.shape;
  const hw = spatialSize(x.shape);
  const X = x.data as Float, Y = yT.data as Float, DY = dyT.data as Float;
  const g = (i: number) => (relu && !(Y[i] > 0) ? 0 : DY[i]);
  dgamma.fill(0);
  dbeta.fill(0);
  for (let ni = 0; ni < n; ni++) {
    const off = ni * c * hw;
    const { mean, variance } = batchStats(X.subarray(off, off + c * hw), 1, c, hw);
    for (let ci = 0; ci < c; ci++) {
      const b = off + ci * hw, inv = 1 / Math.sqrt(variance[ci] + eps);
      let sumDy = 0, sumDyXhat = 0;
      for (let p = 0; p < hw; p++) { sumDy += g(b + p); sumDyXhat += g(b + p) * (X[b + p] - mean[ci]) * inv; }
      dgamma[ci] += sumDyXhat;
      dbeta[ci] += sumDy;
      const gi = gamma.data[ci] * inv;
      for (let p = 0; p < hw; p++) dx[b + p] = gi * (g(b + p) - sumDy / hw - (X[b + p] - mean[ci]) * inv * sumDyXhat / hw);
    }
  }
};
