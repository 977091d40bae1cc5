// Validation: the eval graph (training=false) in accurate mode, per-image IoU and Dice at
// threshold 0.5 (src/metrics), averaged over images; plus the training loss on the val set.
// Images of any size: each batch is reflect-padded to the model's multiple (as the predictor
// does) and the probabilities cropped back before scoring; the loss sees the padded target.
import type { BatchLoader } from '../data/loader.js';
import { batchScores, multiClassScores, type ImageScores } from '../metrics/index.js';
import type { SegModel } from '../models/model.js';
import { levelOf } from '../models/config.js';
import type { Backend } from '../engine/backend.js';
import { crop, paddingFor, reflectPad } from '../infer/pad.js';
import type { PlanCache } from './plans.js';

export interface ValMetrics {
  iou: number;
  dice: number;
  valLoss: number;
  images: number;
}

export async function evaluate(model: SegModel, loaders: BatchLoader | BatchLoader[], plans: PlanCache, backend: Backend): Promise<ValMetrics> {
  const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
  const m = 2 ** levelOf(model.config);
  let iou = 0, dice = 0, loss = 0, images = 0;
  for (const loader of Array.isArray(loaders) ? loaders : [loaders]) {
    loader.setState({ ...loader.getState(), epoch: 0, batch: 0 });
    for await (const b of loader.epoch()) {
      const pad = paddingFor(b.h, b.w, m);
      const padded = pad.height !== b.h || pad.width !== b.w;
      // NCHW as N*C planes: reflectPad and crop work plane by plane
      const x = padded ? reflectPad(b.x, b.n * b.c, b.h, b.w, pad) : b.x;
      const y = padded ? reflectPad(b.y, b.n * b.k, b.h, b.w, pad) : b.y;
      const plan = plans.evalPlan([b.n, b.c, pad.height, pad.width], [b.n, b.k, pad.height, pad.width]);
      const [probsT, lossT] = plan.run({ x, target: y });
      const full = backend.download(probsT, 'act');
      const probs = padded ? crop(full, b.n * b.k, pad.height, pad.width, pad.top, pad.left, b.h, b.w) : full;
      let rows: ImageScores[];
      if (softmax) {
        // Softmax models carry a background channel 0: scored per class without it.
        const size = b.k * b.h * b.w;
        rows = Array.from({ length: b.n }, (_, i) => multiClassScores(probs.subarray(i * size, (i + 1) * size), b.y.subarray(i * size, (i + 1) * size), b.k, b.h, b.w, { hd95: false, background: 0 }).mean);
      } else rows = batchScores(probs, b.y, b.n, b.k, b.h, b.w, { hd95: false });
      for (const r of rows) { iou += r.iou; dice += r.dice; }
      loss += lossT.data[0] * b.n;
      images += b.n;
    }
  }
  return { iou: iou / images, dice: dice / images, valLoss: loss / images, images };
}
