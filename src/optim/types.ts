// What every optimiser shares: a learning rate the schedule sets, a step over named gradients,
// and a state (scalars + per-param slot arrays) that a checkpoint can store and restore.
import type { ParamStore } from '../engine/params.js';

/** A gradient as a backend downloads it: float32 or float64, the param's layout (plain). */
export type Grad = Float32Array | Float64Array;

/** Serialisable optimiser state: JSON scalars plus slot arrays keyed `${slot}/${param}`. */
export interface OptimState {
  kind: string;
  step: number;
  hyper: Record<string, number | boolean>;
  slots: Record<string, Float32Array>;
}

/** One step's Adam settings (the fused kernels take them too: here, so that no file imports back). */
export interface AdamHyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean }

/** One step's SGD settings. */
export interface SgdHyper { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number }

export interface Optimizer {
  readonly kind: string;
  /** Learning rate of the next step (schedules write it). */
  lr: number;
  /** Number of steps taken (PyTorch's `state['step']`, shared by all params). */
  readonly stepCount: number;
  /**
   * Updates every trainable param of `params` that has a gradient in `grads` (params without
   * one are skipped, as PyTorch skips params whose .grad is None).
   */
  step(params: ParamStore, grads: ReadonlyMap<string, Grad>): void;
  state(): OptimState;
  loadState(s: OptimState): void;
}

export function checkGrad(name: string, p: Float32Array, g: Grad): void {
  if (p.length !== g.length) throw new Error(`optimiser: gradient of '${name}' has ${g.length} values, the param ${p.length}`);
}

