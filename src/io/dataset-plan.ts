// What `unetpp plan` reads from a dataset (the fingerprint) and what it decides (the plan), as
// JSON-ready records. Axis orders: NIfTI sizes and spacings are [x, y, z] (as the files and
// --spacing); patches, pooling and kernels are in array order [D, H, W] (as --patch), [H, W] in 2D.
// In io/ (not plan/) because checkpoints and plan caches store these records: the planner imports them.
import type { VolumeNorm, CtStats } from '../data/volumes/intensity.js';

/** Intensity statistics of one modality over foreground (labelled) voxels, as nnU-Net collects them. */
export interface IntensityStats {
  mean: number;
  std: number;
  min: number;
  max: number;
  median: number;
  p00_5: number;
  p99_5: number;
  /** Voxels the statistics come from (a strided sample of the foreground). */
  samples: number;
}

export interface VolumeCaseFingerprint {
  id: string;
  split: string;
  /** [x, y, z] voxels in the files. */
  shape: [number, number, number];
  /** [x, y, z] mm. */
  spacing: [number, number, number];
  /** [x, y, z] voxels of the box of non-zero voxels (image, label or brain mask). */
  cropShape: [number, number, number];
  /** cropShape's voxels over shape's. */
  cropFraction: number;
  /** Per modality, over the labelled voxels; null where the case has no foreground. */
  intensity: (IntensityStats | null)[];
  /** Voxels per label value (0 included), as strings of the value. */
  labelCounts: Record<string, number>;
  /** Non-finite voxels (NaN or Inf) in the images. */
  nonFinite: number;
}

export interface VolumeFingerprint {
  kind: 'volume';
  version: 1;
  dir: string;
  /** What the fingerprint was computed from (file names, sizes, dates): a change invalidates the cache. */
  stamp: string;
  modalities: string[];
  /** dataset.json's label names by value, when it has them. */
  labelNames?: Record<string, string>;
  cases: VolumeCaseFingerprint[];
  /** Pooled over the cases the plan is made from (train and val), per modality (nnU-Net's
   *  foreground_intensity_properties_per_channel). */
  intensity: (IntensityStats | null)[];
}

export interface ImageCaseFingerprint {
  id: string;
  split: string;
  width: number;
  height: number;
  channels: number;
  /** Foreground fraction of each class mask. */
  classFractions: number[];
  /** Per channel mean and std of the pixel values (0..1 scale). */
  channelMean: number[];
  channelStd: number[];
}

export interface ImageFingerprint {
  kind: 'image';
  version: 1;
  dir: string;
  stamp: string;
  classes: string[];
  cases: ImageCaseFingerprint[];
}

export type DatasetFingerprint = VolumeFingerprint | ImageFingerprint;

/** Bytes of one training step, by where they live (see src/plan/memory.ts). */
export interface MemoryBreakdown {
  /** The plan's activation arena (the engine's own sizing, sizeOnly). */
  arena: number;
  /** Buffers the native backend keeps per conv primitive (staged layouts) and its scratch. */
  native: number;
  /** Weights, their gradients and the optimiser's state, and their copies while checkpoints are written. */
  params: number;
  /** The batch on the host (images and targets). */
  batch: number;
  /** The process without any model: Node, the addon, oneDNN. */
  fixed: number;
  total: number;
}

/** A training recipe: the optimiser, its learning rate and the schedule (docs/training.md compares them). */
export interface PlanRecipe {
  optimizer: 'adam' | 'adamw' | 'sgd';
  lr: number;
  schedule: 'constant' | 'poly' | 'cosine';
  /** SGD's (Nesterov) momentum. */
  momentum?: number;
  weightDecay?: number;
  /** Cosine's linear warm-up. */
  warmupSteps?: number;
  /** Cosine: the fraction of the run at the base lr before the decay. */
  holdFraction?: number;
  /** The Dice term of ce_dice (absent: all classes, per image; set only by --dice-classes / --batch-dice). */
  diceClasses?: 'all' | 'foreground';
  batchDice?: boolean;
  /** Where the choice comes from (a measurement, or the fixed defaults where none was made). */
  why: string;
}

