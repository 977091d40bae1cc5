// A bounded cache of compiled plans across a service's predictors: predictors are kept in
// the order they were last used, and after each batch the plans of the least recently used
// are freed while all of them together hold more than the budget (the one just used too,
// when it alone is over: every distinct image size compiles a plan of its own).
import type { Predictor } from '../infer/predict.js';

export class PlanCache {
  private readonly order = new Map<string, Predictor>(); // least recently used first

  constructor(readonly budgetBytes: number) {}

  /** Marks a predictor as just used. */
  use(id: string, p: Predictor): void {
    this.order.delete(id);
    this.order.set(id, p);
  }

  /** A predictor that is no longer cached: its plans are freed now. */
  forget(id: string): void {
    this.order.get(id)?.releasePlans();
    this.order.delete(id);
  }

  get heldBytes(): number {
    let n = 0;
    for (const p of this.order.values()) n += p.planBytes;
    return n;
  }

  /** Frees plans, least recently used first, until the held bytes fit the budget; returns the bytes freed. */
  trim(): number {
    let held = this.heldBytes, freed = 0;
    for (const p of this.order.values()) {
      if (held <= this.budgetBytes) break;
      const b = p.planBytes;
      if (!b) continue;
      p.releasePlans();
      held -= b;
      freed += b;
    }
    return freed;
  }
}
