// Max-pool 2x2 stride 2 (odd sizes floored) and its gradient.
import type { Kernel } from '../../backend.js';

/** Index into x of the max of window (i, j): the first max in row-major window order. */
function argmax(X: ArrayLike<number>, base: number, w: number, i: number, j: number): number {
  let best = base + 2 * i * w + 2 * j;
  for (const off of [1, w, w + 1]) {
    const idx = base + 2 * i * w + 2 * j + off;
    // NaN wins, as in PyTorch, so that a NaN is not hidden from checkFinite.
    if (X[idx] > X[best] || (X[idx] !== X[idx] && X[best] === X[best])) best = idx;
  }
  return best;
}

export const maxpool: Kernel = (ins, outs) => {
  const x = ins[0];
  const y = outs[0].data;
  const [n, c, h, w] = x.shape;
  const ho = Math.floor(h / 2), wo = Math.floor(w / 2);
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++) y[(nc * ho + i) * wo + j] = x.data[argmax(x.data, nc * h * w, w, i, j)];
};

export const maxpoolGrad: Kernel = (ins, outs) => {
  const [x, , dy] = ins;
  const dx = outs[0].data;
  const [n, c, h, w] = x.shape;
  const ho = Math.floor(h / 2), wo = Math.floor(w / 2);
  dx.fill(0);
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++) dx[argmax(x.data, nc * h * w, w, i, j)] = dy.data[(nc * ho + i) * wo + j];
};
