// Evaluation of a model on a folder dataset (or one split of it): per-image IoU, Dice,
// precision, recall and HD95 (src/metrics conventions), their mean and std, written as CSV
// and Markdown. Images go through the prediction entry (predictInput), as `unetpp predict` runs them.
import { scanFolder, loadSamples, type FolderOptions, type LoadOptions, type SplitName } from '../data/images/folder.js';
import { fileError } from '../data/images/read-image.js';
import {
  binaryScores, multiClassScores, summarize, writeEvaluation, METRIC_NAMES, type ImageScores, type MetricRow, type MetricSummary,
} from '../metrics/index.js';
import type { ProbMap } from './predict.js';
import { binaryMasks } from './image-prep.js';
import { predictInput, type PredictInputOptions } from './predict-input.js';
import type { PredictorCache } from './predictor-cache.js';
import type { ModelEntry } from './model-entry.js';

export interface EvaluateOptions extends Pick<PredictInputOptions, 'settings' | 'normalize' | 'resize' | 'threshold'> {
  /** Which split to score; 'all' scores every sample. Default 'all'. */
  split?: SplitName | 'all';
  folder?: FolderOptions;
  load?: Pick<LoadOptions, 'invertMasks' | 'thresholdMasks'>;
  /** HD95 is the slow part; false skips it. Default true. */
  hd95?: boolean;
  /** Writes metrics.csv, summary.csv and metrics.md there. */
  outDir?: string;
  onImage?: (row: MetricRow, i: number, n: number) => void;
}

export interface Evaluation {
  rows: MetricRow[];
  summary: MetricSummary[];
  classes: string[];
  files: string[];
}

/** Scores one prediction against K' ground-truth planes (a softmax model's background channel is left out). */
export function scoreImage(p: ProbMap, truth: Float32Array, truthClasses: number, multiclass: 'softmax' | 'sigmoid', opts: { threshold?: number; hd95?: boolean } = {}):
  { mean: ImageScores; perClass: ImageScores[] } {
  const [H, W] = p.sizes;
  const so = { threshold: opts.threshold ?? 0.5, hd95: opts.hd95 };
  if (p.channels === 1) {
    if (truthClasses !== 1) throw new Error(`the model has 1 class, the dataset ${truthClasses}`);
    const s = binaryScores(p.data, truth, [W, H], so);
    return { mean: s, perClass: [s] };
  }
  if (multiclass === 'sigmoid') {
    if (truthClasses !== p.channels) throw new Error(`the model has ${p.channels} classes, the dataset ${truthClasses}`);
    return multiClassScores(p.data, truth, p.channels, [W, H], so);
  }
  // softmax: argmax masks; channel 0 is background when the dataset has one class fewer
  const masks = binaryMasks(p, 'softmax', so.threshold);
  const plane = H * W;
  if (truthClasses === p.channels - 1) return multiClassScores(masks.subarray(plane), truth, truthClasses, [W, H], { ...so, threshold: 0.5 });
  if (truthClasses === p.channels) return multiClassScores(masks, truth, truthClasses, [W, H], { ...so, threshold: 0.5 });
  throw new Error(`the model has ${p.channels} softmax classes, the dataset ${truthClasses} (expected ${p.channels - 1} or ${p.channels})`);
}

export async function evaluateFolder(entry: ModelEntry, cache: PredictorCache, dir: string, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const ds = await scanFolder(dir, { ...opts.folder, requireMasks: true });
  const split = opts.split ?? 'all';
  const samples = split === 'all' ? ds.samples : ds.samples.filter((s) => s.split === split);
  if (!samples.length) throw fileError(dir, `no samples in split "${split}"`);
  const cfg = entry.meta.model;
  if (cfg.dims !== 2) throw new Error(`the model is ${cfg.dims}D; image folders are for 2D models`);
  if (cfg.inChannels !== 1 && cfg.inChannels !== 3) throw new Error(`the model takes ${cfg.inChannels} channels; image folders give 1 or 3`);
  const { settings, normalize, resize, threshold } = opts;
  const rows: MetricRow[] = [];
  for (const [i, s] of samples.entries()) {
    // one at a time: full-size images can be large
    const [loaded] = await loadSamples([s], { ...opts.load, channels: cfg.inChannels as 1 | 3 });
    let scores: { mean: ImageScores; perClass: ImageScores[] };
    try {
      const p = await predictInput(entry, cache, { kind: 'image', image: loaded.image, name: s.image }, { settings, normalize, resize, threshold, encode: false });
      scores = scoreImage(p.probs, loaded.mask.data, loaded.mask.channels, cfg.multiclass, opts);
    } catch (e) {
      throw fileError(s.image, 'evaluation failed', e);
    }
    const values: Record<string, number | undefined> = { ...scores.mean };
    if (scores.perClass.length > 1)
      scores.perClass.forEach((c, k) => { values[`iou_${ds.classes[k]}`] = c.iou; values[`dice_${ds.classes[k]}`] = c.dice; });
    const row = { id: s.id, values };
    rows.push(row);
    opts.onImage?.(row, i, samples.length);
  }
  const metrics = [...METRIC_NAMES, ...Object.keys(rows[0].values).filter((k) => !METRIC_NAMES.includes(k))];
  const summary = summarize(rows, metrics);
  const title = `# Evaluation of ${dir}${split === 'all' ? '' : ` (split ${split})`}\n\n${rows.length} images, threshold ${opts.threshold ?? 0.5}; ` +
    'HD95 in pixels, undefined where a mask is empty (left out of the mean, counted).\n\n';
  const files = opts.outDir ? await writeEvaluation(opts.outDir, rows, metrics, summary, title, 'image') : [];
  return { rows, summary, classes: ds.classes, files };
}
