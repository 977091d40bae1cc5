// SGD as torch.optim.SGD: g += wd p; with momentum, buf = g on the first step, then
// buf = mu buf + (1 - dampening) g; the step uses buf, or g + mu buf with nesterov.
import type { ParamStore } from '../engine/params.js';
import { Grad, OptimState, Optimizer, checkGrad, type SgdHyper } from './types.js';
import { fusedSgd } from './fused.js';

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  fused?: boolean;
}

/** One SGD update in place; `first` marks the step that initialises the momentum buffer. */
export function sgdUpdate(p: Float32Array, g: Grad, buf: Float32Array | null, h: SgdHyper, first: boolean): void {
  const { lr, momentum: mu, dampening, nesterov, weightDecay: wd } = h;
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + wd * p[i];
    if (buf) {
      const b = (buf[i] = first ? d : mu * buf[i] + (1 - dampening) * d);
      d = nesterov ? d + mu * b : b;
    }
    p[i] -= lr * d;
  }
}

export class Sgd implements Optimizer {
  readonly kind = 'sgd';
  lr: number;
  stepCount = 0;
  readonly hyper: Omit<SgdHyper, 'lr'>;
  private fused: boolean;
  private buf = new Map<string, Float32Array>();

  constructor(opts: SgdOptions = {}) {
    this.lr = opts.lr ?? 0.01;
    this.hyper = { momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 0 };
    this.fused = opts.fused ?? true;
    if (!(this.lr >= 0)) throw new Error(`SGD: lr must be >= 0, got ${this.lr}`);
    if (this.hyper.nesterov && (this.hyper.momentum <= 0 || this.hyper.dampening !== 0))
      throw new Error('SGD: nesterov needs momentum > 0 and dampening 0 (as PyTorch)');
  }

  step(params: ParamStore, grads: ReadonlyMap<string, Grad>): void {
    this.stepCount++;
    const h: SgdHyper = { lr: this.lr, ...this.hyper };
    for (const name of params.trainableNames()) {
      const g = grads.get(name);
      if (!g) continue;
      const p = params.get(name).data;
      checkGrad(name, p, g);
      let buf: Float32Array | null = null, first = false;
      if (h.momentum !== 0) {
        buf = this.buf.get(name) ?? null;
        if (!buf) { this.buf.set(name, (buf = new Float32Array(p.length))); first = true; }
      }
      const kernel = this.fused ? fusedSgd(p.length) : null;
      if (kernel && buf && g instanceof Float32Array) kernel(p, g, buf, h, first, this.stepCount);
      else sgdUpdate(p, g, buf, h, first);
    }
  }

  state(): OptimState {
    const slots: Record<string, Float32Array> = {};
    for (const [k, a] of this.buf) slots[`momentum/${k}`] = a;
    return { kind: this.kind, step: this.stepCount, hyper: { lr: this.lr, ...this.hyper }, slots };
  }

  loadState(s: OptimState): void {
    if (s.kind !== this.kind) throw new Error(`SGD: cannot load the state of a '${s.kind}' optimiser`);
    this.stepCount = s.step;
    this.lr = Number(s.hyper.lr ?? this.lr);
    this.buf.clear();
    for (const [k, a] of Object.entries(s.slots)) {
      if (!k.startsWith('momentum/')) throw new Error(`SGD: unknown state slot '${k}'`);
      this.buf.set(k.slice('momentum/'.length), Float32Array.from(a));
    }
  }
}
