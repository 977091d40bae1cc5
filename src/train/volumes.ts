// Training on volumes: random 3D patches (foreground-oversampled, augmented: data/loaders/patch-loader.ts)
// through the same training loop as images (trainer.ts), validated per volume by the same
// predictor as inference (sliding windows of the patch size over each whole validation volume),
// and scored as `unetpp eval` scores, so the monitored Dice is the one eval gives on the checkpoint.
import type { SegModel } from '../models/model.js';
import { PatchLoader, type PatchLoaderOptions } from '../data/loaders/patch-loader.js';
import type { VolumeSource } from '../data/volumes/volume-store.js';
import { labelsFromPlanes, planeCount, type LabelSpec } from '../data/labels.js';
import { scoreLabelVolumes } from '../metrics/volume.js';
import type { LoadedVolume } from '../data/volumes/volume-load.js';
import { createPredictor, type ProbMap } from '../infer/predict.js';
import { resolveBackend } from './backend.js';
import { train, type TrainResult } from './trainer.js';
import type { TrainOptions } from './options.js';
import type { ValMetrics } from './evaluate.js';
import type { Backend } from '../engine/backend.js';
import { completeMeta } from '../io/meta-defaults.js';

export interface VolumeTrainOptions extends Omit<TrainOptions, 'validate' | 'crop' | 'augment' | 'normalize'> {
  /** Patch [D, H, W]; multiples of 2^depth. */
  patch: [number, number, number];
  /** Patches an epoch (default: one per training case). */
  samplesPerEpoch?: number;
  foregroundFraction?: number;
  augment3d?: PatchLoaderOptions['augment'];
  labels?: LabelSpec;
}

/**
 * Per-volume scores as `unetpp eval` gives them: the probabilities turned into the dataset's label
 * values (labelsFromPlanes: argmax for softmax classes, thresholds else) and scored per class of
 * the spec without background (scoreLabelVolumes, ignored voxels left out); the class mean.
 */
export function volumeDice(p: ProbMap, v: LoadedVolume, spec: LabelSpec): { dice: number; iou: number } {
  if (!v.labels) throw new Error(`validation volume ${v.id} has no labels`);
  const pred = labelsFromPlanes(p, spec);
  const s = scoreLabelVolumes(pred, v.labels, spec, v.dims, v.spacing, { hd95: false, asd: false }).mean;
  return { dice: s.dice, iou: s.iou };
}

/** The label spec volumes train on: the option, else the store's, else binary. */
const specOf = (train: VolumeSource, o: Pick<VolumeTrainOptions, 'labels'>): LabelSpec => o.labels ?? train.labels ?? { kind: 'binary' };

/** The patch loader trainVolumes trains on (exported so that other tools, e.g. the BraTS
 *  experiment's patch dump for the PyTorch twin, build the very same stream). */
export function volumePatchLoader(train: VolumeSource, o: Pick<VolumeTrainOptions, 'patch' | 'batchSize' | 'samplesPerEpoch' | 'seed' | 'foregroundFraction' | 'augment3d' | 'labels'>): PatchLoader {
  return new PatchLoader(train, {
    patch: o.patch, batchSize: o.batchSize ?? 2, samplesPerEpoch: o.samplesPerEpoch, seed: o.seed,
    foregroundFraction: o.foregroundFraction, augment: o.augment3d, labels: specOf(train, o),
  });
}

/** trainVolumes' validation: every validation volume predicted by the inference predictor
 *  (windows of the patch size, mean of the heads), scored by volumeDice and averaged over the
 *  volumes; valLoss is 1 - Dice. Exported to score weights trained elsewhere (e.g. by the PyTorch
 *  twin) exactly as the trainer validates. */
export async function validateVolumes(model: SegModel, val: VolumeSource, o: { backend: Backend; patch: [number, number, number]; labels: LabelSpec }): Promise<ValMetrics> {
  // predict's defaults (overlap 0.25, 4 windows a run): the Dice `predict` would give, at a
  // third of the cost of overlap 0.5 (validation of whole volumes can outweigh an epoch's steps)
  const predictor = createPredictor(model, { backend: o.backend, mode: 'accurate', tile: o.patch });
  let dice = 0, iou = 0;
  for (let i = 0; i < val.length; i++) {
    const v = await val.get(i);
    const [X, Y, Z] = v.dims;
    const p = predictor.predict({ data: v.image, channels: v.channels, sizes: [Z, Y, X] });
    const s = volumeDice(p, v, o.labels);
    dice += s.dice;
    iou += s.iou;
  }
  const n = val.length;
  return { dice: dice / n, iou: iou / n, valLoss: 1 - dice / n, images: n };
}

export async function trainVolumes(model: SegModel, data: { train: VolumeSource; val: VolumeSource }, o: VolumeTrainOptions): Promise<TrainResult> {
  if (model.config.dims !== 3) throw new Error(`trainVolumes: the model is ${model.config.dims}D; volumes need dims 3`);
  const spec = specOf(data.train, o);
  const planes = planeCount(spec);
  if (planes !== model.config.classes)
    throw new Error(`trainVolumes: the labels give ${planes} target planes, the model has ${model.config.classes} classes`);
  const loader = volumePatchLoader(data.train, o);
  const backend = await resolveBackend(o.backend ?? 'auto', o.precision ?? 'fp32', 3);
  const validate = ({ model: m }: { model: SegModel }): Promise<ValMetrics> => validateVolumes(m, data.val, { backend, patch: o.patch, labels: spec });
  // without a meta: the labels trained on and the patch as the default window; the input's defaults
  const meta = o.meta ?? completeMeta(model.config, { labels: spec, window: o.patch }, 'train');
  return train(model, { train: [], val: [], loader }, { ...o, backend, validate, meta });
}
