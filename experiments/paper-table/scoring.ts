// Test scores through the prediction API (per-image IoU and Dice at 0.5, mean and std), and
// forward timings of one inference mode at a fixed batch size (medians).
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import type { Backend } from '../../src/engine/backend.js';
import type { LoadedSample } from '../../src/data/folder.js';
import { crop } from '../../src/data/transforms.js';
import { scoreRow, summarize } from '../../src/metrics/index.js';
import { createPredictor, type PredictorOptions } from '../../src/infer/predict.js';
import { scoreImage } from '../../src/infer/evaluate.js';
import type { InferenceMode, SegModel } from '../../src/models/model.js';

export interface Stat { mean: number; std: number }
export interface SetScores { n: number; iou: Stat; dice: Stat }

const round = (x: number, d = 5) => Number(x.toFixed(d));

/**
 * Scores whole images (any size: the predictor pads to the model's multiple; ISBI's 512x512
 * runs in one window). Batch 1 so every image sees the same plan.
 */
export function scoreSamples(model: SegModel, samples: LoadedSample[], backend: Backend, opts: Omit<PredictorOptions, 'backend'>): SetScores {
  const predictor = createPredictor(model, { ...opts, backend, batch: 1 });
  const rows = samples.map((s) => {
    const p = predictor.predict(s.image);
    return scoreRow(s.id, scoreImage(p, s.mask.data, s.mask.channels, 'sigmoid', { hd95: false }).mean);
  });
  const stat = (name: string): Stat => {
    const m = summarize(rows, [name])[0];
    return { mean: round(m.mean ?? NaN), std: round(m.std ?? NaN) };
  };
  return { n: rows.length, iou: stat('iou'), dice: stat('dice') };
}

/** `batch` size x size inputs cut from the test images (real pixels: no denormal slow-downs). */
export function timingInput(samples: LoadedSample[], batch: number, size: number): Float32Array {
  const c = samples[0].image.channels;
  const out = new Float32Array(batch * c * size * size);
  for (let i = 0; i < batch; i++) {
    const { data, height: h, width: w } = samples[i % samples.length].image;
    const top = (i * 97) % (h - size + 1), left = (i * 61) % (w - size + 1);
    out.set(crop(data, c, h, w, top, left, size, size), i * c * size * size);
  }
  return out;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** Median ms per image of probabilities (download included) for a batch of `x` [batch, C, size, size]. */
export function forwardMsPerImage(model: SegModel, backend: Backend, mode: InferenceMode, x: Float32Array, batch: number, size: number,
  t: { warmup: number; runs: number }): number {
  const g = new Graph();
  const input = g.input('x', [batch, model.config.inChannels, size, size]);
  const plan = new Plan(g, backend, model.params, [model.probabilities(g, model.forward(g, input, { training: false }), mode)]);
  for (let i = 0; i < t.warmup; i++) plan.runToHost({ x });
  const ms: number[] = [];
  for (let i = 0; i < t.runs; i++) {
    const t0 = performance.now();
    plan.runToHost({ x });
    ms.push(performance.now() - t0);
  }
  return round(median(ms) / batch, 3);
}
