// Early stopping on a validation metric: stop after `patience` epochs without an improvement
// of more than minDelta over the best so far. State is JSON (saved for resume).
export interface EarlyStopOptions {
  mode: 'min' | 'max';
  patience: number;
  minDelta?: number;
}

export interface EarlyStopState { best: number | null; bestEpoch: number; bad: number }

export class EarlyStopping {
  best: number | null = null;
  bestEpoch = 0;
  /** Epochs since the last improvement. */
  bad = 0;

  constructor(readonly o: EarlyStopOptions) {
    if (!Number.isInteger(o.patience) || o.patience < 0) throw new Error(`early stopping: patience must be an integer >= 0, got ${o.patience}`);
  }

  /** Records one epoch's value; returns whether it is a new best. NaN never improves. */
  update(epoch: number, value: number): boolean {
    const d = this.o.minDelta ?? 0;
    const improved = !Number.isNaN(value) && (this.best === null || (this.o.mode === 'max' ? value > this.best + d : value < this.best - d));
    if (improved) { this.best = value; this.bestEpoch = epoch; this.bad = 0; } else this.bad++;
    return improved;
  }

  /** True once `patience` epochs in a row have not improved (as Keras: patience 0 stops at the first). */
  shouldStop(): boolean {
    return this.bad > 0 && this.bad >= this.o.patience;
  }

  state(): EarlyStopState { return { best: this.best, bestEpoch: this.bestEpoch, bad: this.bad }; }
  loadState(s: EarlyStopState): void { this.best = s.best; this.bestEpoch = s.bestEpoch; this.bad = s.bad; }
}
