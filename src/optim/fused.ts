// The native addon's fused optimiser kernels, when the addon is built and exports them; the
// optimisers fall back to their TypeScript loops (O(params), cheap next to a training step).
import type { AdamHyper } from './adam.js';
import type { SgdHyper } from './sgd.js';

type AdamKernel = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, h: AdamHyper, t: number) => void;
type SgdKernel = (p: Float32Array, g: Float32Array, buf: Float32Array | null, h: SgdHyper, first: boolean) => void;

let adam: AdamKernel | null = null;
let sgd: SgdKernel | null = null;

// The backend module is optional: importing it may fail where the addon is not built.
try {
  const mod: Record<string, unknown> = await import('../engine/backends/native.js' as string);
  adam = bindAdam(mod.adamStep);
  sgd = bindSgd(mod.sgdStep);
} catch {
  // no native backend here
}

function bindAdam(_f: unknown): AdamKernel | null {
  return null; // adapted once native.ts publishes its signature
}

function bindSgd(_f: unknown): SgdKernel | null {
  return null;
}

export const fusedAdam = (): AdamKernel | null => adam;
export const fusedSgd = (): SgdKernel | null => sgd;
