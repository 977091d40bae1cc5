// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (L2): every gradient is
// scaled by max / (norm + 1e-6) when that is below 1. Returns the norm before clipping.
import type { Grad } from './types.js';

export function globalNorm(grads: Iterable<Grad>): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

export function clipGradNorm(grads: Iterable<Grad>, maxNorm: number): number {
  const list = [...grads];
  const norm = globalNorm(list);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of list) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
