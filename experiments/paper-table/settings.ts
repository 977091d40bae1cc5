// The experiment's fixed choices: the four models, the datasets, their seeds and plan budgets,
// the smoke variant, and the paper's numbers. Everything else about a run comes from the plan.

export const MODELS = ['unet', 'wide-unet', 'unetpp', 'unetpp-ds'] as const;
export type ModelKey = (typeof MODELS)[number];
/** 2D image datasets and the 3D one; all of them train through `unetpp train --plan`. */
export const IMAGE_DATASETS = ['dsb2018', 'isbi2012-em'] as const;
export type ImageDatasetKey = (typeof IMAGE_DATASETS)[number];
export const DATASETS = [...IMAGE_DATASETS, 'hippocampus-msd'] as const;
export type DatasetKey = (typeof DATASETS)[number];
export const isImageDataset = (ds: DatasetKey): ds is ImageDatasetKey =>
  (IMAGE_DATASETS as readonly string[]).includes(ds);

/**
 * Training seeds per dataset (each seeds the initial weights, the data order and augmentation): 3, and 5 for
 * ISBI 2012, whose runs are short (30-minute plan) and whose 6 test cases leave seeds as its source of power.
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

/** The wide U-Net's filters: x 35/32 per level, so that its parameters match UNet++'s (the paper's 35..560). */
export const wideFilters = (filters: readonly number[]) => filters.map((f) => Math.round((f * 35) / 32));

/**
 * The time budget each dataset's plan is made for (`unetpp plan --time-budget`): it sets the network, the
 * batch and the number of steps for UNet++ with deep supervision, the slowest model, on the machine that plans.
 * Every model of the dataset then trains that many steps (README "How long": about 2.5-3x the budget per seed).
 */
export const PLAN_BUDGET: Record<DatasetKey, string> = { 'dsb2018': '1h', 'isbi2012-em': '30m', 'hippocampus-msd': '30m' };

/** Smoke: a few cases per split, a plan for a tiny budget, then 1 epoch of 2 steps (the step budget is all it changes). */
export const SMOKE = {
  planBudget: '20s',
  epochs: 1,
  stepsPerEpoch: 2,
  subset: {
    'dsb2018': { train: 8, val: 2, test: 3 }, 'isbi2012-em': { train: 4, val: 2, test: 2 },
    'hippocampus-msd': { train: 4, val: 2, test: 3 },
  } as Record<DatasetKey, { train: number; val: number; test: number }>,
};

/** Forward timings: warm-up runs, then the median of `runs`, at batch 1 and at `batch`. */
export const TIMING = { warmup: 2, runs: 5, batch: 4 };
export const SMOKE_TIMING = { warmup: 1, runs: 2, batch: 2 };

/** What each dataset's folder holds and how the runs see it (the plan decides the rest). */
export const DATASET_NOTES: Record<DatasetKey, string> = {
  'dsb2018': 'cell nuclei, 9 image sizes from 256x256 to 1388x1040, split.csv 464/66/134, scored per whole image',
  'isbi2012-em': 'membranes as foreground (the masks inverted once into the work folder); fixed split em_00-19 train / ' +
    '20-23 val / 24-29 test, scored per whole 512x512 image',
  'hippocampus-msd': 'MSD Task04, labels anterior and posterior (Dice per class, then their mean per case); split.csv ' +
    '150/20/30, scored per whole volume',
};
