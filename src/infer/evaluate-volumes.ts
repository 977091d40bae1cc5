// Evaluation of a 3D model on a volume dataset: every case of a split prepared as the meta says
// (modalities, spacing, normalisation and CT statistics, cropping) and predicted through the
// prediction entry, as `predict` runs it (post-processing included), and scored per volume and
// per class in millimetres (Dice, IoU, precision, recall, HD95, average surface distance);
// CSV and Markdown as for images.
import { openVolumes } from '../data/volumes/volume-dataset.js';
import { predictInput, type PredictInputOptions } from './predict-input.js';
import type { PredictorCache } from './predictor-cache.js';
import type { ModelEntry } from './model-entry.js';
import type { SplitName } from '../data/split-csv.js';
import { scoreLabelVolumes, scoredClassNames } from '../metrics/volume.js';
import { perClassRow } from '../metrics/segmentation.js';
import { summarize, writeEvaluation, type MetricRow, type MetricSummary } from '../metrics/summary.js';

export interface VolumeEvaluation { rows: MetricRow[]; summary: MetricSummary[]; classes: string[]; files: string[] }

export interface SplitOptions extends Pick<PredictInputOptions, 'settings' | 'threshold' | 'postprocess'> {
  split?: SplitName;
  /** Seed of the train/val split where the dataset gives none (as training's). */
  seed?: number;
}

export interface PredictedCase {
  id: string;
  /** Predicted labels (after the meta's rules unless postprocess is false) and true labels, one grid. */
  pred: Uint8Array;
  truth: Uint8Array;
  dims: [number, number, number];
  spacing: [number, number, number];
  /** Its index in the split, and the split's size. */
  i: number;
  n: number;
}

/** Every case of a split predicted as `predict` predicts it, with its true labels, on the prepared grid. */
export async function* predictSplit(entry: ModelEntry, cache: PredictorCache, dir: string,
                                    o: SplitOptions = {}): AsyncGenerator<PredictedCase> {
  const { input, labels: spec } = entry.meta;
  if (input.kind !== 'volume') throw new Error(`${entry.name}: not a 3D model (volume datasets are evaluated with 3D models)`);
  // The checkpoint's meta prepares the cases (labels, spacing, normalisation and CT statistics per
  // modality, cropping), as predictInput prepares a file.
  const vd = await openVolumes(dir, {
    labels: spec, spacing: input.spacing, normalize: input.normalize, ct: input.ct, cropToNonzero: input.cropToNonzero, seed: o.seed,
  });
  if (vd.dataset.modalities.length !== input.modalities.length)
    throw new Error(`${dir}: ${vd.dataset.modalities.length} modalities (${vd.dataset.modalities.join(', ')}), ` +
      `the model was trained on ${input.modalities.length} (${input.modalities.join(', ')})`);
  const split = o.split ?? 'test';
  const store = vd.splits[split];
  if (!store) throw new Error(`${dir}: no cases in split "${split}" (--split)`);
  const run = { settings: o.settings, threshold: o.threshold, postprocess: o.postprocess, encode: false };
  for (let i = 0; i < store.length; i++) {
    const v = await store.get(i);
    if (!v.labels) throw new Error(`${store.nameOf(i)}: no label volume to score against`);
    const p = await predictInput(entry, cache, { kind: 'prepared-volume', volume: v }, run);
    yield { id: v.id, pred: p.labels, truth: v.labels, dims: v.dims, spacing: v.spacing, i, n: store.length };
  }
}

export interface VolumeEvaluateOptions extends SplitOptions {
  outDir?: string;
  hd95?: boolean;
  onCase?: (r: MetricRow, i: number, n: number) => void;
}

export async function evaluateVolumes(entry: ModelEntry, cache: PredictorCache, dir: string,
                                      o: VolumeEvaluateOptions = {}): Promise<VolumeEvaluation> {
  const spec = entry.meta.labels;
  const split = o.split ?? 'test';
  const names = scoredClassNames(spec);
  const rows: MetricRow[] = [];
  for await (const c of predictSplit(entry, cache, dir, o)) {
    const scores = scoreLabelVolumes(c.pred, c.truth, spec, c.dims, c.spacing, { hd95: o.hd95 !== false });
    const row = perClassRow(c.id, scores, names);
    rows.push(row);
    o.onCase?.(row, c.i, c.n);
  }
  const metrics = Object.keys(rows[0].values);
  const summary = summarize(rows, metrics);
  const title = `# Evaluation of ${dir} (split ${split})\n\n${rows.length} volumes; classes ${names.join(', ')}; ` +
    'HD95 and average surface distance in mm, undefined where a mask is empty (left out of the mean, counted).\n\n';
  const files = o.outDir ? await writeEvaluation(o.outDir, rows, metrics, summary, title, 'volume') : [];
  return { rows, summary, classes: names, files };
}
