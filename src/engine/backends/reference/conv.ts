// Convolution kernels, NC(D)HW, plain loops. Weights O,C,(kd,)kh,kw (conv; any size per axis, padded per axis) and
// [Cin,Cout,k,k(,k)] (transposed). Images run as volumes of depth 1 (spatial.ts): depth has
// no padding there, and the loops visit values in the 2D order, so 2D results are unchanged.
import type { OpKernel, Float } from '../../backend.js';
import { padsOf, type Pad } from '../../ops.js';
import { dhw, spatialSize } from './spatial.js';

/** The output rows oh with 0 <= oh*stride - pad + k < size, as [first, end). */
function validRange(k: number, pad: number, stride: number, size: number, outSize: number): [number, number] {
  // oh*stride >= pad - k  and  oh*stride < size + pad - k
  const first = Math.max(0, Math.ceil((pad - k) / stride));
  const end = Math.min(outSize, Math.ceil((size + pad - k) / stride));
  return [first, Math.max(first, end)];
}

/** Geometry shared by conv and its gradients: x [n,c,d,h,w], weight [o,c,kd,kh,kw], y [n,o,od,ho,wo]; the
 *  padding per axis (an image's depth has none). */
function geometry(xShape: readonly number[], wShape: readonly number[], yShape: readonly number[], pad: Pad) {
  const [d, h, w] = dhw(xShape), [kd, kh, kw] = dhw(wShape), [od, ho, wo] = dhw(yShape);
  const p = padsOf(pad, xShape.length - 2), [padD, padH, padW] = xShape.length === 5 ? p : [0, ...p];
  return { n: xShape[0], c: xShape[1], o: wShape[0], d, h, w, kd, kh, kw, od, ho, wo, padD, padH, padW };
}

/** For every kernel tap (kz, ki, kj), in that order: the output ranges [z0,z1) x [r0,r1) x [c0,c1)
 *  it touches, and the x offset of output (0, 0, 0) for it (out of range itself where padding is read). */
function tapRanges(gm: ReturnType<typeof geometry>, stride: number) {
  const out = [];
  for (let kz = 0; kz < gm.kd; kz++)
    for (let ki = 0; ki < gm.kh; ki++)
      for (let kj = 0; kj < gm.kw; kj++) {
        const [z0, z1] = validRange(kz, gm.padD, stride, gm.d, gm.od);
        const [r0, r1] = validRange(ki, gm.padH, stride, gm.h, gm.ho);
        const [c0, c1] = validRange(kj, gm.padW, stride, gm.w, gm.wo);
        out.push({ z0, z1, r0, r1, c0, c1, x0: ((kz - gm.padD) * gm.h + ki - gm.padH) * gm.w + kj - gm.padW });
      }
  return out;
}

// The three kernels share one loop nest: output (z, r, q) of tap (kz, ki, kj) pairs with input
// x0 + (z*h + r)*w*stride + q*stride, i.e. ((z*stride - padD + kz)*h + r*stride - padH + ki)*w - padW + kj + q*stride.

export const conv: OpKernel<'conv'> = (ins, outs, node) => {
  const [x, w, b] = ins;
  const y = outs[0].data;
  const { stride, pad, relu } = node.attrs;
  const gm = geometry(x.shape, w.shape, outs[0].shape, pad);
  const { n, c, o, h, kd, kh, kw, ho, wo } = gm;
  const xs = gm.d * h * gm.w, ys = gm.od * ho * wo, taps = tapRanges(gm, stride);
  const X = x.data, W = w.data;
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ys;
      const bias = b ? b.data[oi] : 0;
      for (let p = 0; p < ys; p++) y[yBase + p] = bias;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * xs;
        for (let kz = 0; kz < kd; kz++)
          for (let ki = 0; ki < kh; ki++)
            for (let kj = 0; kj < kw; kj++) {
              const wv = W[(((oi * c + ci) * kd + kz) * kh + ki) * kw + kj];
              const t = taps[(kz * kh + ki) * kw + kj];
              for (let z = t.z0; z < t.z1; z++)
                for (let r = t.r0; r < t.r1; r++) {
                  const xRow = xBase + t.x0 + (z * h + r) * gm.w * stride, yRow = yBase + (z * ho + r) * wo;
                  for (let q = t.c0; q < t.c1; q++) y[yRow + q] += wv * X[xRow + q * stride];
                }
            }
      }
      // `< 0` rather than `!(> 0)` so that a NaN still reaches checkFinite.
      if (relu) for (let p = 0; p < ys; p++) if (y[yBase + p] < 0) y[yBase + p] = 0;
    }
  }
};

