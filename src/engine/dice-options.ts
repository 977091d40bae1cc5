// Which Dice the loss kinds take (DiceOptions): the checks shared by the graph and the kernels.
import type { DiceOptions, LossKind } from './ops.js';

/** Throws (naming the option) where the options do not apply to this loss kind and class count. */
export function checkDiceOptions(kind: LossKind, classes: number, o: DiceOptions): void {
  if (o.diceBackground === false) {
    if (kind !== 'ce_dice')
      throw new Error(`loss option diceBackground: false is for ce_dice (softmax, channel 0 the background); ` +
        `${kind} has no background class`);
    if (classes < 2) throw new Error(`loss option diceBackground: false needs a foreground class, got ${classes} channel(s)`);
  }
  if (o.batchDice && (kind === 'ce' || kind === 'bce')) throw new Error(`loss option batchDice: ${kind} has no Dice term`);
}

/** The options that differ from the defaults, in words (run logs and plan tables). */
export function diceOptionWords(o: DiceOptions): string[] {
  return [o.diceBackground === false ? 'Dice over the foreground classes' : '', o.batchDice ? 'batch Dice' : ''].filter(Boolean);
}
