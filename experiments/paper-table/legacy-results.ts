// The earlier single-seed runs' result files (schema 1, results/<dataset>-<model>.json and
// results/<dataset>-pruning.json, seed 0): kept and read for the report's "earlier runs" section.
import { join } from 'node:path';
import { readJson, type Curves, type Machine } from './results.js';
import type { ImageDatasetKey as DatasetKey, ModelKey } from './settings.js';

export interface Stat { mean: number; std: number }
export interface SetScores { n: number; iou: Stat; dice: Stat }

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

export const runFile = (ds: DatasetKey, model: ModelKey) => `${ds}-${model}.json`;
export const pruningFile = (ds: DatasetKey) => `${ds}-pruning.json`;

export function readRun(dir: string, ds: DatasetKey, model: ModelKey): RunResult | null {
  return readJson<RunResult>(join(dir, runFile(ds, model)));
}

export function readPruning(dir: string, ds: DatasetKey): PruningResult | null {
  return readJson<PruningResult>(join(dir, pruningFile(ds)));
}
