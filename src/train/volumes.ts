// Training on volumes: random 3D patches (foreground-oversampled, augmented: data/patch-loader.ts)
// through the same training loop as images (trainer.ts), validated per volume by the same
// predictor as inference (sliding windows of the patch size over each whole validation volume),
// so the monitored Dice is the one `predict` will give.
import type { SegModel } from '../models/model.js';
import { PatchLoader, type PatchLoaderOptions } from '../data/patch-loader.js';
import type { VolumeSource } from '../data/volume-store.js';
import { expandPlanes, planeCount, type LabelSpec } from '../data/labels.js';
import type { LoadedVolume } from '../data/volume-load.js';
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

/** Per-volume scores of thresholded (sigmoid) or argmax (softmax) predictions. */
export function volumeDice(p: ProbMap, v: LoadedVolume, spec: LabelSpec, softmax: boolean): { dice: number; iou: number } {
  if (!v.labels) throw new Error(`validation volume ${v.id} has no labels`);
  const n = v.labels.length, K = p.classes;
  const truth = expandPlanes(v.labels, spec);
  const first = softmax ? 1 : 0;  // softmax plane 0 is background: scored without it
  let dice = 0, iou = 0, planes = 0;
  for (let k = first; k < K; k++) {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < n; i++) {
      let on: boolean;
      if (softmax) {
        let best = 0;
        for (let c = 1; c < K; c++) if (p.data[c * n + i] > p.data[best * n + i]) best = c;
        on = best === k;
      } else on = p.data[k * n + i] > 0.5;
      const t = truth[k * n + i] > 0.5;
      if (on && t) tp++; else if (on) fp++; else if (t) fn++;
    }
    // both empty: a perfect score (the metrics' convention)
    dice += tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn);
    iou += tp + fp + fn === 0 ? 1 : tp / (tp + fp + fn);
    planes++;
  }
  return { dice: dice / planes, iou: iou / planes };
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
  const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
  // predict's defaults (overlap 0.25, 4 windows a run): the Dice `predict` would give, at a
  // third of the cost of overlap 0.5 (validation of whole volumes can outweigh an epoch's steps)
  const predictor = createPredictor(model, { backend: o.backend, mode: 'accurate', tile: o.patch });
  let dice = 0, iou = 0;
  for (let i = 0; i < val.length; i++) {
    const v = await val.get(i);
    const [X, Y, Z] = v.dims;
    const s = volumeDice(predictor.predict({ data: v.image, channels: v.channels, depth: Z, height: Y, width: X }), v, o.labels, softmax);
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
  const backend = await resolveBackend(o.backend ?? 'auto', o.precision ?? 'fp32');
  const validate = ({ model: m }: { model: SegModel }): Promise<ValMetrics> => validateVolumes(m, data.val, { backend, patch: o.patch, labels: spec });
  // without a meta: the labels trained on and the patch as the default window; the input's defaults
  const meta = o.meta ?? completeMeta(model.config, { labels: spec, window: o.patch }, 'train');
  return train(model, { train: [], val: [], loader }, { ...o, backend, validate, meta });
}
