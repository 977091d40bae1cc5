// Native kernels of the segmentation losses, over images and volumes (flattened to [N,K,D*H,W]).
import type { OpNode } from '../../../graph.js';
import { flat4, type Ctx, type Impls } from './context.js';

const LOSS_KINDS: Record<string, number> = { bce: 0, dice: 1, bce_dice: 2, ce: 3, ce_dice: 4 };

function lossKind(node: OpNode<'loss' | 'loss_grad'>): number {
  const k = LOSS_KINDS[node.attrs.kind];
  if (k === undefined) throw new Error(`unknown loss kind '${node.attrs.kind}'`);
  return k;
}

/** The Dice options as the addon's flags: bit 0 background left out, bit 1 over the batch. */
const diceFlags = (node: OpNode<'loss' | 'loss_grad'>): number =>
  (node.attrs.diceBackground === false ? 1 : 0) | (node.attrs.batchDice ? 2 : 0);

export function lossKernels({ A }: Ctx): Impls<'loss' | 'loss_grad'> {
  return {
    loss: ([z, t], [out], node) =>
      A.loss(z, t, out, lossKind(node), node.attrs.bceWeight ?? 0.5, ...flat4(node.inputs[0].shape),
        diceFlags(node)),
    loss_grad: ([z, t, dy], [dz], node) =>
      A.lossGrad(z, t, dy, dz, lossKind(node), node.attrs.bceWeight ?? 0.5, ...flat4(node.inputs[0].shape),
        diceFlags(node)),
  };
}
