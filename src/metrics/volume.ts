// Per-volume, per-class scores in millimetres: label maps (or label files) scored through the
// dataset's LabelSpec, so classes and overlapping regions (BraTS) score as they were trained.
// Voxels the truth marks ignored (the spec's `other: 'ignore'`) count for no class, in both maps.
import { planeNames, planeTable, type LabelSpec, toLabelMap } from '../data/labels.js';
import { readNiftiChannels } from '../data/formats/nifti.js';
import { onImageGrid } from '../data/volumes/volume-load.js';
import { binaryScores, meanScores, perClassRow, type ImageScores, type MultiClassScores, type ScoreOptions } from './segmentation.js';
import type { MetricRow } from './summary.js';

/**
 * Two label maps [Z, Y, X] on one grid (dims [X, Y, Z], spacing in mm): Dice, IoU, precision,
 * recall, HD95 and average symmetric surface distance per class of the spec (a softmax spec's
 * background plane left out), and their mean.
 */
export function scoreLabelVolumes(pred: Uint8Array, truth: Uint8Array, spec: LabelSpec, dims: readonly number[], spacing: readonly number[], o: ScoreOptions = {}): MultiClassScores {
  const k = planeNames(spec).length;
  const first = spec.kind === 'classes' && spec.background ? 1 : 0;
  const { bits, ignored } = planeTable(spec);
  // one byte mask per plane at a time (not K float planes of the whole volume at once)
  const p = new Uint8Array(pred.length), t = new Uint8Array(truth.length);
  const perClass: ImageScores[] = [];
  for (let c = first; c < k; c++) {
    const bit = 1 << c;
    for (let i = 0; i < p.length; i++) {
      const skip = ignored[truth[i]];
      p[i] = !skip && bits[pred[i]] & bit ? 1 : 0;
      t[i] = !skip && bits[truth[i]] & bit ? 1 : 0;
    }
    perClass.push(binaryScores(p, t, dims, { asd: true, ...o, spacing }));
  }
  return { perClass, mean: meanScores(perClass) };
}

/** Class names as scored by scoreLabelVolumes (without a background plane). */
export function scoredClassNames(spec: LabelSpec): string[] {
  const names = planeNames(spec);
  return spec.kind === 'classes' && spec.background ? names.slice(1) : names;
}

/**
 * A predicted label file against its ground truth (NIfTI): the prediction must lie on the
 * truth's grid (axis flips and permutations are reordered); errors name the file.
 */
export async function scoreLabelFiles(predPath: string, truthPath: string, spec: LabelSpec, id = predPath, o: ScoreOptions = {}): Promise<{ scores: MultiClassScores; row: MetricRow }> {
  const [p, t] = await Promise.all([readNiftiChannels(predPath), readNiftiChannels(truthPath)]);
  const truth = toLabelMap(t.data, truthPath, t.dims, spec);
  const pred = toLabelMap(onImageGrid(p, predPath, t, truthPath), predPath, t.dims, spec);
  const scores = scoreLabelVolumes(pred, truth, spec, t.dims, t.spacing, o);
  return { scores, row: perClassRow(id, scores, scoredClassNames(spec)) };
}
