// Element-wise, channel and reduction kernels. Data is NC(D)HW (or plain), so indices are logical.
import type { BTensor, OpKernel } from '../../backend.js';
import { dropoutStream, dropoutUniform } from '../../dropout-hash.js';
import { spatialSize } from './spatial.js';

const map1 = (f: (v: number) => number) => (ins: BTensor[], outs: BTensor[]) => {
  const x = ins[0].data, y = outs[0].data;
  for (let i = 0; i < y.length; i++) y[i] = f(x[i]);
};

const map2 = (f: (a: number, b: number) => number) => (ins: BTensor[], outs: BTensor[]) => {
  const a = ins[0].data, b = ins[1].data, y = outs[0].data;
  for (let i = 0; i < y.length; i++) y[i] = f(a[i], b[i]);
};

export const sigmoidOf = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

export const ones: OpKernel<'ones'> = (_ins, outs) => { outs[0].data.fill(1); };
// `v < 0 ? 0 : v` keeps NaN (as PyTorch), so checkFinite sees it.
export const relu = map1((v) => (v < 0 ? 0 : v));
export const sigmoid = map1(sigmoidOf);
export const scale: OpKernel<'scale'> = (ins, outs, node) => {
  const s: number = node.attrs.s;
  const x = ins[0].data, y = outs[0].data;
  for (let i = 0; i < y.length; i++) y[i] = s * x[i];
};
export const leakyRelu: OpKernel<'leaky_relu'> = (ins, outs, node) => {
  const alpha: number = node.attrs.alpha;
  const x = ins[0].data, y = outs[0].data;
  for (let i = 0; i < y.length; i++) y[i] = x[i] > 0 ? x[i] : alpha * x[i];
};
export const add = map2((a, b) => a + b);
export const mul = map2((a, b) => a * b);

export const reluGrad = map2((y, dy) => (y > 0 ? dy : 0));
export const sigmoidGrad = map2((y, dy) => dy * y * (1 - y));
export const leakyReluGrad: OpKernel<'leaky_relu_grad'> = (ins, outs, node) => {
  const alpha: number = node.attrs.alpha;
  const x = ins[0].data, dy = ins[1].data, dx = outs[0].data;
  for (let i = 0; i < dx.length; i++) dx[i] = x[i] > 0 ? dy[i] : alpha * dy[i];
};

export const addN: OpKernel<'add_n'> = (ins, outs) => {
  const y = outs[0].data;
  y.set(ins[0].data);
  for (const t of ins.slice(1)) for (let i = 0; i < y.length; i++) y[i] += t.data[i];
};

export const meanAll: OpKernel<'mean_all'> = (ins, outs) => {
  const x = ins[0].data;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  outs[0].data[0] = s / x.length;
};

export const fillGrad: OpKernel<'fill_grad'> = (ins, outs, node) => { outs[0].data.fill(ins[0].data[0] * node.attrs.scale); };

/** Inverted dropout; also the backward op (same seed and step give the same mask). */
export const dropout: OpKernel<'dropout'> = (ins, outs, node, rt) => {
  const { p, seed } = node.attrs;
  const x = ins[0].data, y = outs[0].data;
  const stream = dropoutStream(seed, rt.step);
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < y.length; i++) y[i] = dropoutUniform(stream, i) >= p ? x[i] * keepScale : 0;
};

/** Softmax over channels of [N,K,(D,)H,W], stabilised by the per-pixel max. */
export const softmax: OpKernel<'softmax'> = (ins, outs) => {
  const x = ins[0].data, y = outs[0].data;
  const [n, k] = ins[0].shape;
  const hw = spatialSize(ins[0].shape);
  for (let ni = 0; ni < n; ni++) {
    for (let p = 0; p < hw; p++) {
      const b = ni * k * hw + p;
      let mx = -Infinity;
      for (let ki = 0; ki < k; ki++) mx = Math.max(mx, x[b + ki * hw]);
      let s = 0;
      for (let ki = 0; ki < k; ki++) s += (y[b + ki * hw] = Math.exp(x[b + ki * hw] - mx));
      for (let ki = 0; ki < k; ki++) y[b + ki * hw] /= s;
    }
  }
};

export const softmaxGrad: OpKernel<'softmax_grad'> = (ins, outs) => {
  const y = ins[0].data, dy = ins[1].data, dx = outs[0].data;
  const [n, k] = ins[0].shape;
  const hw = spatialSize(ins[0].shape);
  for (let ni = 0; ni < n; ni++) {
    for (let p = 0; p < hw; p++) {
      const b = ni * k * hw + p;
      let dot = 0;
      for (let ki = 0; ki < k; ki++) dot += y[b + ki * hw] * dy[b + ki * hw];
      for (let ki = 0; ki < k; ki++) dx[b + ki * hw] = y[b + ki * hw] * (dy[b + ki * hw] - dot);
    }
  }
};

export const concat = (ins: BTensor[], outs: BTensor[]): void => {
  const y = outs[0].data;
  const [n, ctot] = outs[0].shape;
  const hw = spatialSize(outs[0].shape);
  let start = 0;
  for (const t of ins) {
    const c = t.shape[1];
    for (let ni = 0; ni < n; ni++) y.set(t.data.subarray(ni * c * hw, (ni + 1) * c * hw), (ni * ctot + start) * hw);
    start += c;
  }
};

export const splitChannels = (ins: BTensor[], outs: BTensor[]): void => {
  const dy = ins[0].data;
  const [n, ctot] = ins[0].shape;
  const hw = spatialSize(ins[0].shape);
  let start = 0;
  for (const t of outs) {
    const c = t.shape[1];
    for (let ni = 0; ni < n; ni++) t.data.set(dy.subarray((ni * ctot + start) * hw, (ni * ctot + start + c) * hw), ni * c * hw);
    start += c;
  }
};
