// Validation: the eval graph (training=false) in accurate mode, per-image IoU and Dice at
// threshold 0.5 (src/metrics), averaged over images; plus the training loss on the val set.
// Images of any size: each batch is reflect-padded to the model's multiple (as the predictor
// does) and the probabilities cropped back before scoring; the loss sees the padded target.
// Memory is bounded: images are grouped by size, each group in batches whose eval plan fits
// the memory budget, and with several sizes only one group's plan is held at a time. Images of
// many sizes (DSB2018) validate in sliding windows instead (validateInWindows): the native
// addon keeps buffers for every shape it has run, so every new size would hold more memory.
import { BatchLoader, groupBySize } from '../data/loaders/loader.js';
import type { LoadedSample } from '../data/images/folder.js';
import { normalize, type Normalize } from '../data/images/transforms.js';
import { defaultMemoryBudget, PLAN_RSS_FACTOR } from '../infer/memory.js';
import { createPredictor } from '../infer/predict.js';
import { batchScores, multiClassScores, type ImageScores } from '../metrics/index.js';
import type { SegModel } from '../models/model.js';
import { sizeMultiple } from '../models/config.js';
import type { Backend } from '../engine/backend.js';
import { crop, paddingFor, reflectPad } from '../infer/pad.js';
import type { PlanCache } from './plans.js';

export interface ValMetrics {
  iou: number;
  dice: number;
  valLoss: number;
  images: number;
}

/**
 * One loader per image size, each with the largest batch (up to batchSize) whose eval plan fits
 * the memory budget (default defaultMemoryBudget(): half of what is available), counting what
 * the plan holds outside its arena (PLAN_RSS_FACTOR).
 */
export function validationLoaders(val: LoadedSample[], model: SegModel, plans: PlanCache,
                                  o: { batchSize: number; normalize?: Normalize; budget?: number }): BatchLoader[] {
  const m = sizeMultiple(model.config);
  const budget = o.budget ?? defaultMemoryBudget();
  return groupBySize(val).map((g) => {
    const { image: im, mask } = g[0];
    const pad = paddingFor([im.height, im.width], m);
    let b = Math.min(o.batchSize, g.length);
    const [H, W] = pad.size;
    const bytes = (n: number) => PLAN_RSS_FACTOR * plans.evalBytes([n, im.channels, H, W], [n, mask.channels, H, W]);
    while (b > 1 && bytes(b) > budget) b = Math.ceil(b / 2);
    return new BatchLoader(g, { batchSize: b, shuffle: false, normalize: o.normalize, prefetch: false });
  });
}

export async function evaluate(model: SegModel, loaders: BatchLoader | BatchLoader[], plans: PlanCache, backend: Backend): Promise<ValMetrics> {
  const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
  const m = sizeMultiple(model.config);
  let iou = 0, dice = 0, loss = 0, images = 0;
  const list = Array.isArray(loaders) ? loaders : [loaders];
  for (const loader of list) {
    loader.setState({ ...loader.getState(), epoch: 0, batch: 0 });
    for await (const b of loader.epoch()) {
      const pad = paddingFor([b.h, b.w], m);
      const [H, W] = pad.size;
      const padded = H !== b.h || W !== b.w;
      // NCHW as N*C planes: reflectPad and crop work plane by plane
      const x = padded ? reflectPad(b.x, b.n * b.c, [b.h, b.w], pad) : b.x;
      const y = padded ? reflectPad(b.y, b.n * b.k, [b.h, b.w], pad) : b.y;
      const plan = plans.evalPlan([b.n, b.c, H, W], [b.n, b.k, H, W]);
      const [probsT, lossT] = plan.run({ x, target: y });
      const full = backend.download(probsT, 'act');
      const probs = padded ? crop(full, b.n * b.k, pad.size, pad.start, [b.h, b.w]) : full;
      let rows: ImageScores[];
      if (softmax) {
        // Softmax models carry a background channel 0: scored per class without it.
        const size = b.k * b.h * b.w;
        rows = Array.from({ length: b.n }, (_, i) => multiClassScores(probs.subarray(i * size, (i + 1) * size), b.y.subarray(i * size, (i + 1) * size), b.k, [b.w, b.h], { hd95: false, background: 0 }).mean);
      } else rows = batchScores(probs, b.y, b.n, b.k, [b.w, b.h], { hd95: false });
      for (const r of rows) { iou += r.iou; dice += r.dice; }
      loss += lossT.data[0] * b.n;
      images += b.n;
    }
    if (list.length > 1) plans.releaseEval();
  }
  return { iou: iou / images, dice: dice / images, valLoss: loss / images, images };
}

/**
 * Validation in sliding windows of one size (the training crop), through the predictor as
 * `predict --tile` runs it: a few plan shapes whatever the image sizes. Scored as evaluate scores;
 * valLoss is 1 - Dice (the windows' probabilities, not the loss, are what is computed).
 */
export async function validateInWindows(model: SegModel, val: LoadedSample[],
                                        o: { backend: Backend; tile: [number, number]; normalize?: Normalize }): Promise<ValMetrics> {
  const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
  const predictor = createPredictor(model, { backend: o.backend, mode: 'accurate', tile: o.tile });
  let iou = 0, dice = 0;
  for (const s of val) {
    const { width: w, height: h, channels: c } = s.image;
    const data = o.normalize && o.normalize.kind !== 'none' ? normalize(s.image.data.slice(), c, h * w, o.normalize) : s.image.data;
    const p = predictor.predict({ data, channels: c, sizes: [h, w] });
    const k = s.mask.channels;
    const r = softmax ? multiClassScores(p.data, s.mask.data, k, [w, h], { hd95: false, background: 0 }).mean
      : batchScores(p.data, s.mask.data, 1, k, [w, h], { hd95: false })[0];
    iou += r.iou;
    dice += r.dice;
    await new Promise((res) => setImmediate(res)); // progress and signals between images
  }
  const n = val.length;
  return { iou: iou / n, dice: dice / n, valLoss: 1 - dice / n, images: n };
}
