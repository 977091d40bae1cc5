// The op registry: every op the graph may hold, with the attributes its nodes carry. Graph
// builders, autodiff rules and backend kernel tables are typed by it, so a new op needs an
// entry here, and a backend without a kernel for it does not compile (KernelTable).

/** A tensor's logical sizes, NCHW or NCDHW (graph.ts re-exports it). */
export type Shape = readonly number[];

export type UpsampleMode = 'bilinear' | 'nearest';
export type LossKind = 'bce_dice' | 'bce' | 'dice' | 'ce_dice' | 'ce';

/** No attributes. */
export type NoAttrs = Record<string, never>;
/** Zero padding of a conv: the same on every spatial axis, or one value per axis (volumes with per-axis kernels,
 *  e.g. [0, 1, 1] for 1x3x3; graph.ts keeps an array only where its values differ). */
export type Pad = number | readonly number[];
export interface ConvAttrs { stride: number; pad: Pad; relu: boolean }
export interface ConvBnAttrs { stride: number; pad: Pad; eps: number; relu: boolean }

/** The padding of each of `rank` spatial axes. */
export function padsOf(pad: Pad, rank: number): number[] {
  return typeof pad === 'number' ? new Array<number>(rank).fill(pad) : [...pad];
}
/** factors: per spatial axis 1 or 2 (volumes only); absent = 2 on every axis, the graphs built before per-axis
 *  pooling (an anisotropic volume halves only its fine axes on the upper levels, as nnU-Net). */
export interface PoolAttrs { factors?: readonly number[] }
export interface UpsampleAttrs { mode: UpsampleMode; alignCorners: boolean; factors?: readonly number[] }

/** The pooling / up-sampling factor of each of `rank` spatial axes. */
export function factorsOf(attrs: PoolAttrs, rank: number): number[] {
  return attrs.factors ? [...attrs.factors] : new Array<number>(rank).fill(2);
}
export interface BatchNormAttrs {
  training: boolean; eps: number; momentum: number; relu: boolean;
  /** Param names of the running statistics, updated in place by training-mode kernels. */
  runningMean: string; runningVar: string;
}
export interface InstanceNormAttrs { eps: number; relu: boolean }
/** How the Dice term of a loss is taken (docs/training.md, "Loss"); absent fields: the defaults. */
export interface DiceOptions {
  /** ce_dice: false leaves the background class (channel 0) out of the Dice mean (nnU-Net's do_bg=False);
   *  it still gets cross-entropy. Default true. The sigmoid kinds have no background: false is an error. */
  diceBackground?: boolean;
  /** true: one Dice per class over the whole batch (sums over all images), not one per image. Default false. */
  batchDice?: boolean;
}
export interface LossAttrs extends DiceOptions { kind: LossKind; bceWeight: number }

/** Op name -> attributes of its nodes. Semantics: docs/engine.md, "Forward ops" and "Backward ops". */
export interface OpAttrs {
  // leaves: fed / bound by the plan, no kernel
  input: { name: string };
  param: { name: string };
  // forward
  ones: NoAttrs;
  conv: ConvAttrs;
  conv_bn: ConvBnAttrs;
  conv_transpose: { stride: number };
  maxpool: PoolAttrs;
  upsample2x: UpsampleAttrs;
  concat: NoAttrs;
  concat_up: UpsampleAttrs;
  batchnorm: BatchNormAttrs;
  instancenorm: InstanceNormAttrs;
  relu: NoAttrs;
  leaky_relu: { alpha: number };
  sigmoid: NoAttrs;
  softmax: NoAttrs;
  /** Also the gradient of dropout (the same mask). */
  dropout: { p: number; seed: number };
  scale: { s: number };
  add: NoAttrs;
  mul: NoAttrs;
  add_n: NoAttrs;
  mean_all: NoAttrs;
  loss: LossAttrs;
  // backward (emitted by autodiff.ts)
  conv_grad_input: { stride: number; pad: Pad; xShape: Shape };
  conv_grad_weight: { stride: number; pad: Pad; wShape: Shape; bias: boolean };
  conv_transpose_grad_input: { stride: number; xShape: Shape };
  conv_transpose_grad_weight: { stride: number; wShape: Shape; bias: boolean };
  /** fwd: the forward node's id. */
  maxpool_grad: PoolAttrs & { fwd: number };
  upsample2x_grad: UpsampleAttrs & { xShape: Shape };
  split_channels: NoAttrs;
  concat_up_grad: UpsampleAttrs;
  /** fwd: the forward node's id (its saved batch statistics). */
  batchnorm_grad: BatchNormAttrs & { fwd: number };
  instancenorm_grad: InstanceNormAttrs;
  relu_grad: NoAttrs;
  leaky_relu_grad: { alpha: number };
  sigmoid_grad: NoAttrs;
  softmax_grad: NoAttrs;
  fill_grad: { scale: number };
  loss_grad: LossAttrs;
}

export type OpName = keyof OpAttrs;
/** Ops a backend runs (the leaves have no kernel). */
export type KernelOp = Exclude<OpName, 'input' | 'param'>;

// Written out once more so that the list exists at run time; `satisfies` makes a missing or
// unknown name a compile error.
const KERNEL_OP_SET = {
  ones: 1, conv: 1, conv_bn: 1, conv_transpose: 1, maxpool: 1, upsample2x: 1, concat: 1, concat_up: 1,
  batchnorm: 1, instancenorm: 1, relu: 1, leaky_relu: 1, sigmoid: 1, softmax: 1, dropout: 1, scale: 1, add: 1,
  mul: 1, add_n: 1, mean_all: 1, loss: 1, conv_grad_input: 1, conv_grad_weight: 1, conv_transpose_grad_input: 1,
  conv_transpose_grad_weight: 1, maxpool_grad: 1, upsample2x_grad: 1, split_channels: 1, concat_up_grad: 1,
  batchnorm_grad: 1, instancenorm_grad: 1, relu_grad: 1, leaky_relu_grad: 1, sigmoid_grad: 1, softmax_grad: 1,
  fill_grad: 1, loss_grad: 1,
} satisfies Record<KernelOp, 1>;
export const KERNEL_OPS = Object.keys(KERNEL_OP_SET) as KernelOp[];
