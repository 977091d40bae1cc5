// Per-image segmentation scores. Predictions are probabilities, thresholded at 0.5 (p > t);
// targets are 0/1 (also thresholded, so soft targets work). An image whose prediction and
// truth are both empty scores 1 on IoU, Dice, precision and recall; any other 0/0 is 0 (as
// sklearn's zero_division=0). HD95 and ASD are undefined when either set is empty.
// Everything works in N dimensions (dims from the fastest axis out: [x, y] = [width, height] of
// an image, [x, y, z] of a NIfTI volume), so images and volumes share one code path.
import { surfaceDistances } from './distance.js';
import { percentile } from '../data/percentile.js';

export interface ImageScores {
  iou: number;
  dice: number;
  precision: number;
  recall: number;
  hd95: number | undefined;
  /** Average symmetric surface distance (only when asked for: ScoreOptions.asd). */
  asd?: number | undefined;
}

export interface ScoreOptions {
  threshold?: number; // 0.5
  /** Voxel size per axis of dims ([x, y] or [x, y, z], mm) for HD95 and ASD; default 1 (pixels). */
  spacing?: readonly number[];
  /** Skip HD95 (the expensive part) when false. Default true. */
  hd95?: boolean;
  /** Also the average symmetric surface distance. Default false (2D), true for volumes. */
  asd?: boolean;
}

export function binarize(p: ArrayLike<number>, threshold = 0.5, offset = 0, n = p.length - offset): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = p[offset + i] > threshold ? 1 : 0;
  return out;
}

export function confusion(pred: Uint8Array, truth: Uint8Array): { tp: number; fp: number; fn: number; tn: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    if (pred[i]) truth[i] ? tp++ : fp++;
    else if (truth[i]) fn++;
  }
  return { tp, fp, fn, tn: pred.length - tp - fp - fn };
}

const ratio = (a: number, b: number, empty: boolean) => (b > 0 ? a / b : empty ? 1 : 0);

/** Scores of one binary map of any dimension (an image: dims [W, H]; a volume: [X, Y, Z], spacing in mm). */
export function binaryScores(prob: ArrayLike<number>, truth: ArrayLike<number>, dims: readonly number[], o: ScoreOptions = {}, offset = 0): ImageScores {
  const n = dims.reduce((a, b) => a * b, 1);
  if (prob.length < offset + n || truth.length < offset + n) throw new Error(`binaryScores: arrays shorter than ${dims.join('x')}`);
  const p = binarize(prob, o.threshold ?? 0.5, offset, n);
  const t = binarize(truth, 0.5, offset, n);
  const { tp, fp, fn } = confusion(p, t);
  const empty = tp + fp + fn === 0; // both masks empty
  const scores: ImageScores = {
    iou: ratio(tp, tp + fp + fn, empty),
    dice: ratio(2 * tp, 2 * tp + fp + fn, empty),
    precision: ratio(tp, tp + fp, empty),
    recall: ratio(tp, tp + fn, empty),
    hd95: undefined,
  };
  if (o.hd95 === false && !o.asd) return scores;
  // one pair of distance transforms serves both HD95 and ASD
  const d = surfaceDistances(p, t, dims, o.spacing);
  if (o.hd95 !== false && d) {
    const all = new Float64Array(d.ab.length + d.ba.length);
    all.set(d.ab);
    all.set(d.ba, d.ab.length);
    scores.hd95 = percentile(all, 95);
  }
  if (o.asd) {
    const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
    scores.asd = d ? (mean(d.ab) + mean(d.ba)) / 2 : undefined;
  }
  return scores;
}

export interface MultiClassScores {
  perClass: ImageScores[];
  /** Mean over classes; hd95 over the classes where it is defined (undefined if none). */
  mean: ImageScores;
}

export function meanScores(list: ImageScores[]): ImageScores {
  const avg = (f: (s: ImageScores) => number | undefined) => {
    const v = list.map(f).filter((x): x is number => x !== undefined);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
  };
  const out: ImageScores = { iou: avg((s) => s.iou)!, dice: avg((s) => s.dice)!, precision: avg((s) => s.precision)!, recall: avg((s) => s.recall)!, hd95: avg((s) => s.hd95) };
  if (list.some((s) => 'asd' in s)) out.asd = avg((s) => s.asd);
  return out;
}

/**
 * K channels of per-class probabilities (sigmoid heads: channel k is class k) of any dimension
 * ([K, H, W] with dims [W, H]; [K, Z, Y, X] with dims [X, Y, Z]); regions may overlap.
 * background: index of a background channel to leave out, if the model has one.
 */
export function multiClassScores(prob: ArrayLike<number>, truth: ArrayLike<number>, k: number, dims: readonly number[], o: ScoreOptions & { background?: number } = {}): MultiClassScores {
  const n = dims.reduce((a, b) => a * b, 1);
  const perClass: ImageScores[] = [];
  for (let c = 0; c < k; c++) if (c !== o.background) perClass.push(binaryScores(prob, truth, dims, o, c * n));
  return { perClass, mean: meanScores(perClass) };
}

/** Label maps (one class id per pixel or voxel; 0 = background) of any dimension, scored per class value (e.g. BraTS [1, 2, 4]). */
export function labelMapScores(pred: ArrayLike<number>, truth: ArrayLike<number>, values: readonly number[], dims: readonly number[], o: ScoreOptions = {}): MultiClassScores {
  const n = dims.reduce((a, b) => a * b, 1);
  const perClass: ImageScores[] = [];
  for (const c of values) {
    const p = new Uint8Array(n);
    const t = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      p[i] = Math.round(pred[i]) === c ? 1 : 0;
      t[i] = Math.round(truth[i]) === c ? 1 : 0;
    }
    perClass.push(binaryScores(p, t, dims, o));
  }
  return { perClass, mean: meanScores(perClass) };
}

/**
 * A per-volume (or per-image) table row: the class means under their own names, and every
 * class's scores as "<metric>:<class name>" (e.g. dice:enhancing tumour).
 */
export function perClassRow(id: string, s: MultiClassScores, classNames: readonly string[]): { id: string; values: Record<string, number | undefined> } {
  const values: Record<string, number | undefined> = { ...s.mean };
  s.perClass.forEach((c, i) => {
    for (const [m, v] of Object.entries(c)) values[`${m}:${classNames[i] ?? i}`] = v;
  });
  return { id, values };
}

/** One row per item of a batch [N, K, ...spatial] (dims: the spatial sizes fastest first): the class mean (K = 1: the binary scores). */
export function batchScores(prob: ArrayLike<number>, truth: ArrayLike<number>, n: number, k: number, dims: readonly number[], o: ScoreOptions = {}): ImageScores[] {
  const rows: ImageScores[] = [];
  const size = k * dims.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const p = sub(prob, i * size, size);
    const t = sub(truth, i * size, size);
    rows.push(k === 1 ? binaryScores(p, t, dims, o) : multiClassScores(p, t, k, dims, o).mean);
  }
  return rows;
}

function sub(a: ArrayLike<number>, off: number, n: number): ArrayLike<number> {
  if (a instanceof Float32Array || a instanceof Float64Array || a instanceof Uint8Array) return a.subarray(off, off + n);
  return Array.prototype.slice.call(a, off, off + n) as number[];
}
