// x2 up-sampling (bilinear with either corner convention, nearest) and its adjoint.
import type { Kernel } from '../../backend.js';

/** For one axis: output o reads inputs i0 and i1 with weights (1 - l) and l. */
interface Tap { i0: number; i1: number; l: number }

/** Source taps of every output index along an axis of input size `size` (output 2*size), as PyTorch. */
export function taps(size: number, mode: string, alignCorners: boolean): Tap[] {
  const out = 2 * size;
  const t: Tap[] = [];
  for (let o = 0; o < out; o++) {
    if (mode === 'nearest') { t.push({ i0: Math.floor(o / 2), i1: Math.floor(o / 2), l: 0 }); continue; }
    let src: number;
    if (alignCorners) src = size > 1 ? (o * (size - 1)) / (out - 1) : 0;
    else src = Math.max(0, (o + 0.5) / 2 - 0.5);
    const i0 = Math.min(Math.floor(src), size - 1);
    const i1 = Math.min(i0 + 1, size - 1);
    t.push({ i0, i1, l: src - i0 });
  }
  return t;
}

export const upsample2x: Kernel = (ins, outs, node) => {
  const x = ins[0];
  const y = outs[0].data;
  const [n, c, h, w] = x.shape;
  const ty = taps(h, node.attrs.mode, node.attrs.alignCorners);
  const tx = taps(w, node.attrs.mode, node.attrs.alignCorners);
  const X = x.data;
  const ho = 2 * h, wo = 2 * w;
  for (let nc = 0; nc < n * c; nc++) {
    const xb = nc * h * w, yb = nc * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const { i0: r0, i1: r1, l: ly } = ty[oy];
      for (let ox = 0; ox < wo; ox++) {
        const { i0: c0, i1: c1, l: lx } = tx[ox];
        const top = (1 - lx) * X[xb + r0 * w + c0] + lx * X[xb + r0 * w + c1];
        const bottom = (1 - lx) * X[xb + r1 * w + c0] + lx * X[xb + r1 * w + c1];
        y[yb + oy * wo + ox] = (1 - ly) * top + ly * bottom;
      }
    }
  }
};

export const upsample2xGrad: Kernel = (ins, outs, node) => {
  const dy = ins[0].data;
  const dx = outs[0].data;
  const [n, c, h, w] = node.attrs.xShape as number[];
  const ty = taps(h, node.attrs.mode, node.attrs.alignCorners);
  const tx = taps(w, node.attrs.mode, node.attrs.alignCorners);
  const ho = 2 * h, wo = 2 * w;
  dx.fill(0);
  for (let nc = 0; nc < n * c; nc++) {
    const xb = nc * h * w, yb = nc * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const { i0: r0, i1: r1, l: ly } = ty[oy];
      for (let ox = 0; ox < wo; ox++) {
        const { i0: c0, i1: c1, l: lx } = tx[ox];
        const g = dy[yb + oy * wo + ox];
        dx[xb + r0 * w + c0] += (1 - ly) * (1 - lx) * g;
        dx[xb + r0 * w + c1] += (1 - ly) * lx * g;
        dx[xb + r1 * w + c0] += ly * (1 - lx) * g;
        dx[xb + r1 * w + c1] += ly * lx * g;
      }
    }
  }
};
