// Volumes through a 3D model: a case (one file per modality, a 4D NIfTI, or a DICOM series
// folder) is prepared exactly as training prepared its cases (the checkpoint's pipeline:
// modality order, normalisation, spacing), predicted by sliding windows, and written back on
// the file's own grid and affine, so that it opens aligned over the input in any viewer.
import { join, basename } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Predictor } from './predict.js';
import { loadForPrediction, toSourceGrid, writeCasePrediction, type VolumePipeline } from '../data/volume-dataset.js';
import { writeNifti } from '../data/nifti.js';
import { labelsFromPlanes } from '../data/labels.js';

export { labelsFromPlanes }; // where the CLI, eval and experiments have imported it from

export interface VolumePrediction { input: string; outputs: string[]; dims: number[]; foreground: number; ms: number }

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
