// The planning rules, as pure functions of numbers (nnU-Net's, as its planner publishes them,
// adapted where a CPU and a time budget differ from a GPU and a fixed schedule). Spacings and
// sizes here are in array order ([D, H, W] / [H, W]) unless a name says [x, y, z].
import { columnPercentile, percentileOf } from './stats.js';
import type { VolumeNorm } from '../data/volumes/intensity.js';
import type { PlanRecipe } from '../io/dataset-plan.js';

/** An axis is anisotropic when its spacing is more than this times the others' (and its size less). */
export const ANISOTROPY = 3;
/** Pooling stops on an axis when its feature map would fall below this many voxels. */
export const MIN_FEATURE_MAP = 4;
/** The model family's deepest network (filters has at most 7 levels). */
export const MAX_DEPTH = 6;
/** One batch covers at most this share of the dataset's voxels (nnU-Net's overfitting guard). */
export const MAX_DATASET_COVERED = 0.05;
export const MIN_BATCH = 2;
/** Steps a time budget should leave: below it, the cheaper network (16 filters) is planned and the batch stays
 *  at MIN_BATCH. On a CPU a step's time grows with batch and width, so either trades updates for samples, and far
 *  below nnU-Net's 250,000 steps updates win: on MSD Hippocampus in 30 min, batch 2 (5600 steps) beat batch 5
 *  (1340) by 0.009 test Dice, paired over 30 cases, its validation Dice still rising (0.84 at 2800 steps, 0.87 at 5600). */
export const MIN_STEPS = 10000;
/** Steps below which the patch itself is shrunk for time (down to half per axis): a smaller patch
 *  costs context, so only when the budget would otherwise buy about one nnU-Net epoch or less. */
export const MIN_STEPS_PATCH = 250;
/** nnU-Net's normalisation uses the non-zero mask when cropping left less than this of the median case. */
export const MASK_NORM_BELOW = 0.75;
export const FOREGROUND_FRACTION = 0.33;

/**
 * nnU-Net's target spacing: the median per axis; when the coarsest axis is more than 3x the
 * others' spacing and has fewer than a third of their voxels, its 10th percentile instead
 * (never finer than the other axes). Spacings and sizes [x, y, z] per case.
 */
type Rows = readonly (readonly number[])[];

export function targetSpacing(spacings: Rows, sizes: Rows): { spacing: number[]; rule: string } {
  const target = columnPercentile(spacings, 50);
  const size = columnPercentile(sizes, 50);
  const worst = target.indexOf(Math.max(...target));
  const others = target.map((_, i) => i).filter((i) => i !== worst);
  const maxOther = Math.max(...others.map((i) => target[i]));
  const anisoSpacing = target[worst] > ANISOTROPY * maxOther;
  const anisoVoxels = size[worst] * ANISOTROPY < Math.min(...others.map((i) => size[i]));
  const round = (v: number[]) => v.map((s) => +s.toPrecision(6));
  if (!(anisoSpacing && anisoVoxels)) return { spacing: round(target), rule: 'median' };
  let p10 = percentileOf(spacings.map((s) => s[worst]), 10);
  if (p10 < maxOther) p10 = Math.max(maxOther, p10) + 1e-5;
  target[worst] = p10;
  const rule = `median; axis ${'xyz'[worst]} is > ${ANISOTROPY}x coarser with < 1/${ANISOTROPY} of the voxels: its 10th percentile`;
  return { spacing: round(target), rule };
}

/** Per case, the size after cropping in the target spacing; the median per axis. Both [x, y, z]. */
export function medianShapeAt(sizes: Rows, spacings: Rows, target: readonly number[]): number[] {
  const resampled = sizes.map((s, c) => s.map((v, k) => Math.round((v * spacings[c][k]) / target[k])));
  return columnPercentile(resampled, 50).map((v) => Math.round(v));
}

