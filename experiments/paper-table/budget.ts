// The time budget: a deadline, and estimates of what the next step costs so that nothing
// starts that cannot finish (an epoch is the unit of resume; the test evaluation is ~one epoch).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel } from '../../src/models/info.js';
import type { EpochRecord } from '../../src/train/record.js';
import { CHANNELS, DATASETS, MODELS, modelConfig, type DatasetKey, type ModelKey, type Settings } from './settings.js';

/** Thrown from the trainer's onEpoch hook: the epoch's checkpoint is on disk, the run resumes later. */
export class BudgetStop extends Error {}

export class Budget {
  private readonly deadline: number | null;
  constructor(seconds: number | undefined, started = Date.now()) {
    this.deadline = seconds === undefined ? null : started + seconds * 1000;
  }
  remaining(): number { return this.deadline === null ? Infinity : (this.deadline - Date.now()) / 1000; }
  /** Margin: 20% over the estimate, as epochs vary on a shared machine; unknown cost: any time left. */
  allows(seconds: number | null): boolean { return this.remaining() > 0 && (seconds === null || this.remaining() >= 1.2 * seconds); }
}

export const unitName = (ds: DatasetKey, model: ModelKey) => `${ds}-${model}`;

/** The trainer's per-epoch log of a unit (possibly one epoch behind its checkpoint). */
export function readLog(dir: string): EpochRecord[] {
  const p = join(dir, 'log.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochRecord);
}

const trainGflops = (s: Settings, ds: DatasetKey, m: ModelKey) => describeModel(modelConfig(s, m, CHANNELS[ds]), { size: s.size }).trainGflops;

const meanSeconds = (log: EpochRecord[]) => {
  const l = log.length > 1 ? log.slice(1) : log; // epoch 1 includes plan compilation: used alone only
  return l.reduce((a, r) => a + r.seconds, 0) / l.length;
};

/**
 * Seconds of one epoch of (ds, model): its own recent epochs' median, else another model's on
 * the same dataset scaled by training GFLOPs, else the slowest epoch of any run (a rough
 * proxy), else unknown (null: nothing has run yet).
 */
export function epochEstimate(work: string, s: Settings, ds: DatasetKey, model: ModelKey): number | null {
  const own = readLog(join(work, unitName(ds, model))).slice(-3);
  // the median of its last three epochs: one epoch stretched by a pause (SIGSTOP for a benchmark)
  // or a burst of contention must not stop the unit for good
  if (own.length) return own.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor((own.length - 1) / 2)];
  const scaled: number[] = [];
  const anyRun: number[] = [];
  for (const d of DATASETS)
    for (const other of MODELS) {
      const log = readLog(join(work, unitName(d, other)));
      if (!log.length) continue;
      if (d === ds) scaled.push((meanSeconds(log) * trainGflops(s, ds, model)) / trainGflops(s, ds, other));
      else anyRun.push(meanSeconds(log));
    }
  if (scaled.length) return Math.max(...scaled);
  return anyRun.length ? Math.max(...anyRun) : null;
}
