// Learning-rate schedules. A schedule owns the optimiser's lr: `onStep` runs after every
// optimiser step, `onEpoch` after every validation with the monitored value. State is JSON.
import type { Optimizer } from './types.js';

export interface LrSchedule {
  readonly kind: string;
  /** lr for the next optimiser step. */
  lr(): number;
  onStep(): void;
  onEpoch(metric?: number): void;
  state(): Record<string, number>;
  loadState(s: Record<string, number>): void;
  /** Schedules over a fixed length: move the end (epochs re-planned to a time limit). */
  setTotalSteps?(n: number): void;
}

export class ConstantLr implements LrSchedule {
  readonly kind = 'constant';
  constructor(private readonly base: number) {}
  lr(): number { return this.base; }
  onStep(): void {}
  onEpoch(): void {}
  state(): Record<string, number> { return {}; }
  loadState(): void {}
}

export interface CosineOptions {
  lr: number;
  /** Steps of the whole run (warmup included); lr stays at minLr after them. */
  totalSteps: number;
  warmupSteps?: number;
  /** Fraction of the steps after warm-up at the base lr before the cosine starts (0: none). A run that
   *  plateaus at a constant lr keeps its speed until then and settles in the decay. */
  holdFraction?: number;
  minLr?: number;
}

/** A schedule over a run of totalSteps steps (per step); re-planning a run moves its end. */
abstract class OverSteps {
  protected t = 0;
  constructor(protected readonly o: { totalSteps: number }, kind: string) {
    if (!(o.totalSteps >= 1)) throw new Error(`${kind} schedule: totalSteps must be >= 1, got ${o.totalSteps}`);
  }
  onStep(): void { this.t++; }
  onEpoch(): void {}
  state(): Record<string, number> { return { t: this.t, totalSteps: this.o.totalSteps }; }
  loadState(s: Record<string, number>): void {
    this.t = s.t ?? 0;
    if (s.totalSteps) this.setTotalSteps(s.totalSteps);
  }
  /** A run whose length is re-planned (a time limit) moves the end; steps already taken stay. */
  setTotalSteps(n: number): void { this.o.totalSteps = Math.max(n, this.minSteps()); }
  protected minSteps(): number { return 1; }
}

/**
 * Linear warmup from lr/warmupSteps to lr over warmupSteps, the base lr for holdFraction of the rest,
 * then cosine annealing to minLr (CosineAnnealingLR's closed form: min + (lr - min)(1 + cos(pi t / T)) / 2),
 * per step.
 */
export class CosineLr extends OverSteps implements LrSchedule {
  readonly kind = 'cosine';
  constructor(protected override readonly o: CosineOptions) {
    super(o, 'cosine');
    if ((o.warmupSteps ?? 0) >= o.totalSteps) throw new Error(`cosine schedule: warmupSteps (${o.warmupSteps}) must be below totalSteps (${o.totalSteps})`);
    const h = o.holdFraction ?? 0;
    if (!(h >= 0 && h < 1)) throw new Error(`cosine schedule: the hold fraction must be in [0, 1), got ${h}`);
  }
  lr(): number {
    const { lr, totalSteps, warmupSteps = 0, holdFraction = 0, minLr = 0 } = this.o;
    if (this.t < warmupSteps) return (lr * (this.t + 1)) / warmupSteps;
    const hold = holdFraction * (totalSteps - warmupSteps);
    const progress = Math.min(1, Math.max(0, this.t - warmupSteps - hold) / (totalSteps - warmupSteps - hold));
    return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }
  protected override minSteps(): number { return (this.o.warmupSteps ?? 0) + 1; }
}

export interface PolyOptions {
  lr: number;
  /** Steps of the whole run; lr is 0 after them. */
  totalSteps: number;
  /** Exponent (nnU-Net's 0.9). */
  power?: number;
}

/** nnU-Net's polynomial decay, per step: lr (1 - t / T)^power. */
export class PolyLr extends OverSteps implements LrSchedule {
  readonly kind = 'poly';
  constructor(protected override readonly o: PolyOptions) { super(o, 'poly'); }
  lr(): number { return this.o.lr * Math.max(0, 1 - this.t / this.o.totalSteps) ** (this.o.power ?? 0.9); }
}

