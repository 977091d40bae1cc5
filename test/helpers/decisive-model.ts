// A model whose masks do not hinge on float rounding, for comparing backends mask for mask.
import { SegModel, type ModelConfig } from '../../src/index.js';
import type { CheckpointMeta } from '../../src/io/checkpoint-meta.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { createPredictor, predictWith, type PredictInput } from '../../src/infer/index.js';

/** A seeded model whose heads are shifted to split the input about in half (a random model predicts one
 *  class everywhere) and scaled 3x: masks then depend on the image and rarely on rounding. */
export async function decisiveModel(cfg: Partial<ModelConfig>, meta: (c: ModelConfig) => CheckpointMeta, input: PredictInput): Promise<SegModel> {
  const model = new SegModel({ preset: 'bn', deepSupervision: true, seed: 3, ...cfg });
  const backend = getBackend('auto', 'fp32', 'infer', model.config.dims);
  for (const head of model.headNames()) {
    const p = createPredictor(model, { backend, mode: 'fast', head: Number(head.slice(5)) });
    const logits = Float64Array.from((await predictWith(p, meta(model.config), input)).probs.data, (q) => Math.log(q / (1 - q))).sort();
    const bias = model.params.get(`${head}.bias`).data;
    bias.forEach((b, i) => { bias[i] = b - logits[logits.length >> 1]; });
  }
  for (const name of model.params.names()) if (/^final\d+\./.test(name)) model.params.get(name).data.forEach((v, i, a) => { a[i] = 3 * v; });
  return model;
}
