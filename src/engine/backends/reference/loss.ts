// Segmentation losses on logits [N,K,H,W] or [N,K,D,H,W] (see docs/engine.md, "Losses") and their gradients.
import type { OpKernel, Float } from '../../backend.js';
import type { LossKind } from '../../graph.js';
import { sigmoidOf } from './elementwise.js';

const SMOOTH = 1e-5;

interface Dims { n: number; k: number; hw: number }

/** Channel softmax of z into a new array. */
function softmaxOf(z: Float, { n, k, hw }: Dims): Float64Array {
  const p = new Float64Array(z.length);
  for (let ni = 0; ni < n; ni++) {
    for (let q = 0; q < hw; q++) {
      const b = ni * k * hw + q;
      let mx = -Infinity;
      for (let ki = 0; ki < k; ki++) mx = Math.max(mx, z[b + ki * hw]);
      let s = 0;
      for (let ki = 0; ki < k; ki++) s += (p[b + ki * hw] = Math.exp(z[b + ki * hw] - mx));
      for (let ki = 0; ki < k; ki++) p[b + ki * hw] /= s;
    }
  }
  return p;
}

/**
 * Soft Dice over groups of `len` consecutive values (one group per image, or per image and
 * class): returns 1 - mean D and, if grad is given, adds d(1 - mean D)/dp * dscale into it.
 */
function diceTerm(p: ArrayLike<number>, t: ArrayLike<number>, groups: number, len: number, grad?: Float64Array, dscale = 1): number {
  let total = 0;
  for (let gi = 0; gi < groups; gi++) {
    let spt = 0, sp = 0, st = 0;
    for (let i = gi * len; i < (gi + 1) * len; i++) { spt += p[i] * t[i]; sp += p[i]; st += t[i]; }
    const num = 2 * spt + SMOOTH, den = sp + st + SMOOTH;
    total += num / den;
    if (grad) {
      // dD/dp_i = (2 t_i den - num) / den^2; the loss is 1 - mean D.
      const f = -dscale / groups / (den * den);
      for (let i = gi * len; i < (gi + 1) * len; i++) grad[i] += f * (2 * t[i] * den - num);
    }
  }
  return 1 - total / groups;
}

/** Mean BCE-with-logits; adds its gradient times dscale into grad if given. */
function bceTerm(z: Float, t: Float, grad?: Float64Array, dscale = 1): number {
  let s = 0;
  const m = z.length;
  for (let i = 0; i < m; i++) {
    s += Math.max(z[i], 0) - z[i] * t[i] + Math.log1p(Math.exp(-Math.abs(z[i])));
    if (grad) grad[i] += (dscale * (sigmoidOf(z[i]) - t[i])) / m;
  }
  return s / m;
}

/** Mean over pixels of -sum_k t_k log softmax_k; adds its gradient times dscale into grad if given. */
function ceTerm(z: Float, t: Float, p: Float64Array, { n, k, hw }: Dims, grad?: Float64Array, dscale = 1): number {
  let s = 0;
  const pixels = n * hw;
  for (let ni = 0; ni < n; ni++) {
    for (let q = 0; q < hw; q++) {
      const b = ni * k * hw + q;
      let mx = -Infinity;
      for (let ki = 0; ki < k; ki++) mx = Math.max(mx, z[b + ki * hw]);
      let se = 0;
      for (let ki = 0; ki < k; ki++) se += Math.exp(z[b + ki * hw] - mx);
      const lse = mx + Math.log(se);
      let tsum = 0;
      for (let ki = 0; ki < k; ki++) { s -= t[b + ki * hw] * (z[b + ki * hw] - lse); tsum += t[b + ki * hw]; }
      // d/dz_k of -sum_j t_j (z_j - lse) = p_k sum_j t_j - t_k.
      if (grad) for (let ki = 0; ki < k; ki++) grad[b + ki * hw] += (dscale * (p[b + ki * hw] * tsum - t[b + ki * hw])) / pixels;
    }
  }
  return s / pixels;
}

/** Loss value, and with wantGrad its gradient with respect to the logits (scaled by dscale). */
export function segLoss(kind: LossKind, bceWeight: number, z: Float, t: Float, shape: readonly number[],
                        wantGrad: boolean, dscale = 1): { value: number; grad?: Float64Array } {
  const [n, k] = shape;
  const hw = z.length / (n * k); // H*W or D*H*W
  const dims = { n, k, hw };
  const grad = wantGrad ? new Float64Array(z.length) : undefined;
  switch (kind) {
    case 'bce': return { value: bceTerm(z, t, grad, dscale), grad };
    case 'dice':
    case 'bce_dice': {
      const p = new Float64Array(z.length);
      for (let i = 0; i < z.length; i++) p[i] = sigmoidOf(z[i]);
      const dp = wantGrad ? new Float64Array(z.length) : undefined;
      const dice = diceTerm(p, t, n, k * hw, dp, dscale);
      if (grad && dp) for (let i = 0; i < z.length; i++) grad[i] = dp[i] * p[i] * (1 - p[i]);
      const bce = kind === 'bce_dice' ? bceWeight * bceTerm(z, t, grad, dscale * bceWeight) : 0;
      return { value: bce + dice, grad };
    }
    case 'ce':
    case 'ce_dice': {
      const p = softmaxOf(z, dims);
      const ce = ceTerm(z, t, p, dims, grad, dscale);
      if (kind === 'ce') return { value: ce, grad };
      // Dice per (image, class): NC(D)HW makes each a contiguous run of hw values.
      const dp = wantGrad ? new Float64Array(z.length) : undefined;
      const dice = diceTerm(p, t, n * k, hw, dp, dscale);
      if (grad && dp) {
        // Back through the channel softmax: dz_k = p_k (dp_k - sum_j p_j dp_j).
        for (let ni = 0; ni < n; ni++) {
          for (let q = 0; q < hw; q++) {
            const b = ni * k * hw + q;
            let dot = 0;
            for (let ki = 0; ki < k; ki++) dot += p[b + ki * hw] * dp[b + ki * hw];
            for (let ki = 0; ki < k; ki++) grad[b + ki * hw] += p[b + ki * hw] * (dp[b + ki * hw] - dot);
          }
        }
      }
      return { value: ce + dice, grad };
    }
    default:
      throw new Error(`loss: unknown kind '${kind as string}'`);
  }
}

export const loss: OpKernel<'loss'> = (ins, outs, node) => {
  const [z, t] = ins;
  outs[0].data[0] = segLoss(node.attrs.kind, node.attrs.bceWeight, z.data as Float, t.data as Float, z.shape, false).value;
};

export const lossGrad: OpKernel<'loss_grad'> = (ins, outs, node) => {
  const [z, t, dy] = ins;
  const { grad } = segLoss(node.attrs.kind, node.attrs.bceWeight, z.data as Float, t.data as Float, z.shape, true, dy.data[0]);
  outs[0].data.set(grad!);
};
