// Which Dice the loss kinds take (DiceOptions): checks shared by the graph, the kernels and the trainer.
import type { DiceOptions, LossKind } from './ops.js';

/** Throws (naming the option) where the options do not apply to this loss kind and class count. */
export function checkDiceOptions(kind: LossKind, classes: number, o: DiceOptions): void {
  if (o.diceBackground === false) {
    if (kind !== 'ce_dice')
      throw new Error(`loss option diceBackground: false is for ce_dice (softmax, channel 0 the background); ` +
        `${kind} has no background class`);
    if (classes < 2) throw new Error(`loss option diceBackground: false needs a foreground class, got ${classes} channel(s)`);
  }
}

/**
 * The Dice groups of logits [N, K, ...]: `perImage` sums per image (K for ce_dice, one for the
 * sigmoid kinds, whose Dice takes all channels together), of which the first `first` are left out.
 */
export function diceGroups(kind: LossKind, k: number, o: DiceOptions): { perImage: number; first: number } {
  const perImage = kind === 'ce_dice' ? k : 1;
  return { perImage, first: kind === 'ce_dice' && o.diceBackground === false ? 1 : 0 };
}
