// x2 up-sampling along every spatial axis, or per axis (factors 1 or 2; bilinear/trilinear with either
// corner convention, nearest) and its adjoint, and concat_up (a concat whose last part is up-sampled in place).
import type { OpKernel } from '../../backend.js';
import { factorsOf, type UpsampleAttrs } from '../../ops.js';
import { concat, splitChannels } from './elementwise.js';
import { dhw, spatialSize } from './spatial.js';

/** For one axis: output o reads inputs i0 and i1 with weights (1 - l) and l. */
interface Tap { i0: number; i1: number; l: number }

/** Source taps of every output index along an axis of input size `size` (output factor*size), as PyTorch;
 *  factor 1 reads each input once with weight 1. */
function taps(size: number, mode: string, alignCorners: boolean, factor: number): Tap[] {
  const out = factor * size;
  const t: Tap[] = [];
  for (let o = 0; o < out; o++) {
    if (mode === 'nearest') { t.push({ i0: Math.floor(o / factor), i1: Math.floor(o / factor), l: 0 }); continue; }
    let src: number;
    if (alignCorners) src = out > 1 ? (o * (size - 1)) / (out - 1) : 0;
    else src = Math.max(0, (o + 0.5) / factor - 0.5);
    const i0 = Math.min(Math.floor(src), size - 1);
    const i1 = Math.min(i0 + 1, size - 1);
    t.push({ i0, i1, l: src - i0 });
  }
  return t;
}

/** Where output yi of one channel reads: planes (offset, weight) along depth, then bilinear taps in the plane. */
interface Reads { planes: [number, number][]; r0: number; r1: number; c0: number; c1: number; ly: number; lx: number }

/** Calls f(yi, reads) for the outputs of one channel of x [N,C,(D,)H,W] (reads is reused between calls). */
function eachOutput(xShape: readonly number[], a: UpsampleAttrs, f: (yi: number, at: Reads) => void) {
  const [d, h, w] = dhw(xShape);
  const { mode, alignCorners } = a;
  const fs = factorsOf(a, xShape.length - 2), [fh, fw] = fs.slice(-2);
  const ty = taps(h, mode, alignCorners, fh), tx = taps(w, mode, alignCorners, fw);
  // Images read one plane with weight 1 (exact: 2D results are what they always were).
  const depth: [number, number][][] = xShape.length === 5
    ? taps(d, mode, alignCorners, fs[0]).map(({ i0, i1, l }) => [[i0 * h * w, 1 - l], [i1 * h * w, l]])
    : [[[0, 1]]];
  const at: Reads = { planes: [], r0: 0, r1: 0, c0: 0, c1: 0, ly: 0, lx: 0 };
  let yi = 0;
  for (const planes of depth) {
    at.planes = planes;
    for (const { i0: r0, i1: r1, l: ly } of ty) {
      at.r0 = r0 * w; at.r1 = r1 * w; at.ly = ly;
      for (const { i0: c0, i1: c1, l: lx } of tx) {
        at.c0 = c0; at.c1 = c1; at.lx = lx;
        f(yi++, at);
      }
    }
  }
}

/** The up-sampled size of one channel of x. */
const upSize = (xShape: readonly number[], a: UpsampleAttrs) =>
  factorsOf(a, xShape.length - 2).reduce((p, f) => p * f, spatialSize(xShape));

/** Up-samples x [N,C,(D,)H,W] into channels start..start+C-1 of y [N,Cy,(2D,)2H,2W] (or the factors' sizes). */
function upsampleInto(X: ArrayLike<number>, xShape: readonly number[], y: { [i: number]: number }, cy: number, start: number,
                      a: UpsampleAttrs) {
  const [n, c] = xShape;
  const xsz = spatialSize(xShape), ysz = upSize(xShape, a);
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++) {
      const xb = (ni * c + ci) * xsz, yb = (ni * cy + start + ci) * ysz;
      eachOutput(xShape, a, (yi, { planes, r0, r1, c0, c1, ly, lx }) => {
        let v = 0;
        for (const [p, wz] of planes) {
          const top = (1 - lx) * X[xb + p + r0 + c0] + lx * X[xb + p + r0 + c1];
          const bottom = (1 - lx) * X[xb + p + r1 + c0] + lx * X[xb + p + r1 + c1];
          v += wz * ((1 - ly) * top + ly * bottom);
        }
        y[yb + yi] = v;
      });
    }
}

export const upsample2x: OpKernel<'upsample2x'> = (ins, outs, node) => {
  upsampleInto(ins[0].data, ins[0].shape, outs[0].data, outs[0].shape[1], 0, node.attrs);
};

/** concat([...xs, upsample2x(low)]): the xs copied as concat does, low up-sampled into the last channels. */
export const concatUp: OpKernel<'concat_up'> = (ins, outs, node) => {
  const xs = ins.slice(0, -1), low = ins[ins.length - 1];
  concat(xs, outs);
  const cy = outs[0].shape[1];
  upsampleInto(low.data, low.shape, outs[0].data, cy, cy - low.shape[1], node.attrs);
};

/** dx [N,C,(D,)H,W] = the adjoint of upsample2x applied to channels start..start+C-1 of dy [N,Cy,(2D,)2H,2W]. */
function upsampleGradFrom(dy: ArrayLike<number>, cy: number, start: number, dx: { [i: number]: number; fill(v: number): unknown },
                          xShape: readonly number[], a: UpsampleAttrs) {
  const [n, c] = xShape;
  const xsz = spatialSize(xShape), ysz = upSize(xShape, a);
  dx.fill(0);
  for (let ni = 0; ni < n; ni++)
    for (let ci = 0; ci < c; ci++) {
      const xb = (ni * c + ci) * xsz, yb = (ni * cy + start + ci) * ysz;
      eachOutput(xShape, a, (yi, { planes, r0, r1, c0, c1, ly, lx }) => {
        for (const [p, wz] of planes) {
          const g = wz * dy[yb + yi];
          dx[xb + p + r0 + c0] += (1 - ly) * (1 - lx) * g;
          dx[xb + p + r0 + c1] += (1 - ly) * lx * g;
          dx[xb + p + r1 + c0] += ly * (1 - lx) * g;
          dx[xb + p + r1 + c1] += ly * lx * g;
        }
      });
    }
}

export const upsample2xGrad: OpKernel<'upsample2x_grad'> = (ins, outs, node) => {
  const x = node.attrs.xShape as number[];
  upsampleGradFrom(ins[0].data, x[1], 0, outs[0].data, x, node.attrs);
};

/** concat_up's gradients: the xs' are dy's leading channels (as split_channels), low's the adjoint
 *  of the up-sampling applied to dy's last channels. */
export const concatUpGrad: OpKernel<'concat_up_grad'> = (ins, outs, node) => {
  const dlow = outs[outs.length - 1];
  splitChannels(ins, outs.slice(0, -1));
  const cy = ins[0].shape[1];
  upsampleGradFrom(ins[0].data, cy, cy - dlow.shape[1], dlow.data, dlow.shape, node.attrs);
};
