// Segmentation losses on logits [N,K,H,W] or [N,K,D,H,W] (see docs/engine.md, "Losses") and their gradients.
import type { OpKernel, Float } from '../../backend.js';
import type { DiceOptions, LossKind } from '../../graph.js';
import { checkDiceOptions } from '../../dice-options.js';
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

/** Which Dice: per image or over the batch; groups below `first` (the background) left out. */
interface DiceWay { batch: boolean; first: number }

/**
 * Soft Dice over n images of g groups (classes) each, a group being `len` consecutive values:
 * returns 1 - the mean D over the groups from `first` on, per image or, with batch, over the sums
 * of all images; if grad is given, adds d(1 - mean D)/dp * dscale into it.
 */
function diceTerm(p: ArrayLike<number>, t: ArrayLike<number>, n: number, g: number, len: number, way: DiceWay,
                  grad?: Float64Array, dscale = 1): number {
  const spt = new Float64Array(n * g), sp = new Float64Array(n * g), st = new Float64Array(n * g);
  for (let j = 0; j < n * g; j++)
    for (let i = j * len; i < (j + 1) * len; i++) { spt[j] += p[i] * t[i]; sp[j] += p[i]; st[j] += t[i]; }
  // batch: every image's group c reads the sums of class c over the batch
  const src = (j: number) => (way.batch ? j % g : j);
  if (way.batch) {
    for (let j = g; j < n * g; j++) { spt[j % g] += spt[j]; sp[j % g] += sp[j]; st[j % g] += st[j]; }
  }
  const count = (g - way.first) * (way.batch ? 1 : n);
  let total = 0;
  for (let j = 0; j < (way.batch ? g : n * g); j++)
    if (j % g >= way.first) total += (2 * spt[j] + SMOOTH) / (sp[j] + st[j] + SMOOTH);
  if (grad) {
    for (let j = 0; j < n * g; j++) {
      if (j % g < way.first) continue;
      // dD/dp_i = (2 t_i den - num) / den^2; the loss is 1 - mean D.
      const num = 2 * spt[src(j)] + SMOOTH, den = sp[src(j)] + st[src(j)] + SMOOTH;
      const f = -dscale / count / (den * den);
      for (let i = j * len; i < (j + 1) * len; i++) grad[i] += f * (2 * t[i] * den - num);
    }
  }
  return 1 - total / count;
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
                        wantGrad: boolean, dscale = 1, dice: DiceOptions = {}): { value: number; grad?: Float64Array } {
  const [n, k] = shape;
  checkDiceOptions(kind, k, dice);
  const way = { batch: !!dice.batchDice, first: dice.diceBackground === false ? 1 : 0 }; // checked: ce_dice
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
      const d = diceTerm(p, t, n, 1, k * hw, way, dp, dscale);
      if (grad && dp) for (let i = 0; i < z.length; i++) grad[i] = dp[i] * p[i] * (1 - p[i]);
      const bce = kind === 'bce_dice' ? bceWeight * bceTerm(z, t, grad, dscale * bceWeight) : 0;
      return { value: bce + d, grad };
    }
    case 'ce':
    case 'ce_dice': {
      const p = softmaxOf(z, dims);
      const ce = ceTerm(z, t, p, dims, grad, dscale);
      if (kind === 'ce') return { value: ce, grad };
      // Dice per (image, class): NC(D)HW makes each a contiguous run of hw values.
      const dp = wantGrad ? new Float64Array(z.length) : undefined;
      const d = diceTerm(p, t, n, k, hw, way, dp, dscale);
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
      return { value: ce + d, grad };
    }
    default:
      throw new Error(`loss: unknown kind '${kind as string}'`);
  }
}

export const loss: OpKernel<'loss'> = (ins, outs, node) => {
  const [z, t] = ins;
  const a = node.attrs;
  outs[0].data[0] = segLoss(a.kind, a.bceWeight, z.data as Float, t.data as Float, z.shape, false, 1, a).value;
};

export const lossGrad: OpKernel<'loss_grad'> = (ins, outs, node) => {
  const [z, t, dy] = ins;
  const a = node.attrs;
  const { grad } = segLoss(a.kind, a.bceWeight, z.data as Float, t.data as Float, z.shape, true, dy.data[0], a);
  outs[0].data.set(grad!);
};
