// Per-volume, per-class scores in millimetres: label maps (or label files) scored through the
// dataset's LabelSpec, so classes and overlapping regions (BraTS) score as they were trained.
import { expandPlanes, planeNames, type LabelSpec, toLabelMap } from '../data/labels.js';
import { readNiftiChannels } from '../data/nifti.js';
import { onImageGrid } from '../data/volume-load.js';
import { multiClassScoresNd, perClassRow, type MultiClassScores, type ScoreOptionsNd } from './segmentation.js';
import type { MetricRow } from './summary.js';

/**
 * Two label maps [Z, Y, X] on one grid (dims [X, Y, Z], spacing in mm): Dice, IoU, precision,
 * recall, HD95 and average symmetric surface distance per class of the spec (a softmax spec's
 * background plane left out), and their mean.
 */
export function scoreLabelVolumes(pred: Uint8Array, truth: Uint8Array, spec: LabelSpec, dims: readonly number[], spacing: readonly number[], o: ScoreOptionsNd = {}): MultiClassScores {
  const names = planeNames(spec);
  const background = spec.kind === 'classes' && spec.background ? 0 : undefined;
  return multiClassScoresNd(expandPlanes(pred, spec), expandPlanes(truth, spec), names.length, dims, { asd: true, ...o, spacing, background });
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
export async function scoreLabelFiles(predPath: string, truthPath: string, spec: LabelSpec, id = predPath, o: ScoreOptionsNd = {}): Promise<{ scores: MultiClassScores; row: MetricRow }> {
  const [p, t] = await Promise.all([readNiftiChannels(predPath), readNiftiChannels(truthPath)]);
  const truth = toLabelMap(t.data, truthPath, t.dims, spec);
  const pred = toLabelMap(onImageGrid(p, predPath, t, truthPath), predPath, t.dims, spec);
  const scores = scoreLabelVolumes(pred, truth, spec, t.dims, t.spacing, o);
  return { scores, row: perClassRow(id, scores, scoredClassNames(spec)) };
}
