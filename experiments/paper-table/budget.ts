// The time budget: a deadline, and estimates of what the next step costs so that nothing
// starts that cannot finish (an epoch is the unit of resume; the test evaluation is ~one epoch).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochRecord } from '../../src/train/record.js';
import { DATASETS, MODELS, type DatasetKey, type ModelKey } from './settings.js';

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

export interface UnitKey { ds: DatasetKey; model: ModelKey; seed: number }
export const unitName = (k: UnitKey) => `${k.ds}/${k.model}-seed${k.seed}`;
export const unitDir = (work: string, k: UnitKey) => join(work, k.ds, `${k.model}-seed${k.seed}`);

/** The trainer's per-epoch log of a unit (possibly one epoch behind its checkpoint). */
export function readLog(dir: string): EpochRecord[] {
  const p = join(dir, 'log.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochRecord);
}

const meanSeconds = (log: EpochRecord[]) => {
  const l = log.length > 1 ? log.slice(1) : log; // epoch 1 includes plan compilation: used alone only
  return l.reduce((a, r) => a + r.seconds, 0) / l.length;
};

/** Logs of every unit of (ds, model) under work, any seed. */
function logsOf(work: string, ds: DatasetKey, model: ModelKey): EpochRecord[][] {
  const dir = join(work, ds);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith(`${model}-seed`))
    .map((f) => readLog(join(dir, f))).filter((l) => l.length);
}

/**
 * Seconds of one epoch of a unit: its own recent epochs' median, else the same model's other
 * seeds, else another model's on the same dataset scaled by `cost` (training FLOPs per epoch),
 * else the slowest epoch of any run (a rough proxy), else unknown (null: nothing has run yet).
 */
export function epochEstimate(work: string, k: UnitKey, cost: (m: ModelKey) => number): number | null {
  const own = readLog(unitDir(work, k)).slice(-3);
  // the median of its last three epochs: one epoch stretched by a pause (SIGSTOP for a benchmark)
  // or a burst of contention must not stop the unit for good
  if (own.length) return own.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor((own.length - 1) / 2)];
  const seeds = logsOf(work, k.ds, k.model);
  if (seeds.length) return Math.max(...seeds.map(meanSeconds));
  const scaled: number[] = [];
  const anyRun: number[] = [];
  for (const d of DATASETS)
    for (const other of MODELS)
      for (const log of logsOf(work, d, other)) {
        if (d === k.ds) scaled.push((meanSeconds(log) * cost(k.model)) / cost(other));
        else anyRun.push(meanSeconds(log));
      }
  if (scaled.length) return Math.max(...scaled);
  return anyRun.length ? Math.max(...anyRun) : null;
}