export const convGradInput: OpKernel<'conv_grad_input'> = (ins, outs, node) => {
  const [dy, w] = ins;
  const dx = outs[0].data;
  const { stride, pad } = node.attrs;
  const gm = geometry(outs[0].shape, w.shape, dy.shape, pad);
  const { n, c, o, h, kd, kh, kw, ho, wo } = gm;
  const xs = gm.d * h * gm.w, ys = gm.od * ho * wo, taps = tapRanges(gm, stride);
  const DY = dy.data, W = w.data;
  dx.fill(0);
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ys;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * xs;
        for (let kz = 0; kz < kd; kz++)
          for (let ki = 0; ki < kh; ki++)
            for (let kj = 0; kj < kw; kj++) {
              const wv = W[(((oi * c + ci) * kd + kz) * kh + ki) * kw + kj];
              const t = taps[(kz * kh + ki) * kw + kj];
              for (let z = t.z0; z < t.z1; z++)
                for (let r = t.r0; r < t.r1; r++) {
                  const xRow = xBase + t.x0 + (z * h + r) * gm.w * stride, yRow = yBase + (z * ho + r) * wo;
                  for (let q = t.c0; q < t.c1; q++) dx[xRow + q * stride] += wv * DY[yRow + q];
                }
            }
      }
    }
  }
};

export const convGradWeight: OpKernel<'conv_grad_weight'> = (ins, outs, node) => {
  const [x, dy] = ins;
  const dw = outs[0].data;
  const { stride, pad } = node.attrs;
  const gm = geometry(x.shape, outs[0].shape, dy.shape, pad);
  const { n, c, o, h, kd, kh, kw, ho, wo } = gm;
  const xs = gm.d * h * gm.w, ys = gm.od * ho * wo, taps = tapRanges(gm, stride);
  const X = x.data, DY = dy.data;
  for (let oi = 0; oi < o; oi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let kz = 0; kz < kd; kz++)
        for (let ki = 0; ki < kh; ki++)
          for (let kj = 0; kj < kw; kj++) {
            const t = taps[(kz * kh + ki) * kw + kj];
            let s = 0;
            for (let ni = 0; ni < n; ni++) {
              const xBase = (ni * c + ci) * xs;
              const yBase = (ni * o + oi) * ys;
              for (let z = t.z0; z < t.z1; z++)
                for (let r = t.r0; r < t.r1; r++) {
                  const xRow = xBase + t.x0 + (z * h + r) * gm.w * stride, yRow = yBase + (z * ho + r) * wo;
                  for (let q = t.c0; q < t.c1; q++) s += DY[yRow + q] * X[xRow + q * stride];
                }
            }
            dw[(((oi * c + ci) * kd + kz) * kh + ki) * kw + kj] = s;
          }
    }
  }
  if (node.attrs.bias) sumPerChannel(DY, n, o, ys, outs[1].data as Float);
};

/** db[o] = sum of dy over n and spatial positions. */
function sumPerChannel(dy: ArrayLike<number>, n: number, o: number, hw: number, db: Float32Array | Float64Array) {
  for (let oi = 0; oi < o; oi++) {
    let s = 0;
    for (let ni = 0; ni < n; ni++) {
      const base = (ni * o + oi) * hw;
      for (let p = 0; p < hw; p++) s += dy[base + p];
    }
    db[oi] = s;
  }
}