export interface Topology {
  /** Poolings per axis. */
  pools: number[];
  /** Pooling factor per level (after level 0) and axis: 2, or 1 where the axis stops. */
  poolPerLevel: number[][];
  /** Conv kernel per level and axis: 3, or 1 while an axis is > 2x coarser than the finest. */
  kernelPerLevel: number[][];
  /** The patch padded up to multiples of 2^pools per axis. */
  patch: number[];
  divisor: number[];
  /** The patch asked for, before padding. */
  input: number[];
}

/**
 * nnU-Net's get_pool_and_conv_props: pool every axis whose feature map has >= 2 x 4 voxels and
 * whose spacing is within 2x of the finest such axis; a lone axis pools only from 3 x 4 voxels.
 * Kernels are 1 along an axis until its spacing comes within 2x of the finest.
 */
export function topology(spacing: readonly number[], patch: readonly number[], maxPools = MAX_DEPTH): Topology {
  const dim = spacing.length;
  const sp = [...spacing], size = [...patch];
  const pools = new Array<number>(dim).fill(0), kernel = new Array<number>(dim).fill(1);
  const poolPerLevel: number[][] = [], kernelPerLevel: number[][] = [];
  for (;;) {
    let valid = [...Array(dim).keys()].filter((i) => size[i] >= 2 * MIN_FEATURE_MAP);
    if (!valid.length) break;
    const finest = Math.min(...valid.map((i) => sp[i]));
    valid = valid.filter((i) => sp[i] / finest < 2 && pools[i] < maxPools);
    if (valid.length === 1 && size[valid[0]] < 3 * MIN_FEATURE_MAP) break;
    if (!valid.length) break;
    const minSp = Math.min(...sp);
    for (let d = 0; d < dim; d++) if (kernel[d] !== 3 && sp[d] / minSp < 2) kernel[d] = 3;
    const level = new Array<number>(dim).fill(1);
    for (const v of valid) { level[v] = 2; pools[v]++; sp[v] *= 2; size[v] = Math.ceil(size[v] / 2); }
    poolPerLevel.push(level);
    kernelPerLevel.push([...kernel]);
  }
  kernelPerLevel.push(new Array<number>(dim).fill(3)); // the bottom level: full kernels
  const divisor = pools.map((p) => 2 ** p);
  const padded = patch.map((s, i) => Math.ceil(s / divisor[i]) * divisor[i]);
  return { pools, poolPerLevel, kernelPerLevel, patch: padded, divisor, input: [...patch] };
}

/** nnU-Net's first patch: the spacing's aspect ratio at the volume of 256^3 (2D: 2048^2), no larger than the median case. */
export function initialPatch(spacing: readonly number[], medianShape: readonly number[]): number[] {
  const inv = spacing.map((s) => 1 / s);
  const side = spacing.length === 3 ? 256 : 2048;
  const prod = inv.reduce((a, b) => a * b, 1);
  const scale = (side ** spacing.length / prod) ** (1 / spacing.length);
  return inv.map((v, i) => Math.max(1, Math.min(Math.round(v * scale), medianShape[i])));
}

/** The network a topology builds: volumes pool and convolve per axis as planned (nnU-Net's pools, e.g. [1, 2, 2]
 *  while an axis is coarse or short, and kernels, 1x3x3 while an axis is coarse); images pool both axes alike (the
 *  image kernels halve both), as often as every axis can, on the patch rounded up to multiples of 2^depth, with 3x3
 *  kernels. At least one pooling (a tiny patch: rounded up to 2s). */
export function builtNetwork(t: Topology): { pools: number[][]; kernels: number[][]; patch: number[]; depth: number } {
  const dim = t.input.length;
  const full = (depth: number) => Array.from({ length: depth + 1 }, () => new Array<number>(dim).fill(3));
  if (dim === 3 && t.poolPerLevel.length)
    return { pools: t.poolPerLevel, kernels: t.kernelPerLevel, patch: t.patch, depth: t.poolPerLevel.length };
  const depth = Math.max(1, Math.min(...t.pools));
  if (new Set(t.pools).size === 1 && t.pools[0] === depth) return { pools: t.poolPerLevel, kernels: full(depth), patch: t.patch, depth };
  const m = 2 ** depth;
  return { pools: Array.from({ length: depth }, () => new Array<number>(dim).fill(2)), kernels: full(depth),
    patch: t.input.map((s) => Math.ceil(s / m) * m), depth };
}

