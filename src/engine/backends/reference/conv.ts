// Convolution kernels, NCHW, plain loops. Weights OIHW (conv) and [Cin,Cout,k,k] (transposed).
import type { Kernel, Float } from '../../backend.js';

/** The output rows oh with 0 <= oh*stride - pad + k < size, as [first, end). */
function validRange(k: number, pad: number, stride: number, size: number, outSize: number): [number, number] {
  // oh*stride >= pad - k  and  oh*stride < size + pad - k
  const first = Math.max(0, Math.ceil((pad - k) / stride));
  const end = Math.min(outSize, Math.ceil((size + pad - k) / stride));
  return [first, Math.max(first, end)];
}

export const conv: Kernel = (ins, outs, node) => {
  const [x, w, b] = ins;
  const y = outs[0].data;
  const { stride, pad, relu } = node.attrs;
  const [n, c, h, wd] = x.shape;
  const [o, , kh, kw] = w.shape;
  const [, , ho, wo] = outs[0].shape;
  const X = x.data, W = w.data;
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ho * wo;
      const bias = b ? b.data[oi] : 0;
      for (let p = 0; p < ho * wo; p++) y[yBase + p] = bias;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * h * wd;
        for (let ki = 0; ki < kh; ki++) {
          const [r0, r1] = validRange(ki, pad, stride, h, ho);
          for (let kj = 0; kj < kw; kj++) {
            const wv = W[((oi * c + ci) * kh + ki) * kw + kj];
            const [c0, c1] = validRange(kj, pad, stride, wd, wo);
            for (let r = r0; r < r1; r++) {
              const xRow = xBase + (r * stride - pad + ki) * wd - pad + kj;
              const yRow = yBase + r * wo;
              for (let q = c0; q < c1; q++) y[yRow + q] += wv * X[xRow + q * stride];
            }
          }
        }
      }
      // `< 0` rather than `!(> 0)` so that a NaN still reaches checkFinite.
      if (relu) for (let p = 0; p < ho * wo; p++) if (y[yBase + p] < 0) y[yBase + p] = 0;
    }
  }
};

export const convGradInput: Kernel = (ins, outs, node) => {
  const [dy, w] = ins;
  const dx = outs[0].data;
  const { stride, pad } = node.attrs;
  const [n, c, h, wd] = outs[0].shape;
  const [o, , kh, kw] = w.shape;
  const [, , ho, wo] = dy.shape;
  const DY = dy.data, W = w.data;
  dx.fill(0);
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ho * wo;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * h * wd;
        for (let ki = 0; ki < kh; ki++) {
          const [r0, r1] = validRange(ki, pad, stride, h, ho);
          for (let kj = 0; kj < kw; kj++) {
            const wv = W[((oi * c + ci) * kh + ki) * kw + kj];
            const [c0, c1] = validRange(kj, pad, stride, wd, wo);
            for (let r = r0; r < r1; r++) {
              const xRow = xBase + (r * stride - pad + ki) * wd - pad + kj;
              const yRow = yBase + r * wo;
              for (let q = c0; q < c1; q++) dx[xRow + q * stride] += wv * DY[yRow + q];
            }
          }
        }
      }
    }
  }
};

export const convGradWeight: Kernel = (ins, outs, node) => {
  const [x, dy] = ins;
  const dw = outs[0].data;
  const { stride, pad } = node.attrs;
  const [n, c, h, wd] = x.shape;
  const [o, , kh, kw] = outs[0].shape;
  const [, , ho, wo] = dy.shape;
  const X = x.data, DY = dy.data;
  for (let oi = 0; oi < o; oi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let ki = 0; ki < kh; ki++) {
        const [r0, r1] = validRange(ki, pad, stride, h, ho);
        for (let kj = 0; kj < kw; kj++) {
          const [c0, c1] = validRange(kj, pad, stride, wd, wo);
          let s = 0;
          for (let ni = 0; ni < n; ni++) {
            const xBase = (ni * c + ci) * h * wd;
            const yBase = (ni * o + oi) * ho * wo;
            for (let r = r0; r < r1; r++) {
              const xRow = xBase + (r * stride - pad + ki) * wd - pad + kj;
              const yRow = yBase + r * wo;
              for (let q = c0; q < c1; q++) s += DY[yRow + q] * X[xRow + q * stride];
            }
          }
          dw[((oi * c + ci) * kh + ki) * kw + kj] = s;
        }
      }
    }
  }
  if (node.attrs.bias) sumPerChannel(DY, n, o, ho * wo, outs[1].data as Float);
};