/**
 * Transposed conv with kernel k = stride k: every input position paints its own k x k (x k)
 * output block. Calls f(xi, yi, wi) for every (input, output, weight) offset triple of one
 * (image, in channel, out channel), in the order the 2D loops always used.
 */
function eachPaint(xShape: readonly number[], k: number, f: (xi: number, yi: number, wi: number) => void) {
  const [d, h, w] = dhw(xShape);
  const kd = xShape.length === 5 ? k : 1;
  const ho = h * k, wo = w * k;
  for (let z = 0; z < d; z++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const xi = (z * h + i) * w + j;
        for (let a3 = 0; a3 < kd; a3++)
          for (let a = 0; a < k; a++) {
            const yRow = ((z * kd + a3) * ho + i * k + a) * wo + j * k;
            for (let bb = 0; bb < k; bb++) f(xi, yRow + bb, (a3 * k + a) * k + bb);
          }
      }
}

/** Values per channel of the output, and of one weight [Cin,Cout] slot, for input shape x and kernel k. */
function tSizes(xShape: readonly number[], k: number) {
  const xs = spatialSize(xShape), kk = xShape.length === 5 ? k * k * k : k * k;
  return { xs, ys: xs * kk, kk };
}

export const convTranspose: OpKernel<'conv_transpose'> = (ins, outs, node) => {
  const [x, w, b] = ins;
  const y = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c] = x.shape;
  const o = w.shape[1];
  const { xs, ys, kk } = tSizes(x.shape, k);
  const X = x.data, W = w.data;
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ys;
      const bias = b ? b.data[oi] : 0;
      for (let p = 0; p < ys; p++) y[yBase + p] = bias;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * xs, wBase = (ci * o + oi) * kk;
        eachPaint(x.shape, k, (xi, yi, wi) => { y[yBase + yi] += X[xBase + xi] * W[wBase + wi]; });
      }
    }
  }
};

export const convTransposeGradInput: OpKernel<'conv_transpose_grad_input'> = (ins, outs, node) => {
  const [dy, w] = ins;
  const dx = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c] = outs[0].shape;
  const o = w.shape[1];
  const { xs, ys, kk } = tSizes(outs[0].shape, k);
  const DY = dy.data, W = w.data;
  const s = new Float64Array(xs);
  for (let ni = 0; ni < n; ni++) {
    for (let ci = 0; ci < c; ci++) {
      s.fill(0);
      for (let oi = 0; oi < o; oi++) {
        const yBase = (ni * o + oi) * ys, wBase = (ci * o + oi) * kk;
        eachPaint(outs[0].shape, k, (xi, yi, wi) => { s[xi] += DY[yBase + yi] * W[wBase + wi]; });
      }
      dx.set(s, (ni * c + ci) * xs);
    }
  }
};

export const convTransposeGradWeight: OpKernel<'conv_transpose_grad_weight'> = (ins, outs, node) => {
  const [x, dy] = ins;
  const dw = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c] = x.shape;
  const o = outs[0].shape[1];
  const { xs, ys, kk } = tSizes(x.shape, k);
  const X = x.data, DY = dy.data;
  dw.fill(0);
  for (let ni = 0; ni < n; ni++) {
    for (let ci = 0; ci < c; ci++) {
      const xBase = (ni * c + ci) * xs;
      for (let oi = 0; oi < o; oi++) {
        const yBase = (ni * o + oi) * ys, wBase = (ci * o + oi) * kk;
        eachPaint(x.shape, k, (xi, yi, wi) => { dw[wBase + wi] += X[xBase + xi] * DY[yBase + yi]; });
      }
    }
  }
  if (node.attrs.bias) sumPerChannel(DY, n, o, ys, outs[1].data as Float);
};
