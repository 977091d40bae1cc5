// The result files (small JSON, committed under experiments/paper-table/results/): one per
// finished (dataset, model) run and one pruning table per dataset. report.ts reads only these.
import { cpus, platform, release } from 'node:os';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../src/io/safetensors.js';
import type { EpochRecord } from '../../src/train/record.js';
import type { DatasetKey, ModelKey } from './settings.js';
import type { SetScores } from './scoring.js';

export interface Machine { cpu: string; cores: number; os: string; node: string; backend: string; threads: string }

/** Per-epoch curves as columns, rounded: ~50 bytes per epoch. */
export interface Curves { epoch: number[]; trainLoss: number[]; valLoss: number[]; valIou: number[]; valDice: number[] }

export interface RunResult {
  schema: 1;
  dataset: DatasetKey;
  model: ModelKey;
  smoke: boolean;
  config: { arch: string; preset: string; filters: number[]; deepSupervision: boolean; inChannels: number };
  /** Trainable parameters (SegModel.params.count()). */
  params: number;
  /** The same architecture in the paper preset (official Keras code), 1 input channel. */
  paramsPaperPreset: number;
  /** Forward GFLOP per 96x96 image (accurate mode). */
  gflops: number;
  /** Accurate mode, best checkpoint, threshold 0.5, per-image mean and std. */
  test: SetScores & { resolution: string };
  /** seconds: wall clock, summed over epochs (a shared or paused machine inflates it); medianEpochSeconds is robust to that. */
  training: { epochs: number; bestEpoch: number; bestValIou: number; stoppedBy: string; seconds: number; secondsPerEpoch: number; medianEpochSeconds?: number; stepMs: number | null };
  schedule: Record<string, unknown>;
  curves: Curves;
  machine: Machine;
  date: string;
  command: string;
}

export interface LevelRow { level: number | 'accurate'; params: number; gflops: number; msBatch1: number; msBatch16: number; iou: SetScores['iou']; dice: SetScores['dice'] }

export interface PruningResult {
  schema: 1;
  dataset: DatasetKey;
  model: 'unetpp-ds';
  smoke: boolean;
  /** Timing input size (GFLOPs and ms are per size x size image). */
  size: number;
  testImages: number;
  timing: { warmup: number; runs: number; statistic: 'median' };
  /** L1..Ld in fast mode (pruned networks), then the full network in accurate mode. */
  rows: LevelRow[];
  machine: Machine;
  date: string;
}

export function machineInfo(backend: string): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length, os: `${platform()} ${release()}`, node: process.version, backend,
    threads: process.env.OMP_NUM_THREADS ?? process.env.UNETPP_THREADS ?? 'all cores',
  };
}

export function curvesOf(history: EpochRecord[]): Curves {
  const r = (x: number) => Number(x.toFixed(4));
  return {
    epoch: history.map((h) => h.epoch), trainLoss: history.map((h) => r(h.trainLoss)), valLoss: history.map((h) => r(h.valLoss)),
    valIou: history.map((h) => r(h.iou)), valDice: history.map((h) => r(h.dice)),
  };
}

export const runFile = (ds: DatasetKey, model: ModelKey) => `${ds}-${model}.json`;
export const pruningFile = (ds: DatasetKey) => `${ds}-pruning.json`;

/** Indented, but arrays of numbers on one line (keeps a 100-epoch run well under 10 KB). */
export function writeJson(path: string, value: unknown): void {
  const text = JSON.stringify(value, null, 1).replace(/\[[\d\s.,eE+-]*\]/g, (m) => m.replace(/\s+/g, ''));
  writeFileAtomicSync(path, new TextEncoder().encode(text + '\n'));
}

export function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

export function readRun(dir: string, ds: DatasetKey, model: ModelKey): RunResult | null {
  return readJson<RunResult>(join(dir, runFile(ds, model)));
}

export function readPruning(dir: string, ds: DatasetKey): PruningResult | null {
  return readJson<PruningResult>(join(dir, pruningFile(ds)));
}
