// Max-pool 2x2 (2x2x2 for volumes, or per-axis factors) stride = window, odd sizes floored, and its gradient.
import type { OpKernel } from '../../backend.js';
import { factorsOf } from '../../ops.js';
import { dhw } from './spatial.js';

/** Index into X of the max of the window at `start`: the first max in row-major window order. */
function argmax(X: ArrayLike<number>, start: number, offsets: number[]): number {
  let best = start;
  for (const off of offsets) {
    const idx = start + off;
    // NaN wins, as in PyTorch, so that a NaN is not hidden from checkFinite.
    if (X[idx] > X[best] || (X[idx] !== X[idx] && X[best] === X[best])) best = idx;
  }
  return best;
}

/** Calls f(input index of the window's max, output index) for every output of x [N,C,(D,)H,W]; window
 *  (and stride) `factors` per spatial axis. */
function eachWindow(X: ArrayLike<number>, shape: readonly number[], factors: number[],
                    f: (xi: number, yi: number) => void) {
  const [n, c] = shape;
  const [d, h, w] = dhw(shape);
  const [kd, kh, kw] = shape.length === 5 ? factors : [1, ...factors];
  const od = Math.floor(d / kd), ho = Math.floor(h / kh), wo = Math.floor(w / kw);
  const offsets: number[] = [];
  for (let a = 0; a < kd; a++) for (let b = 0; b < kh; b++) for (let e = 0; e < kw; e++) offsets.push((a * h + b) * w + e);
  offsets.shift(); // the window's first value is where argmax starts
  let yi = 0;
  for (let nc = 0; nc < n * c; nc++)
    for (let z = 0; z < od; z++)
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++) f(argmax(X, nc * d * h * w + (kd * z * h + kh * i) * w + kw * j, offsets), yi++);
}

export const maxpool: OpKernel<'maxpool'> = (ins, outs, node) => {
  const X = ins[0].data, y = outs[0].data;
  eachWindow(X, ins[0].shape, factorsOf(node.attrs, ins[0].shape.length - 2), (xi, yi) => { y[yi] = X[xi]; });
};

export const maxpoolGrad: OpKernel<'maxpool_grad'> = (ins, outs, node) => {
  const [x, , dy] = ins;
  const dx = outs[0].data;
  dx.fill(0);
  eachWindow(x.data, x.shape, factorsOf(node.attrs, x.shape.length - 2), (xi, yi) => { dx[xi] = dy.data[yi]; });
};
