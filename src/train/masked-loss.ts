// Ignored voxels (an ignore label, as nnU-Net's) left out of the loss, built in the graph around
// the fused loss op, which takes no mask (the native kernel would need a rebuild):
// - the logits are multiplied by a 0/1 keep mask, so nothing flows back from an ignored voxel;
// - sigmoid kinds: ignored voxels get logit -BIG and target 0: p = 0, so they add nothing to
//   the BCE sum nor to Dice's sums (sum p t, sum p, sum t);
// - softmax kinds: one extra channel, logit +BIG at ignored voxels and -BIG elsewhere, whose
//   target is the ignore mask: at an ignored voxel every real class has p = 0 and t = 0 (out of
//   every Dice sum) and the cross-entropy term is -log 1 = 0; elsewhere the extra class has
//   p = 0, so the real classes' softmax is unchanged. Its own Dice is always 1 (per image or over
//   the batch), which only scales the Dice term by C/(C+1), C the classes in its mean (K, or K - 1
//   without the background): loss = (C+1)/C ce_dice - 1/C ce undoes that exactly.
// Means are still over all voxels of the batch (an ignored voxel counts as a zero term), and
// with no voxel ignored the loss equals the plain one.
import type { DiceOptions, Graph, LossKind, Value } from '../engine/graph.js';

/** Far beyond any trained logit, and exact in bf16: exp(-BIG) is 0 in float32 and double. */
const BIG = 1e4;

export const softmaxLoss = (kind: LossKind) => kind === 'ce' || kind === 'ce_dice';

/** The graph inputs a masked loss reads, made once per graph (shared by the heads). */
export interface LossMaskInputs { keep: Value; fill?: Value; extraLogit?: Value; extraTarget?: Value }

/** Declares the mask inputs for logits of shape [N, K, ...spatial]. */
export function lossMaskInputs(g: Graph, logits: readonly number[], kind: LossKind): LossMaskInputs {
  const keep = g.input('loss_keep', logits);
  if (!softmaxLoss(kind)) return { keep, fill: g.input('loss_fill', logits) };
  const one = [logits[0], 1, ...logits.slice(2)];
  return { keep, extraLogit: g.input('loss_extra_logit', one), extraTarget: g.input('loss_extra_target', one) };
}

/** One head's loss with the ignored voxels left out (see the file comment). */
export function maskedLoss(g: Graph, logits: Value, target: Value, kind: LossKind, bceWeight: number,
                           m: LossMaskInputs, dice: DiceOptions = {}): Value {
  const kept = g.mul(logits, m.keep);
  if (!softmaxLoss(kind)) return g.loss(g.add(kept, m.fill!), target, kind, bceWeight, dice);
  const z = g.concat([kept, m.extraLogit!]), t = g.concat([target, m.extraTarget!]);
  if (kind === 'ce') return g.loss(z, t, 'ce', bceWeight);
  const c = logits.shape[1] - (dice.diceBackground === false ? 1 : 0);
  if (c < 1) throw new Error('loss option diceBackground: false needs a foreground class');
  const ceDice = g.loss(z, t, 'ce_dice', bceWeight, dice), ce = g.loss(z, t, 'ce', bceWeight);
  return g.addN([g.scale(ceDice, (c + 1) / c), g.scale(ce, -1 / c)]);
}

/** The feeds of lossMaskInputs from a per-voxel ignore mask [N, ...spatial] (1 = ignored). */
export function lossMaskFeeds(ignore: Uint8Array, n: number, k: number, kind: LossKind): Record<string, Float32Array> {
  const size = ignore.length / n;
  const keep = new Float32Array(n * k * size);
  for (let b = 0; b < n; b++)
    for (let c = 0; c < k; c++) {
      const o = (b * k + c) * size, src = b * size;
      for (let i = 0; i < size; i++) keep[o + i] = 1 - ignore[src + i];
    }
  if (!softmaxLoss(kind)) {
    const fill = new Float32Array(keep.length);
    for (let i = 0; i < fill.length; i++) fill[i] = keep[i] ? 0 : -BIG;
    return { loss_keep: keep, loss_fill: fill };
  }
  const extraLogit = new Float32Array(ignore.length), extraTarget = new Float32Array(ignore.length);
  for (let i = 0; i < ignore.length; i++) { extraLogit[i] = ignore[i] ? BIG : -BIG; extraTarget[i] = ignore[i]; }
  return { loss_keep: keep, loss_extra_logit: extraLogit, loss_extra_target: extraTarget };
}
