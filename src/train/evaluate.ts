// Validation: the eval graph (training=false) in accurate mode, per-image IoU and Dice at
// threshold 0.5 (src/metrics), averaged over images; plus the training loss on the val set.
import type { BatchLoader } from '../data/loader.js';
import { batchScores, multiClassScores, type ImageScores } from '../metrics/index.js';
import type { SegModel } from '../models/model.js';
import type { Backend } from '../engine/backend.js';
import type { PlanCache } from './plans.js';

export interface ValMetrics {
  iou: number;
  dice: number;
  valLoss: number;
  images: number;
}

export async function evaluate(model: SegModel, loader: BatchLoader, plans: PlanCache, backend: Backend): Promise<ValMetrics> {
  const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
  let iou = 0, dice = 0, loss = 0, images = 0;
  loader.setState({ ...loader.getState(), epoch: 0, batch: 0 });
  for await (const b of loader.epoch()) {
    const plan = plans.evalPlan([b.n, b.c, b.h, b.w], [b.n, b.k, b.h, b.w]);
    const [probsT, lossT] = plan.run({ x: b.x, target: b.y });
    const probs = backend.download(probsT, 'act');
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
  return { iou: iou / images, dice: dice / images, valLoss: loss / images, images };
}
