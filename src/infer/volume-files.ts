// Volumes through a 3D model held as a bare Predictor (library use; the CLI and the services go
// through predictInput with a checkpoint's meta): a case (one file per modality, a 4D NIfTI, or
// a DICOM series folder) prepared as training prepared its cases (the pipeline: modality order,
// normalisation, spacing), predicted by sliding windows, written back on the file's own grid.
import type { Predictor } from './predict.js';
import type { VolumePipeline } from '../data/volumes/volume-dataset.js';
import type { PostprocessRule } from '../io/checkpoint-meta.js';
import { labelsFromPlanes } from '../data/labels.js';
import { completeMeta } from '../io/meta-defaults.js';
import { validateMeta } from '../io/meta-validate.js';
import { predictWith, type VolumePrediction } from './predict-input.js';
import { outputStem, writePrediction } from './write-prediction.js';

export { labelsFromPlanes }; // where the CLI, eval and experiments have imported it from

export interface PredictedCase { input: string; outputs: string[]; dims: number[]; foreground: number; ms: number }

/** Predicts one case; writes <stem>.nii.gz (labels, uint8, after the post-processing rules given) and,
 *  on request, <stem>_prob.nii.gz (float32, one volume per class). */
export async function predictCase(predictor: Predictor, images: string[], outDir: string, pipeline: VolumePipeline,
                                  o: { threshold?: number; probabilities?: boolean; postprocess?: PostprocessRule[] } = {}):
  Promise<PredictedCase> {
  const t0 = performance.now();
  const { modalities, normalize, ct, spacing, cropToNonzero, labels, classNames } = pipeline;
  const input = {
    kind: 'volume' as const, modalities, normalize, ct, ...(spacing ? { spacing } : {}),
    ...(cropToNonzero !== undefined ? { cropToNonzero } : {}),
  };
  const given = { input, labels, classNames, ...(o.postprocess ? { postprocess: o.postprocess } : {}) };
  const meta = validateMeta(completeMeta(predictor.model.config, given, 'train'), 'volume pipeline');
  const run = { threshold: o.threshold, encode: false };
  const p = await predictWith(predictor, meta, { kind: 'volume-files', paths: images }, run) as VolumePrediction;
  const outputs = await writePrediction(p, outDir, outputStem(images[0], 3), meta, o);
  return { input: images[0], outputs, dims: p.dims, foreground: p.foreground, ms: performance.now() - t0 };
}
