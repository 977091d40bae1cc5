// What the rules need of a fingerprint, for volumes and images alike (array order): target
// spacing, cropping, the median case, channels, classes, normalisation, and the notes they give.
import type { CtStats } from '../data/volumes/intensity.js';
import { columnPercentile, median } from './stats.js';
import { cropHelps, medianShapeAt, normalizationFor, targetSpacing } from './rules.js';
import type { DatasetPlan, ImageFingerprint, VolumeFingerprint } from '../io/dataset-plan.js';

export interface DatasetFacts {
  kind: 'image' | 'volume';
  dims: 2 | 3;
  /** Target spacing in array order ([1, 1] for images). */
  spacing: number[];
  spacingXYZ?: [number, number, number];
  spacingRule?: string;
  crop?: boolean;
  medianShape: number[];
  channels: number;
  modalities?: string[];
  classes: string[];
  /** Every planned case's size in the target spacing (array order). */
  sizes: number[][];
  /** The validation cases' sizes (as sizes): what validation slides its windows over each epoch. */
  valSizes: number[][];
  /** nnU-Net's approximate voxels of the training set: the median case times the training cases. */
  datasetVoxels: number;
  /** Validation runs in windows of the patch (volumes; images of more than two sizes, as the trainer
   *  does), else on whole images. */
  windowedValidation: boolean;
  normalize: DatasetPlan['normalize'];
  ct?: (CtStats | null)[];
  notes: string[];
}

export const prod = (v: readonly number[]) => v.reduce((a, b) => a * b, 1);
const zyx = (v: readonly number[]) => [...v].reverse();

/** The cases a plan is derived from: train and val (test held out), or all when that leaves none. */
export function plannedCases<T extends { split: string }>(cases: T[]): T[] {
  const planned = cases.filter((c) => c.split !== 'test');
  return planned.length ? planned : cases;
}

export function volumeFacts(fp: VolumeFingerprint): DatasetFacts {
  const notes: string[] = [];
  const cases = plannedCases(fp.cases);
  const medCrop = median(cases.map((c) => c.cropFraction));
  const crop = cropHelps(medCrop);
  const sizes = cases.map((c) => (crop ? c.cropShape : c.shape));
  const spacings = cases.map((c) => c.spacing);
  const { spacing: target, rule } = targetSpacing(spacings, sizes);
  const med = medianShapeAt(sizes, spacings, target);
  let classes = ['foreground'];
  if (fp.labelNames) {
    const values = Object.keys(fp.labelNames).map(Number).sort((a, b) => a - b);
    classes = ['background', ...values.map((v) => fp.labelNames![String(v)])];
  } else {
    const values = [...new Set(fp.cases.flatMap((c) => Object.keys(c.labelCounts)))].map(Number).filter((v) => v !== 0);
    if (values.length > 1)
      notes.push(`labels hold values ${values.join(', ')} and no dataset.json names them: trained as one foreground class ` +
        `unless --labels says otherwise (e.g. --labels ${values.join(',')})`);
  }
  const normalize = fp.modalities.map((m) => normalizationFor(m, medCrop));
  const ct = normalize.map((k, ch) => {
    const s = fp.intensity[ch];
    return k === 'ct' && s ? { lo: s.p00_5, hi: s.p99_5, mean: s.mean, std: s.std } : null;
  });
  notes.push(crop ? `crop to the non-zero box: it keeps ${(100 * medCrop).toFixed(0)}% of the median case`
    : 'no cropping: the non-zero box is the whole median case');
  if (normalize.includes('mri'))
    notes.push('z-score per case inside the non-zero mask (cropping left < 3/4 of the median case), as nnU-Net');
  const bad = fp.cases.filter((c) => c.nonFinite > 0);
  if (bad.length)
    notes.push(`${bad.length} case(s) have NaN/Inf voxels (first: ${bad[0].id}, ${bad[0].nonFinite} voxels): ` +
      'fix them before training');
  const train = fp.cases.filter((c) => c.split === 'train').length || cases.length;
  const resampled = sizes.map((s, c) => zyx(s.map((v, k) => Math.round((v * spacings[c][k]) / target[k]))));
  return {
    kind: 'volume', dims: 3, spacing: zyx(target), spacingXYZ: target as [number, number, number], spacingRule: rule, crop,
    medianShape: zyx(med), channels: fp.modalities.length, modalities: fp.modalities, classes,
    sizes: resampled, valSizes: resampled.filter((_, c) => cases[c].split === 'val'),
    datasetVoxels: prod(med) * train, normalize, ct, notes, windowedValidation: true,
  };
}

export function imageFacts(fp: ImageFingerprint): DatasetFacts {
  const notes: string[] = [];
  const cases = plannedCases(fp.cases);
  const sizes = cases.map((c) => [c.height, c.width]);
  const med = columnPercentile(sizes, 50).map((v) => Math.round(v));
  const chans = new Set(cases.map((c) => c.channels));
  const channels = Math.max(...chans);
  if (chans.size > 1) notes.push(`images mix ${[...chans].join(' and ')} channels: train with --channels ${channels}`);
  const fg = median(cases.map((c) => c.classFractions[0] ?? 0));
  if (fg > 0.5)
    notes.push(`the masks' foreground covers ${(100 * fg).toFixed(0)}% of the median image: ` +
      'if the target is the rest, train with --invert-masks');
  const distinct = new Set(cases.map((c) => `${c.height}x${c.width}`)).size;
  // the trainer validates images of more than two sizes in windows of the crop (train-shape.ts)
  const valSizes = new Set(fp.cases.filter((c) => c.split === 'val').map((c) => `${c.height}x${c.width}`)).size;
  const windowedValidation = valSizes > 2;
  notes.push(`${distinct} image size${distinct > 1 ? 's' : ''}: training takes random patch-sized crops ` +
    `(smaller images padded); validation runs ${windowedValidation ? 'in windows of the patch' : 'whole images'}`);
  const train = fp.cases.filter((c) => c.split === 'train').length || cases.length;
  return {
    kind: 'image', dims: 2, spacing: [1, 1], medianShape: med, channels, classes: fp.classes, sizes,
    valSizes: sizes.filter((_, c) => cases[c].split === 'val'),
    datasetVoxels: prod(med) * train, normalize: 'zscore', notes, windowedValidation,
  };
}