export interface PlateauOptions {
  lr: number;
  /** 'min' for a loss, 'max' for IoU / Dice. */
  mode?: 'min' | 'max';
  factor?: number; // 0.1
  patience?: number; // 10
  /** Improvement needed to count, relative (default 1e-4 of the best) or absolute. */
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
}

/** torch.optim.lr_scheduler.ReduceLROnPlateau, for one param group. */
export class PlateauLr implements LrSchedule {
  readonly kind = 'plateau';
  private current: number;
  private best: number;
  private bad = 0;
  private cooldownLeft = 0;
  private readonly o: Required<PlateauOptions>;

  constructor(o: PlateauOptions) {
    this.o = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: 'rel', cooldown: 0, minLr: 0, ...o };
    if (!(this.o.factor > 0 && this.o.factor < 1)) throw new Error(`plateau schedule: factor must be in (0, 1), got ${this.o.factor}`);
    this.current = o.lr;
    this.best = this.o.mode === 'min' ? Infinity : -Infinity;
  }

  private better(a: number): boolean {
    const { mode, threshold: th, thresholdMode } = this.o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - th) : a < this.best - th;
    return thresholdMode === 'rel' ? a > this.best * (1 + th) : a > this.best + th;
  }

  lr(): number { return this.current; }
  onStep(): void {}

  onEpoch(metric?: number): void {
    if (metric === undefined || Number.isNaN(metric)) throw new Error('plateau schedule: needs the monitored validation value each epoch');
    if (this.better(metric)) { this.best = metric; this.bad = 0; } else this.bad++;
    if (this.cooldownLeft > 0) { this.cooldownLeft--; this.bad = 0; }
    if (this.bad > this.o.patience) {
      const next = Math.max(this.current * this.o.factor, this.o.minLr);
      if (this.current - next > 1e-8) this.current = next;
      this.cooldownLeft = this.o.cooldown;
      this.bad = 0;
    }
  }

  // Infinity does not survive JSON: store the best as a string-free sentinel.
  state(): Record<string, number> {
    return { current: this.current, best: Number.isFinite(this.best) ? this.best : 0, bestSet: Number.isFinite(this.best) ? 1 : 0, bad: this.bad, cooldownLeft: this.cooldownLeft };
  }
  loadState(s: Record<string, number>): void {
    this.current = s.current;
    this.best = s.bestSet ? s.best : this.o.mode === 'min' ? Infinity : -Infinity;
    this.bad = s.bad;
    this.cooldownLeft = s.cooldownLeft;
  }
}

export type ScheduleOptions =
  | { kind: 'constant' }
  | ({ kind: 'cosine' } & Omit<CosineOptions, 'lr' | 'totalSteps'> & { totalSteps?: number })
  | ({ kind: 'poly' } & Omit<PolyOptions, 'lr' | 'totalSteps'> & { totalSteps?: number })
  | ({ kind: 'plateau' } & Omit<PlateauOptions, 'lr'>);

/** Builds a schedule for base lr `lr`; cosine's and poly's totalSteps default to `defaultTotalSteps`. */
export function makeSchedule(o: ScheduleOptions, lr: number, defaultTotalSteps = 1): LrSchedule {
  switch (o.kind) {
    case 'constant': return new ConstantLr(lr);
    case 'cosine': return new CosineLr({ ...o, lr, totalSteps: o.totalSteps ?? defaultTotalSteps });
    case 'poly': return new PolyLr({ ...o, lr, totalSteps: o.totalSteps ?? defaultTotalSteps });
    case 'plateau': return new PlateauLr({ ...o, lr });
    default: throw new Error(`unknown lr schedule '${(o as { kind: string }).kind}': use constant, cosine, poly or plateau`);
  }
}

/** Writes the schedule's lr into the optimiser (before each step). */
export function applyLr(s: LrSchedule, opt: Optimizer): void {
  opt.lr = s.lr();
}
