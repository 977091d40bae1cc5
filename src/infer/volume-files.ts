// Volumes through a 3D model: a case (one file per modality, a 4D NIfTI, or a DICOM series
// folder) is prepared exactly as training prepared its cases (the checkpoint's pipeline:
// modality order, normalisation, spacing), predicted by sliding windows, and written back on
// the file's own grid and affine, so that it opens aligned over the input in any viewer.
import { join, basename } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Predictor, ProbMap } from './predict.js';
import { loadForPrediction, toSourceGrid, writeCasePrediction, type VolumePipeline } from '../data/volume-dataset.js';
import { writeNifti } from '../data/nifti.js';
import { planeTable, type LabelSpec } from '../data/labels.js';

export interface VolumePrediction { input: string; outputs: string[]; dims: number[]; foreground: number; ms: number }

/**
 * One label per voxel in the dataset's own values, so that the file scores and reads as the
 * training labels did: softmax classes -> the argmax's value (0 = background); sigmoid planes
 * (classes, or regions that may overlap, as BraTS's) -> the value whose planes are exactly the
 * planes above the threshold (BraTS: enhancing + core + whole -> 4), else the closest one.
 */
export function labelsFromPlanes(p: ProbMap, spec: LabelSpec, threshold = 0.5): Uint8Array {
  const n = p.data.length / p.classes, out = new Uint8Array(n);
  if (spec.kind === 'classes' && spec.background) {
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < p.classes; k++) if (p.data[k * n + i] > p.data[best * n + i]) best = k;
      out[i] = best === 0 ? 0 : spec.values[best - 1];
    }
    return out;
  }
  const { bits, known } = planeTable(spec);
  const valueOf = new Map<number, number>();  // plane set -> label value
  const pick = (set: number) => {
    let best = 0, score = -Infinity;
    for (let v = 0; v < 256; v++) {
      if (!known[v]) continue;
      const s = popcount(bits[v] & set) - popcount(bits[v] & ~set);
      if (s > score) { score = s; best = v; }
    }
    return best;
  };
  for (let i = 0; i < n; i++) {
    let set = 0;
    for (let k = 0; k < p.classes; k++) if (p.data[k * n + i] > threshold) set |= 1 << k;
    let v = valueOf.get(set);
    if (v === undefined) valueOf.set(set, (v = set === 0 ? 0 : pick(set)));
    out[i] = v;
  }
  return out;
}

const popcount = (x: number) => { let c = 0; for (; x; x &= x - 1) c++; return c; };

const stemOf = (path: string) => basename(path).replace(/\.nii(\.gz)?$/i, '').replace(/_0000$/, '');

/** Predicts one case; writes <stem>.nii.gz (labels, uint8) and, on request, <stem>_prob.nii.gz (float32, one volume per class). */
export async function predictCase(predictor: Predictor, images: string[], outDir: string, pipeline: VolumePipeline,
                                  o: { threshold?: number; probabilities?: boolean } = {}): Promise<VolumePrediction> {
  const t0 = performance.now();
  const v = await loadForPrediction(images, pipeline, stemOf(images[0]));
  const [X, Y, Z] = v.dims;
  const p = predictor.predict({ data: v.image, channels: v.channels, depth: Z, height: Y, width: X });
  const labels = labelsFromPlanes(p, pipeline.labels, o.threshold);
  mkdirSync(outDir, { recursive: true });
  const stem = stemOf(images[0]);
  const outputs = [join(outDir, `${stem}.nii.gz`)];
  await writeCasePrediction(outputs[0], labels, v);
  if (o.probabilities) {
    outputs.push(join(outDir, `${stem}_prob.nii.gz`));
    await writeNifti(outputs[1], { ...v.source, data: toSourceGrid(p.data, p.classes, v, 'linear'), channels: p.classes }, { datatype: 'float32' });
  }
  let fg = 0;
  for (const l of labels) if (l) fg++;
  return { input: images[0], outputs, dims: v.source.dims, foreground: fg / labels.length, ms: performance.now() - t0 };
}
