// x2 up-sampling (bilinear with either corner convention, nearest) and its adjoint, and
// concat_up (a concat whose last part is up-sampled in place).
import type { Kernel } from '../../backend.js';
import { concat, splitChannels } from './elementwise.js';

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

/** Up-samples x [N,C,H,W] into channels start..start+C-1 of y [N,Cy,2H,2W]. */
function upsampleInto(X: ArrayLike<number>, xShape: readonly number[], y: { [i: number]: number }, cy: number, start: number,
                      mode: string, alignCorners: boolean) {
  const [n, c, h, w] = xShape;
  const ty = taps(h, mode, alignCorners);
  const tx = taps(w, mode, alignCorners);
  const ho = 2 * h, wo = 2 * w;
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++) {
      const xb = (ni * c + ci) * h * w, yb = (ni * cy + start + ci) * ho * wo;
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
}

export const upsample2x: Kernel = (ins, outs, node) => {
  upsampleInto(ins[0].data, ins[0].shape, outs[0].data, outs[0].shape[1], 0, node.attrs.mode, node.attrs.alignCorners);
};

/** concat([...xs, upsample2x(low)]): the xs copied as concat does, low up-sampled into the last channels. */
export const concatUp: Kernel = (ins, outs, node, rt) => {
  const xs = ins.slice(0, -1), low = ins[ins.length - 1];
  concat(xs, outs, node, rt);
  const cy = outs[0].shape[1];
  upsampleInto(low.data, low.shape, outs[0].data, cy, cy - low.shape[1], node.attrs.mode, node.attrs.alignCorners);
};

/** dx [N,C,H,W] = the adjoint of upsample2x applied to channels start..start+C-1 of dy [N,Cy,2H,2W]. */
function upsampleGradFrom(dy: ArrayLike<number>, cy: number, start: number, dx: { [i: number]: number; fill(v: number): unknown },
                          xShape: readonly number[], mode: string, alignCorners: boolean) {
  const [n, c, h, w] = xShape;
  const ty = taps(h, mode, alignCorners);
  const tx = taps(w, mode, alignCorners);
  const ho = 2 * h, wo = 2 * w;
  dx.fill(0);
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++) {
      const xb = (ni * c + ci) * h * w, yb = (ni * cy + start + ci) * ho * wo;
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
}

export const upsample2xGrad: Kernel = (ins, outs, node) => {
  const x = node.attrs.xShape as number[];
  upsampleGradFrom(ins[0].data, x[1], 0, outs[0].data, x, node.attrs.mode, node.attrs.alignCorners);
};

/** concat_up's gradients: the xs' are dy's leading channels (as split_channels), low's the adjoint
 *  of the up-sampling applied to dy's last channels. */
export const concatUpGrad: Kernel = (ins, outs, node, rt) => {
  const dlow = outs[outs.length - 1];
  splitChannels(ins, outs.slice(0, -1), node, rt);
  const cy = ins[0].shape[1];
  upsampleGradFrom(ins[0].data, cy, cy - dlow.shape[1], dlow.data, dlow.shape, node.attrs.mode, node.attrs.alignCorners);
};
