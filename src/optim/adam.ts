// Adam as torch.optim.Adam (amsgrad off) and AdamW (decoupled weight decay):
//   g += wd p (L2, coupled) | p *= 1 - lr wd (decoupled);
//   m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps).
import type { ParamStore } from '../engine/params.js';
import { Grad, OptimState, Optimizer, checkGrad, type AdamHyper } from './types.js';
import { fusedAdam } from './fused.js';

export interface AdamOptions {
  lr?: number; // 3e-4, the paper's
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (decay applied to the weights, not added to the gradient). */
  decoupled?: boolean;
  /** Use the native fused kernel when the addon provides one (default true). */
  fused?: boolean;
}

/** One Adam update of p, m, v in place; t is the 1-based step. Math in float64, stored as float32. */
export function adamUpdate(p: Float32Array, g: Grad, m: Float32Array, v: Float32Array, h: AdamHyper, t: number): void {
  const { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, decoupled } = h;
  const stepSize = lr / (1 - b1 ** t);
  const bc2Sqrt = Math.sqrt(1 - b2 ** t);
  const shrink = decoupled ? 1 - lr * wd : 1;
  const l2 = decoupled ? 0 : wd;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + l2 * p[i];
    const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
    const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
    p[i] = p[i] * shrink - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}

export class Adam implements Optimizer {
  readonly kind = 'adam';
  lr: number;
  stepCount = 0;
  readonly hyper: Omit<AdamHyper, 'lr'>;
  private fused: boolean;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();

  constructor(opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 3e-4;
    this.hyper = {
      beta1: opts.beta1 ?? 0.9, beta2: opts.beta2 ?? 0.999, eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0, decoupled: opts.decoupled ?? false,
    };
    this.fused = opts.fused ?? true;
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    if (!(this.lr >= 0)) throw new Error(`Adam: lr must be >= 0, got ${this.lr}`);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new Error(`Adam: betas must be in [0, 1), got ${beta1}, ${beta2}`);
    if (!(eps >= 0) || !(weightDecay >= 0)) throw new Error('Adam: eps and weightDecay must be >= 0');
  }

  step(params: ParamStore, grads: ReadonlyMap<string, Grad>): void {
    const t = ++this.stepCount;
    const h: AdamHyper = { lr: this.lr, ...this.hyper };
    for (const name of params.trainableNames()) {
      const g = grads.get(name);
      if (!g) continue;
      const p = params.get(name).data;
      checkGrad(name, p, g);
      let m = this.m.get(name), v = this.v.get(name);
      if (!m || !v) { this.m.set(name, (m = new Float32Array(p.length))); this.v.set(name, (v = new Float32Array(p.length))); }
      const kernel = this.fused ? fusedAdam(p.length) : null;
      if (kernel && g instanceof Float32Array) kernel(p, g, m, v, h, t);
      else adamUpdate(p, g, m, v, h, t);
    }
  }

  state(): OptimState {
    const slots: Record<string, Float32Array> = {};
    for (const [k, a] of this.m) slots[`m/${k}`] = a;
    for (const [k, a] of this.v) slots[`v/${k}`] = a;
    return { kind: this.kind, step: this.stepCount, hyper: { lr: this.lr, ...this.hyper }, slots };
  }

  loadState(s: OptimState): void {
    if (s.kind !== this.kind) throw new Error(`Adam: cannot load the state of a '${s.kind}' optimiser`);
    this.stepCount = s.step;
    this.lr = Number(s.hyper.lr ?? this.lr);
    this.m.clear(); this.v.clear();
    for (const [k, a] of Object.entries(s.slots)) {
      const slash = k.indexOf('/');
      const which = k.slice(0, slash), name = k.slice(slash + 1);
      if (which === 'm') this.m.set(name, Float32Array.from(a));
      else if (which === 'v') this.v.set(name, Float32Array.from(a));
      else throw new Error(`Adam: unknown state slot '${k}'`);
    }
  }
}
