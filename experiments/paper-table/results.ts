// The result files of the multi-seed experiment: one small JSON per finished (dataset, model,
// seed) run, results/<dataset>/<model>-seed<k>.json, with the per-test-case scores the paired
// statistics need. The report reads only these (and the earlier runs' files, legacy-results.ts).
import { cpus, platform, release } from 'node:os';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../src/io/safetensors.js';
import type { EpochRecord } from '../../src/train/record.js';
import { DATASETS, MODELS, type DatasetKey, type ModelKey } from './settings.js';

export interface Machine { cpu: string; cores: number; os: string; node: string; backend: string; threads: string }

/** Per-epoch curves as columns, rounded: ~50 bytes per epoch (NaN, i.e. null, where not validated). */
export interface Curves { epoch: number[]; trainLoss: number[]; valLoss: number[]; valIou: number[]; valDice: number[] }

/** Per test case, in the order of `ids` (the same for every run of a dataset); foreground mean over classes. */
export interface CaseScores {
  ids: string[]; dice: number[]; iou: number[];
  perClass?: Record<string, { dice: number[]; iou: number[] }>;
}

/** Median forward time per input (ms), at batch 1 and at `batch`, for inputs of `shape` (HxW or DxHxW). */
export interface Timing { msBatch1: number; msBatched: number; batch: number; shape: number[] }

/** A pruned level (fast mode, head d of the pruned network) or the full network in accurate mode. */
export interface LevelResult {
  level: number | 'accurate'; params: number; gflops: number; timing: Timing; dice: number[]; iou: number[];
}

export interface SeedRun {
  schema: 2;
  dataset: DatasetKey;
  model: ModelKey;
  seed: number;
  smoke: boolean;
  /**
   * plan: `unetpp train --plan` with the dataset's plan, the model flags and the seeds (the runs the report's
   * statistics use); images and cli: hand-tuned settings of an earlier version (in-process, or a flag file).
   */
  engine: 'plan' | 'images' | 'cli';
  config: { arch: string; preset: string; filters: number[]; deepSupervision: boolean; inChannels: number; dims: number };
  params: number;
  /** Forward GFLOP per timing input (accurate mode), as `unetpp info`. */
  gflops: number;
  /** Training FLOPs per optimizer step: `unetpp info`'s training estimate (3x forward) x the step's inputs. */
  trainGflopsPerStep: number;
  /** Best checkpoint (validation metric), accurate mode, threshold 0.5. */
  test: CaseScores;
  timing: Timing;
  /** UNet++ with deep supervision: L1..Ld in fast mode, then accurate (the same scores as `test`). */
  pruning?: LevelResult[];
  /** seconds: wall clock summed over epochs (a shared machine inflates it); stepMs: median optimizer step. */
  training: {
    epochs: number; bestEpoch: number; stoppedBy: string; seconds: number; medianEpochSeconds: number; stepMs: number | null;
  };
  /** What the run was configured with: the plan's key facts and the flags of `unetpp train` (plan). */
  settings: Record<string, unknown>;
  curves: Curves;
  machine: Machine;
  date: string;
  command: string;
}

export function machineInfo(backend: string): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length, os: `${platform()} ${release()}`, node: process.version, backend,
    threads: process.env.OMP_NUM_THREADS ?? process.env.UNETPP_THREADS ?? 'all cores',
  };
}

const r4 = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(4)) : NaN);
export function curvesOf(history: EpochRecord[]): Curves {
  return {
    epoch: history.map((h) => h.epoch), trainLoss: history.map((h) => r4(h.trainLoss)),
    valLoss: history.map((h) => r4(h.valLoss)),
    valIou: history.map((h) => r4(h.iou)), valDice: history.map((h) => r4(h.dice)),
  };
}

/** Per-case scores kept to 5 decimals (0.001 points): small files, far below any difference that matters. */
export const r5 = (xs: readonly number[]) => xs.map((x) => Number(x.toFixed(5)));

export const seedRunFile = (ds: DatasetKey, model: ModelKey, seed: number) => join(ds, `${model}-seed${seed}.json`);

/** Indented, but arrays of numbers or strings on one line (keeps a run with 134 cases and 5 levels ~15 KB). */
export function writeJson(path: string, value: unknown): void {
  const text = JSON.stringify(value, null, 1).replace(/\[[^[\]{}]*\]/g, (m) => m.replace(/\s*\n\s*/g, ''));
  writeFileAtomicSync(path, new TextEncoder().encode(text + '\n'));
}

export function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

/** Every run file under dir/<dataset>/, in dataset, model, seed order; other files are ignored. */
export function readSeedRuns(dir: string): SeedRun[] {
  const runs: SeedRun[] = [];
  for (const ds of DATASETS) {
    const sub = join(dir, ds);
    if (!existsSync(sub)) continue;
    for (const f of readdirSync(sub)) {
      const m = /^(.+)-seed(\d+)\.json$/.exec(f);
      if (!m || !(MODELS as readonly string[]).includes(m[1])) continue;
      const r = readJson<SeedRun>(join(sub, f))!;
      if (r.schema !== 2 || r.dataset !== ds || r.model !== m[1] || r.seed !== Number(m[2]))
        throw new Error(`${join(sub, f)}: not a run file of ${ds} ${m[1]} seed ${m[2]}`);
      runs.push(r);
    }
  }
  const key = (r: SeedRun) => [DATASETS.indexOf(r.dataset), MODELS.indexOf(r.model), r.seed];
  return runs.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
}
