// Test scores through the prediction API (per-image IoU and Dice at 0.5: per case, or mean and
// std), and forward timings of one inference mode at a fixed batch size (medians), 2D or 3D.
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import type { Backend } from '../../src/engine/backend.js';
import type { LoadedSample } from '../../src/data/images/folder.js';
import { crop } from '../../src/data/images/transforms.js';
import { scoreRow, summarize } from '../../src/metrics/index.js';
import { createPredictor, type PredictorOptions } from '../../src/infer/predict.js';
import { scoreImage } from '../../src/infer/evaluate.js';
import { imageField } from '../../src/infer/grid.js';
import type { InferenceMode, SegModel } from '../../src/models/model.js';
import { Rng } from '../../src/data/rng.js';
import type { SetScores, Stat } from './legacy-results.js';
import { r5, type CaseScores, type Timing } from './results.js';

const round = (x: number, d = 5) => Number(x.toFixed(d));

/**
 * Per-case IoU and Dice of whole images (any size: the predictor pads to the model's multiple;
 * ISBI's 512x512 runs in one window). Batch 1 so every image sees the same plan.
 */
type ScoreOptions = Omit<PredictorOptions, 'backend'>;

export function scoreCases(model: SegModel, samples: LoadedSample[], backend: Backend, opts: ScoreOptions): CaseScores {
  const rows = caseRows(model, samples, backend, opts);
  return { ids: samples.map((s) => s.id), dice: r5(rows.map((r) => r.dice)), iou: r5(rows.map((r) => r.iou)) };
}

function caseRows(model: SegModel, samples: LoadedSample[], backend: Backend, opts: ScoreOptions) {
  const predictor = createPredictor(model, { ...opts, backend, batch: 1 });
  const score = (s: LoadedSample) => scoreImage(predictor.predict(imageField(s.image)), s.mask.data, s.mask.channels, 'sigmoid', { hd95: false });
  return samples.map((s) => score(s).mean);
}

/** Mean and (population) std over the images, as the earlier single-seed runs recorded them. */
export function scoreSamples(model: SegModel, samples: LoadedSample[], backend: Backend, opts: ScoreOptions): SetScores {
  const rows = caseRows(model, samples, backend, opts).map((r, i) => scoreRow(samples[i].id, r));
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

/** Seeded N(0, 1) inputs of [batch, channels, ...shape] (volumes: no test crop needed, no denormals either). */
export function randomInput(batch: number, channels: number, shape: readonly number[], seed = 0): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(batch * channels * shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return x;
}

/** Median ms per input of probabilities (download included) for a batch `x` of [batch, C, ...shape]. */
export function forwardMs(model: SegModel, backend: Backend, mode: InferenceMode, x: Float32Array, batch: number,
  shape: readonly number[], t: { warmup: number; runs: number }): number {
  const g = new Graph();
  const input = g.input('x', [batch, model.config.inChannels, ...shape]);
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

/** ms per input at batch 1 and batched; `input(b)` gives b inputs. */
export function timeModel(model: SegModel, backend: Backend, mode: InferenceMode, shape: number[],
  input: (batch: number) => Float32Array, t: { warmup: number; runs: number; batch: number }): Timing {
  return {
    msBatch1: forwardMs(model, backend, mode, input(1), 1, shape, t),
    msBatched: forwardMs(model, backend, mode, input(t.batch), t.batch, shape, t),
    batch: t.batch, shape,
  };
}
