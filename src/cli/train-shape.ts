// The batch and crop `unetpp train` trains images on. Images of several sizes (DSB2018), or of one
// size the model cannot take, train on random crops of the smallest image. The train plan of a
// batch is sized before anything is allocated (with what it holds outside its arena); when it
// would not fit the memory budget, the batch size and then the crop left to their defaults
// shrink until it does (ISBI's 512x512 at batch 8: a 16 GiB arena), and what no flag can make
// fit is an error naming the flags. Validation images of many sizes validate in windows of the crop.
import { CliError } from './common.js';
import { checkWindowFlag } from './window.js';
import { inputSizeRule } from '../models/build.js';
import type { ModelConfig } from '../models/config.js';
import type { LoadedSample } from '../data/images/folder.js';
import { PlanCache, type LossSpec } from '../train/plans.js';
import { availableMemory, defaultMemoryBudget, gib, PLAN_RSS_FACTOR } from '../infer/memory.js';
import type { SegModel } from '../models/model.js';
import type { Backend } from '../engine/backend.js';
import type { Normalize } from '../data/images/transforms.js';
import { validateInWindows, type ValMetrics } from '../train/evaluate.js';

/**
 * The training crop: --crop; else, when the images differ in size (or their one size breaks the
 * model's size rule), random crops of the smallest image, rounded down to that rule; else none.
 */
export function trainCrop(opts: Record<string, any>, trainSet: LoadedSample[],
                          cfg: ModelConfig): [number, number] | undefined {
  if (opts.crop) {
    checkWindowFlag('--crop', opts.crop, cfg);
    return opts.crop;
  }
  const sizes = new Set(trainSet.map((s) => `${s.image.height}x${s.image.width}`));
  const h = Math.min(...trainSet.map((s) => s.image.height)), w = Math.min(...trainSet.map((s) => s.image.width));
  if (sizes.size === 1 && inputSizeRule(cfg, [h, w]).ok) return undefined;
  const crop = inputSizeRule(cfg, [h, w]).down as [number, number];
  if (crop[0] > h || crop[1] > w)
    throw new CliError(`--data: the smallest training image is ${w}x${h}, smaller than the model's smallest input ` +
      `${crop[1]}x${crop[0]}: give --size to resize, or fewer --filters`);
  const why = sizes.size > 1 ? `come in ${sizes.size} sizes`
    : `are ${[...sizes][0]}, not a multiple of the model's size rule`;
  console.log(`training on random ${crop[0]}x${crop[1]} crops: the training images ${why} (--crop or --size to choose)`);
  return crop;
}

export interface TrainShape {
  batchSize: number;
  /** Training crop [h, w]; undefined: whole images of `size`. */
  crop?: [number, number];
}

export function fitTrainMemory(model: SegModel, backend: Backend, loss: LossSpec, size: [number, number], want: TrainShape,
                               explicit: { batch: boolean; crop: boolean }, budget = defaultMemoryBudget()): TrainShape {
  const plans = new PlanCache(model, backend, loss, false);
  const { inChannels: c, classes: k } = model.config;
  // what the plan holds outside its arena counts too (PLAN_RSS_FACTOR)
  const bytes = (b: number, [h, w]: readonly number[]) =>
    PLAN_RSS_FACTOR * plans.trainBytes([b, c, h, w], [b, k, h, w]);
  let b = want.batchSize, hw: [number, number] = want.crop ?? size;
  const first = bytes(b, hw);
  if (first <= budget) return want;
  if (!explicit.batch) while (b > 2 && bytes(b, hw) > budget) b = Math.ceil(b / 2);
  if (!explicit.crop) {
    while (bytes(b, hw) > budget) {
      const half = inputSizeRule(model.config, hw.map((s) => Math.floor(s / 2))).down as [number, number];
      if (half[0] >= hw[0] && half[1] >= hw[1]) break;
      hw = half;
    }
    // smaller crops may leave room for the batch asked for again
    const twice = () => Math.min(2 * b, want.batchSize);
    if (!explicit.batch) while (b < want.batchSize && bytes(twice(), hw) <= budget) b = twice();
  }
  const now = bytes(b, hw), avail = availableMemory();
  const crop = hw === size && !want.crop ? undefined : hw;
  const what = (bb: number, s?: readonly number[]) =>
    `batches of ${bb} ${s ? `${s.join('x')} crops` : `whole ${size.join('x')} images`}`;
  if (now > avail)
    throw new CliError(`training ${what(b, crop)} needs an estimated ${gib(now)}, more than the ${gib(avail)} available: ` +
      'lower --batch-size or give a smaller --crop');
  if (b !== want.batchSize || crop !== want.crop)
    console.log(`training ${what(b, crop)}: ${what(want.batchSize, want.crop)} would need an estimated ${gib(first)}, ` +
      `the memory budget is ${gib(budget)} (UNETPP_MAX_MEMORY, else half of what is available; --batch-size or ` +
      '--crop choose)');
  return crop ? { batchSize: b, crop } : { batchSize: b };
}

/**
 * Validation images of more than two sizes, with a training crop: validated in windows of the
 * crop (the native addon holds buffers for every shape it runs, so whole images of many sizes
 * add up: DSB2018's 9 sizes went past 20 GiB); else undefined (the trainer's whole-image validation).
 */
export function windowedValidation(val: LoadedSample[], crop: [number, number] | undefined, backend: Backend,
                                   normalize: Normalize): ((ctx: { model: SegModel }) => Promise<ValMetrics>) | undefined {
  const sizes = new Set(val.map((s) => `${s.image.height}x${s.image.width}`)).size;
  if (!crop || sizes <= 2) return undefined;
  console.log(`validating in ${crop.join('x')} windows: the validation images come in ${sizes} sizes`);
  return ({ model }) => validateInWindows(model, val, { backend, tile: crop, normalize });
}
