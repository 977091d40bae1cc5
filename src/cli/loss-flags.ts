// The loss as the train flags give it: --loss, --bce-weight, --dice-classes and --batch-dice.
import { CliError } from './common.js';
import type { LossKind } from '../engine/graph.js';
import type { LossSpec } from '../train/plans.js';
import { diceOptionWords } from '../engine/dice-options.js';

/** The loss of a run from its flags (softmax: the model has one softmax over K > 1 classes). */
export function lossFromFlags(opts: Record<string, any>, softmax: boolean): LossSpec {
  const kind: LossKind = opts.loss ?? (softmax ? 'ce_dice' : 'bce_dice');
  const spec: LossSpec = { kind, bceWeight: opts.bceWeight };
  if (opts.diceClasses === 'foreground') {
    if (kind !== 'ce_dice')
      throw new CliError(`--dice-classes foreground: the loss is ${kind}, which has no background class ` +
        '(it is for ce_dice, the softmax loss of models with several classes)');
    spec.diceBackground = false;
  }
  if (opts.batchDice) {
    if (kind === 'ce' || kind === 'bce') throw new CliError(`--batch-dice: the loss ${kind} has no Dice term`);
    spec.batchDice = true;
  }
  return spec;
}

/** One line for the run's log: the loss and the Dice options that differ from the defaults. */
export function describeLoss(l: LossSpec): string {
  const options = diceOptionWords(l);
  return `loss ${l.kind}${options.length ? ` (${options.join(', ')})` : ''}`;
}