/** db[o] = sum of dy over n and pixels. */
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

// Transposed conv with kernel k = stride k: every input pixel paints its own k x k output block.
export const convTranspose: Kernel = (ins, outs, node) => {
  const [x, w, b] = ins;
  const y = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c, h, wd] = x.shape;
  const o = w.shape[1];
  const ho = h * k, wo = wd * k;
  const X = x.data, W = w.data;
  for (let ni = 0; ni < n; ni++) {
    for (let oi = 0; oi < o; oi++) {
      const yBase = (ni * o + oi) * ho * wo;
      const bias = b ? b.data[oi] : 0;
      for (let p = 0; p < ho * wo; p++) y[yBase + p] = bias;
      for (let ci = 0; ci < c; ci++) {
        const xBase = (ni * c + ci) * h * wd;
        const wBase = (ci * o + oi) * k * k;
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < wd; j++) {
            const xv = X[xBase + i * wd + j];
            for (let a = 0; a < k; a++) {
              const yRow = yBase + (i * k + a) * wo + j * k;
              for (let bb = 0; bb < k; bb++) y[yRow + bb] += xv * W[wBase + a * k + bb];
            }
          }
        }
      }
    }
  }
};

export const convTransposeGradInput: Kernel = (ins, outs, node) => {
  const [dy, w] = ins;
  const dx = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c, h, wd] = outs[0].shape;
  const o = w.shape[1];
  const ho = h * k, wo = wd * k;
  const DY = dy.data, W = w.data;
  for (let ni = 0; ni < n; ni++) {
    for (let ci = 0; ci < c; ci++) {
      const xBase = (ni * c + ci) * h * wd;
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < wd; j++) {
          let s = 0;
          for (let oi = 0; oi < o; oi++) {
            const yBase = (ni * o + oi) * ho * wo;
            const wBase = (ci * o + oi) * k * k;
            for (let a = 0; a < k; a++) {
              const yRow = yBase + (i * k + a) * wo + j * k;
              for (let bb = 0; bb < k; bb++) s += DY[yRow + bb] * W[wBase + a * k + bb];
            }
          }
          dx[xBase + i * wd + j] = s;
        }
      }
    }
  }
};

export const convTransposeGradWeight: Kernel = (ins, outs, node) => {
  const [x, dy] = ins;
  const dw = outs[0].data;
  const k: number = node.attrs.stride;
  const [n, c, h, wd] = x.shape;
  const o = outs[0].shape[1];
  const ho = h * k, wo = wd * k;
  const X = x.data, DY = dy.data;
  dw.fill(0);
  for (let ni = 0; ni < n; ni++) {
    for (let ci = 0; ci < c; ci++) {
      const xBase = (ni * c + ci) * h * wd;
      for (let oi = 0; oi < o; oi++) {
        const yBase = (ni * o + oi) * ho * wo;
        const wBase = (ci * o + oi) * k * k;
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < wd; j++) {
            const xv = X[xBase + i * wd + j];
            for (let a = 0; a < k; a++) {
              const yRow = yBase + (i * k + a) * wo + j * k;
              for (let bb = 0; bb < k; bb++) dw[wBase + a * k + bb] += xv * DY[yRow + bb];
            }
          }
        }
      }
    }
  }
  if (node.attrs.bias) sumPerChannel(DY, n, o, ho * wo, outs[1].data as Float);
};
