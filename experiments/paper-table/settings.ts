// The experiment's fixed choices: the four models, the datasets and their seeds, the hand
// schedule the image datasets share (full and smoke), and the paper's numbers.
import type { AugmentOptions } from '../../src/data/augmentation/augment.js';
import { WIDE_UNET_FILTERS, DEFAULT_FILTERS, type ModelConfig } from '../../src/models/config.js';

export const MODELS = ['unet', 'wide-unet', 'unetpp', 'unetpp-ds'] as const;
export type ModelKey = (typeof MODELS)[number];
/** Images (in-process, hand settings below) and volumes (the CLI, flags from configs/<dataset>.json). */
export const IMAGE_DATASETS = ['dsb2018', 'isbi2012-em'] as const;
export type ImageDatasetKey = (typeof IMAGE_DATASETS)[number];
export const DATASETS = [...IMAGE_DATASETS, 'hippocampus-msd'] as const;
export type DatasetKey = (typeof DATASETS)[number];
export const isImageDataset = (ds: DatasetKey): ds is ImageDatasetKey =>
  (IMAGE_DATASETS as readonly string[]).includes(ds);

/**
 * Training seeds per dataset (each seeds the initial weights, the data order and augmentation):
 * 3, and 5 for ISBI 2012, whose runs are short (README "How long": ~1 h per seed for the four models).
 */
export const SEEDS: Record<DatasetKey, number[]> = {
  'dsb2018': [0, 1, 2], 'isbi2012-em': [0, 1, 2, 3, 4], 'hippocampus-msd': [0, 1, 2],
};
export const SMOKE_SEEDS: Record<DatasetKey, number[]> = { 'dsb2018': [0], 'isbi2012-em': [0], 'hippocampus-msd': [0] };

export const MODEL_LABELS: Record<ModelKey, string> = {
  'unet': 'U-Net', 'wide-unet': 'wide U-Net', 'unetpp': 'UNet++ (no DS)', 'unetpp-ds': 'UNet++ (DS)',
};

/** The paper's cell-nuclei IoU (%) and params (Zhou et al. 2018, table 2); EM and Hippocampus are not in that paper. */
export const PAPER = {
  nucleiIou: { 'unet': 90.77, 'wide-unet': 90.92, 'unetpp': 92.63, 'unetpp-ds': 92.52 } as Record<ModelKey, number>,
  params: { 'unet': 7.76e6, 'wide-unet': 9.13e6, 'unetpp': 9.04e6, 'unetpp-ds': 9.04e6 } as Record<ModelKey, number>,
  /** Pruned UNet++ L1..L4 params of the official Keras code (DESIGN.md). */
  levelParams: [100961, 511105, 2204961, 9041601],
};

export interface Settings {
  smoke: boolean;
  filters: number[];
  wideFilters: number[];
  maxEpochs: number;
  /** Early stopping on validation IoU (accurate mode). */
  patience: number;
  batchSize: number;
  lr: number;
  /** dsb2018 images are resized to size x size; ISBI trains on random size x size crops. */
  size: number;
  /** ISBI: each training image appears this many times per epoch, each time a new random crop. */
  isbiRepeats: number;
  augment: AugmentOptions;
  /** Images kept per split (smoke); undefined: all. */
  subset?: { train: number; val: number; test: number };
  /** Forward timings: warm-up runs, then the median of `runs`; `batch` is the batched measurement. */
  timing: { warmup: number; runs: number; batch: number };
}

export const FULL: Settings = {
  smoke: false,
  filters: DEFAULT_FILTERS,
  wideFilters: WIDE_UNET_FILTERS,
  maxEpochs: 100,
  patience: 10,
  batchSize: 8,
  lr: 3e-4,
  size: 96,
  isbiRepeats: 16,
  augment: { flip: true, rotate90: true },
  timing: { warmup: 3, runs: 20, batch: 16 },
};

export const SMOKE: Settings = {
  ...FULL,
  smoke: true,
  filters: [8, 16, 32, 64, 128], // depth 4 as the full model, so the pruning table has L1..L4
  wideFilters: [9, 18, 35, 70, 140], // x 35/32, as the wide U-Net
  maxEpochs: 2,
  patience: 2,
  lr: 3e-3, // a few steps only: a larger step so that the scores are not all trivial
  isbiRepeats: 1,
  subset: { train: 24, val: 8, test: 8 },
  timing: { warmup: 1, runs: 3, batch: 16 },
};

/** The wide U-Net's filters: x 35/32 per level, so that its parameters match UNet++'s (the paper's 35..560). */
export const wideFilters = (filters: readonly number[]) => filters.map((f) => Math.round((f * 35) / 32));

export function modelConfig(s: Settings, model: ModelKey, inChannels: number, seed: number): Partial<ModelConfig> {
  const base = { preset: 'bn' as const, inChannels, classes: 1, seed };
  switch (model) {
    case 'unet': return { ...base, arch: 'unet', filters: s.filters };
    case 'wide-unet': return { ...base, arch: 'unet', filters: s.wideFilters };
    case 'unetpp': return { ...base, arch: 'unetpp', filters: s.filters, deepSupervision: false };
    case 'unetpp-ds': return { ...base, arch: 'unetpp', filters: s.filters, deepSupervision: true };
  }
}

/** Input channels as loaded: DSB images as RGB, ISBI as grey. */
export const CHANNELS: Record<ImageDatasetKey, 1 | 3> = { 'dsb2018': 3, 'isbi2012-em': 1 };
