// Where a run's configuration comes from. Image datasets train in-process with the hand settings
// of settings.ts (the protocol of the earlier single-seed runs: comparable with them). Volume
// datasets train through `unetpp train` with the flags of configs/<dataset>.json (smoke:
// <dataset>.smoke.json); the runner adds only the model flags and the seed. Self-configuring
// plans (issue 23) plug in at recipeFor: the plan's file as one more flag of the CLI engine.
import { join } from 'node:path';
import { readJson } from './results.js';
import { FULL, SMOKE, isImageDataset, wideFilters, type DatasetKey, type ModelKey, type Settings } from './settings.js';

export type Flags = Record<string, string | number | boolean>;

export interface CliConfig {
  about?: string;
  /** Options of `unetpp train` (keys as its long flags, as its --config takes them). */
  train: Flags;
  /** Cases kept per split (smoke): a folder of links to them in the work folder. */
  subset?: { train: number; val: number; test: number };
  /** Forward timings: input shape (DxHxW), batched size, warm-up runs, then the median of `runs`. */
  timing: { shape: number[]; batch: number; warmup: number; runs: number };
}

export type Recipe = { engine: 'images'; settings: Settings } | { engine: 'cli'; config: CliConfig; file: string };

export interface RecipeOptions { smoke: boolean; configs: string }

export function recipeFor(ds: DatasetKey, o: RecipeOptions): Recipe {
  // With `unetpp plan` (issue 23), for every dataset (`timing` as in the dataset's config file):
  // if (o.plan) return { engine: 'cli', config: { train: { plan: o.plan }, timing }, file: o.plan };
  if (isImageDataset(ds)) return { engine: 'images', settings: o.smoke ? SMOKE : FULL };
  const file = join(o.configs, `${ds}${o.smoke ? '.smoke' : ''}.json`);
  const config = readJson<CliConfig>(file);
  if (!config) throw new Error(`${file}: no such file (the flags of ${ds}'s runs; --configs DIR reads another folder)`);
  if (!config.train || !config.timing?.shape)
    throw new Error(`${file}: expected {"train": {flags of unetpp train}, "timing": {"shape": [...], ...}}`);
  return { engine: 'cli', config, file };
}

const filterList = (v: Flags[string] | undefined) => (v === undefined ? undefined : String(v).split(',').map(Number));

/** Per-model flags on top of the dataset's: architecture, filters (wide U-Net: x 35/32), deep supervision; seeds. */
export function modelFlags(model: ModelKey, datasetFlags: Flags, seed: number): Flags {
  const filters = filterList(datasetFlags.filters);
  const seeds = { seed, modelSeed: seed };
  switch (model) {
    case 'unet': return { arch: 'unet', ...seeds };
    case 'wide-unet': {
      if (!filters) throw new Error('the wide U-Net needs the dataset\'s "filters" flag to widen');
      return { arch: 'unet', filters: wideFilters(filters).join(','), ...seeds };
    }
    case 'unetpp': return { arch: 'unetpp', deepSupervision: false, ...seeds };
    case 'unetpp-ds': return { arch: 'unetpp', deepSupervision: true, ...seeds };
  }
}