export interface DatasetPlan {
  version: 1;
  /** 'image': a 2D folder dataset; 'volume': NIfTI/DICOM volumes. */
  kind: 'image' | 'volume';
  dims: 2 | 3;
  dataset: {
    dir: string;
    cases: number;
    /** Cases the plan was derived from (train and val). */
    planned: number;
    train: number;
    val: number;
    /** Input channels: modality names (volumes) or channel count (images). */
    channels: number;
    modalities?: string[];
    classes: string[];
  };
  /** Volumes: the target spacing [x, y, z] mm every case is resampled to. */
  spacing?: [number, number, number];
  /** How the target spacing was chosen (median, or nnU-Net's 10th percentile on a coarse axis). */
  spacingRule?: string;
  /** Volumes: keep only the box of non-zero voxels of each case (it shrinks the median case). */
  cropToNonzero?: boolean;
  /** Median case size in the target spacing, array order. */
  medianShape: number[];
  /** Training patch, array order ([D, H, W] or [H, W]). */
  patch: number[];
  network: {
    arch: 'unetpp';
    /** Filters per level, top to bottom (depth = length - 1). */
    filters: number[];
    /** The depth the model is built with. */
    depth: number;
    /** Pooling factors per level and axis as the rules give them (anisotropic data pools a coarse axis less). */
    poolPerAxis: number[][];
    /** Conv kernel sizes per level and axis as the rules give them (1 along an axis still coarse). */
    kernelPerAxis: number[][];
    /** Volumes whose axes pool differently: the model's pooling factors per level [D, H, W] (the model's `pools`). */
    pools?: number[][];
    /** Volumes whose levels convolve some axis with 1: the model's conv kernels per level 0..depth [D, H, W] (the
     *  model's `kernels`, kernelPerAxis as built). */
    kernels?: number[][];
    /** 'as planned' when the model pools as poolPerAxis says; 'isotropic fallback' for images whose axes the
     *  rules pool differently (image models pool both axes alike: built with the depth every axis allows). */
    pooling: 'as planned' | 'isotropic fallback';
    norm: 'batch' | 'instance';
    deepSupervision: boolean;
    params: number;
  };
  batchSize: number;
  /** Volumes: per modality, onto src/data/volumes/intensity.ts's kinds. */
  normalize: VolumeNorm[] | 'zscore';
  /** Dataset CT statistics per modality (null where not CT). */
  ct?: (CtStats | null)[];
  augment: 'default';
  /** Volumes: share of patches centred on a foreground voxel. */
  foregroundFraction?: number;
  memory: {
    budgetBytes: number;
    /** One training step (forward, loss, backward, optimiser) of the planned network. */
    step: MemoryBreakdown;
    /** Validation's predictor (windows of the patch) on top of the step. */
    validationBytes: number;
    /** Peak RSS of the timed steps in a child process, when they ran. */
    measuredPeakBytes?: number;
  };
  time: {
    budgetSeconds: number;
    /** Median wall time of a training step, measured here (0 when not measured). */
    stepMs: number;
    /** Its CPU time (all threads): the load on a shared machine shows as stepMs above cpuMs / threads. */
    cpuMs: number;
    /** How stepMs was obtained: 'measured' (timed steps now), 'cached' (an earlier plan's), 'none'. */
    source: 'measured' | 'cached' | 'none';
    threads: number;
    backend: string;
    /** Estimated seconds of one validation pass. */
    validationSeconds: number;
    steps: number;
    epochs: number;
    stepsPerEpoch: number;
    samplesPerEpoch: number;
  };
  training: {
    /** Stop after the epoch during which this many seconds passed (the budget less one epoch). */
    timeLimitSeconds: number;
    /** false: train the whole budget, keeping the best validation checkpoint. */
    earlyStop: false;
    /** Optimiser and learning-rate schedule (absent in plans written before recipes were planned). */
    recipe?: PlanRecipe;
    /** bf16 where it made the planned step faster on the planning machine (absent: float32). */
    precision?: { value: 'fp32' | 'bf16'; why: string };
  };
  /** How predictions are made by default (recorded in the checkpoint; absent in plans before it). */
  inference?: {
    /** Average over the flips of every subset of the axes (predict/eval/serve/queue/page `--tta`). */
    tta: boolean;
    why: string;
  };
  /** Why things are as they are, and what the rules could not do. */
  notes: string[];
  /** What the plan was made from: options and the tool's version. */
  created: { at: string; unetpp: string; timeBudget: string; maxMemory: number; fingerprintStamp: string };
}