/**
 * Shrinks the patch until fits(patch, topology) (nnU-Net's loop): the axis largest relative to the
 * median case loses one step of its divisor, the topology is recomputed each time.
 */
export function shrinkPatch(spacing: readonly number[], medianShape: readonly number[], start: readonly number[],
  fits: (patch: number[], t: Topology) => boolean, floor?: readonly number[],
): { topology: Topology; shrunk: number; floored: boolean } {
  let t = topology(spacing, start);
  let shrunk = 0;
  const none = () => new Error(`no patch fits the memory budget (not even ${t.patch.join('x')}): give more memory (--max-memory)`);
  while (!fits(t.patch, t)) {
    if (t.patch.every((s) => s <= 2 * MIN_FEATURE_MAP)) throw none();
    // with a floor (shrinking for time), only axes still above it
    const ratios = t.patch.map((p, i) => (floor && p - t.divisor[i] < floor[i] ? -1 : p / medianShape[i]));
    if (Math.max(...ratios) < 0) return { topology: t, shrunk, floored: true };
    const axis = ratios.lastIndexOf(Math.max(...ratios)); // ties: the last axis, as numpy's argsort()[-1]
    const trial = [...t.patch];
    trial[axis] -= t.divisor[axis];
    // the divisor of the smaller patch may be smaller: step by that one (skips no valid size)
    const d = topology(spacing, trial).divisor[axis];
    const next = [...t.patch];
    next[axis] -= d;
    if (next[axis] < 1) throw none();
    t = topology(spacing, next);
    shrunk++;
  }
  return { topology: t, shrunk, floored: false };
}

/** Filters per level: base, doubling, capped (nnU-Net: 320 for 3D, 512 for 2D). */
export function filtersFor(base: number, depth: number, dims: 2 | 3): number[] {
  const cap = dims === 3 ? 320 : 512;
  return Array.from({ length: depth + 1 }, (_, i) => Math.min(cap, base * 2 ** i));
}

/**
 * Batch: what the memory budget allows, at most 5% of the dataset's voxels, at least 2 (nnU-Net);
 * on a CPU also no larger than keeps MIN_STEPS steps in the time budget (stepsAt2: steps the budget
 * gives at batch 2; a step's time grows with the batch).
 */
export function batchSize(o: { memoryFit: number; datasetVoxels: number; patchVoxels: number; stepsAt2: number },
): { batch: number; why: string } {
  const cover = Math.round((o.datasetVoxels * MAX_DATASET_COVERED) / o.patchVoxels);
  const time = Math.floor((MIN_BATCH * o.stepsAt2) / MIN_STEPS);
  const limits: [number, string][] = [
    [o.memoryFit, 'memory'], [cover, '5% of the dataset'], [time, `keeping ${MIN_STEPS} steps in the time budget`],
  ];
  // ties go to the later limit: the planner stops counting memoryFit at the others
  const [lim, why] = limits.reduce((a, b) => (b[0] <= a[0] ? b : a));
  if (lim < MIN_BATCH) return { batch: MIN_BATCH, why: `the minimum (${why} allows ${Math.max(0, lim)})` };
  return { batch: lim, why: `limited by ${why}` };
}

/** nnU-Net's normalisation per modality, onto the loader's kinds: CT by name -> dataset clip + z-score;
 *  else z-score per case, inside the non-zero mask when cropping left < 3/4 of the median case. */
export function normalizationFor(modality: string, medianCropFraction: number): VolumeNorm {
  if (/^ct$/i.test(modality.trim())) return 'ct';
  return medianCropFraction < MASK_NORM_BELOW ? 'mri' : 'zscore';
}

/** The training recipe. Volumes: the best of 4 at equal wall time on MSD Hippocampus (docs/training.md:
 *  Adam 3e-4 constant beat Adam 1e-3 + poly and AdamW + cosine by 0.007 Dice, SGD + poly by 0.53, at 15
 *  minutes; at 2 hours, holding 3e-4 for 60% of the run and then a cosine to 0 (`--cosine-hold 0.6`)
 *  scored 0.001 below constant, p 0.56); images: the hand-tuned 2D runs' recipe, not yet compared in 2D. */
export function recipeFor(dims: 2 | 3): PlanRecipe {
  if (dims === 3)
    return { optimizer: 'adam', lr: 3e-4, schedule: 'constant', why: 'best of 4 recipes at 15 min on MSD Hippocampus, and at 2 h against a decaying end' };
  return { optimizer: 'adam', lr: 3e-4, schedule: 'constant', why: 'the 2D runs\' recipe (not yet compared in 2D)' };
}

/** Test-time flips (nnU-Net mirrors every axis by default). Measured on MSD Hippocampus (two 2 h runs, the
 *  same checkpoints): the 8 flips raised test Dice by 0.001 (p 0.31 and 0.45) for 6x the inference time,
 *  so plans predict in one pass; `train --tta` records flips as a model's default. Images: not measured. */
export function inferenceFor(dims: 2 | 3): { tta: boolean; why: string } {
  if (dims === 3) return { tta: false, why: '8 flips: +0.001 test Dice on MSD Hippocampus (not significant) for 6x the time' };
  return { tta: false, why: 'flips not measured in 2D' };
}

/** Crop to the non-zero box when that shrinks the median case. */
export const cropHelps = (medianCropFraction: number) => medianCropFraction < 1;

export interface Schedule {
  steps: number;
  epochs: number;
  stepsPerEpoch: number;
  samplesPerEpoch: number;
  timeLimitSeconds: number;
}

/**
 * Steps and epochs from a time budget: steps = budget / step time, less validation. An epoch is
 * ~1/20 of the steps (25..250, nnU-Net's 250 at most), longer where validation would take more
 * than a tenth of it; the epochs are then as many as fill the budget, each trimmed to fit. The
 * time limit is the budget less half an epoch: the trainer stops after the epoch during which it
 * passes, which is the last planned one even if epochs run up to half an epoch early or late.
 */
export function scheduleFor(o: { budgetSeconds: number; stepSeconds: number; validationSeconds: number; batch: number },
): Schedule {
  const total = Math.max(1, Math.floor(o.budgetSeconds / o.stepSeconds));
  let per = Math.min(250, Math.max(25, Math.round(total / 20)));
  if (o.validationSeconds > 0.1 * per * o.stepSeconds) per = Math.ceil(o.validationSeconds / (0.1 * o.stepSeconds));
  per = Math.min(per, total);
  const epochs = Math.max(1, Math.round(o.budgetSeconds / (per * o.stepSeconds + o.validationSeconds)));
  per = Math.max(1, Math.floor((o.budgetSeconds / epochs - o.validationSeconds) / o.stepSeconds));
  const epochSeconds = per * o.stepSeconds + o.validationSeconds;
  return {
    steps: epochs * per, epochs, stepsPerEpoch: per, samplesPerEpoch: per * o.batch,
    timeLimitSeconds: Math.max(1, Math.round(o.budgetSeconds - epochSeconds / 2)),
  };
}

/** "30m", "1h", "1.5h", "90s", "2h30m" -> seconds. */
export function parseDuration(v: string): number {
  const t = v.trim().toLowerCase();
  const re = /(\d+(?:\.\d+)?)\s*(h|m|s|min)?/gy;
  let total = 0, m: RegExpExecArray | null, end = 0;
  while ((m = re.exec(t)) && m[0]) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' || m[2] === 'min' ? 60 : 1);
    end = re.lastIndex;
  }
  if (!t || end !== t.length || !(total > 0)) throw new Error(`expected a duration such as 30m, 1h, 2h30m or 90s, got '${v}'`);
  return total;
}
