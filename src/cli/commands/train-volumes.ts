// `unetpp train` on a volume dataset (--dims 3, or a folder of NIfTI volumes / DICOM series):
// lazy per-split stores, random 3D patches, validation per volume by sliding windows; the
// checkpoints record the input pipeline (modalities, normalisation, spacing, labels) and the
// patch from the first epoch on, so that predict and eval prepare new volumes exactly as training did;
// at the end, post-processing chosen on the validation cases is recorded in best's meta.
import { InvalidArgumentError } from 'commander';
import { CliError } from '../common.js';
import { describeLoss, lossFromFlags } from '../loss-flags.js';
import { modelConfigFrom, namingFlags } from '../model-options.js';
import { SegModel } from '../../models/model.js';
import { perLevelText } from '../../models/config.js';
import { openVolumes, resolveLabels, volumePipeline } from '../../data/volumes/volume-dataset.js';
import { hasIgnore, type LabelSpec } from '../../data/labels.js';
import { checkWindowFlag, defaultPatch } from '../window.js';
import { epochDraws } from '../epoch-draws.js';
import { DEFAULT_AUGMENT_3D } from '../../data/augmentation/augment3d.js';
import { trainVolumes, type VolumeTrainOptions } from '../../train/volumes.js';
import type { VolumeStore } from '../../data/volumes/volume-store.js';
import { volumeRunMeta } from '../../train/run-meta.js';
import type { TrainOptions } from '../../train/options.js';
import { existsSync } from 'node:fs';
import { resolveBackend } from '../backend.js';
import { describeBackend } from '../../engine/backends/describe.js';
import { updateMeta } from '../../io/checkpoint.js';
import { checkpointEntry } from '../../infer/model-entry.js';
import { PredictorCache } from '../../infer/predictor-cache.js';
import { choosePostprocessOnSplit } from '../../infer/postprocess-validation.js';
import { choiceTable } from './postprocess.js';

/** Default filters of a 3D UNet++ (the 2D default, 32..512, is 27M params and slow in 3D). */
export const VOLUME_FILTERS = [16, 32, 64, 128, 256];

/** "64" -> [64, 64, 64]; "32x64x64" (DxHxW) -> [32, 64, 64]. */
export function patchSize(v: string): [number, number, number] {
  const m = /^(\d+)(?:x(\d+)x(\d+))?$/.exec(v.trim());
  if (!m || [m[1], m[2] ?? m[1], m[3] ?? m[1]].some((s) => Number(s) < 1)) throw new InvalidArgumentError('expected N or DxHxW, e.g. 64 or 32x96x96');
  return [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? m[1])];
}

/** "1,1,2.5" -> [1, 1, 2.5] (x, y, z in mm). */
export function spacingList(v: string): [number, number, number] {
  const p = v.split(',').map(Number);
  if (p.length !== 3 || p.some((x) => !(x > 0))) throw new InvalidArgumentError('expected three positive numbers x,y,z in mm, e.g. 1,1,2.5');
  return p as [number, number, number];
}

/** Post-processing chosen on the validation cases for the best checkpoint (one more validation pass), in its meta. */
async function choosePostprocessAfterTraining(bestPath: string, dataDir: string, opts: Record<string, any>,
                                             split: 'val' | 'train'): Promise<void> {
  const backend = await resolveBackend(opts.backend, opts.precision, 'infer', 3);
  const t0 = performance.now();
  const entry = checkpointEntry(bestPath);
  const choice = await choosePostprocessOnSplit(entry, new PredictorCache(backend), dataDir, { split, seed: opts.seed });
  updateMeta(bestPath, (meta) => ({ ...meta, postprocess: choice.rules }));
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`post-processing chosen on the validation cases (${s} s; unetpp postprocess reruns it):`);
  console.log(choiceTable(choice, entry.meta.labels));
}

/** What `unetpp train` on volumes trains: the seeded model, the stores and trainVolumes' options. */
export interface VolumeTrainingSetup {
  model: SegModel;
  data: { train: VolumeStore; val: VolumeStore };
  /** The training cases validate too (no validation split). */
  valIsTrain: boolean;
  options: VolumeTrainOptions;
}

/**
 * The model, the cases and the options `unetpp train` on volumes trains with (after the plan
 * filled the options: plan-train.ts), without training; exported so that a run can be
 * reproduced outside the command (e.g. its patch stream and initial weights for another engine).
 */
export async function volumeTrainingSetup(dataDir: string, opts: Record<string, any>, common: TrainOptions,
                                          batchGiven = opts.batchSize !== undefined): Promise<VolumeTrainingSetup> {
  const softmax = opts.multiclass !== 'sigmoid';
  const labels = (fromDataset: LabelSpec | undefined) =>
    resolveLabels(opts.labels, fromDataset, { softmax, other: opts.other });
  // volumeNormalize, cropToNonzero, foregroundFraction: from the plan (cli/plan-train.ts)
  const vd = await openVolumes(dataDir, {
    labels, spacing: opts.spacing, seed: opts.seed, normalize: opts.volumeNormalize, cropToNonzero: opts.cropToNonzero,
  });
  let train = vd.splits.train, val = vd.splits.val;
  const split = vd.dataset.splitSource;
  if (!train) throw new CliError(`--data ${dataDir}: no training cases (split.csv, imagesTr/ or the file names say which are which)`);
  if (!val) {
    if (split?.kind === 'file')
      throw new CliError(`${split.file}: no case has split "val": mark some as val (or remove the file for a seeded ` +
        'split, --seed)');
    if (split?.kind === 'names')
      throw new CliError(`--data ${dataDir}: no validation cases: the file names give none (e.g. <case>_val); ` +
        'add a split.csv');
    console.log(`validating on the training cases: ${train.length} labelled case(s), too few to hold one out`);
    val = train;
  }
  if (split?.kind === 'seeded') {
    const count = (s: string) => vd.dataset.cases.filter((c) => c.split === s).length;
    console.log(`split: seeded (--seed ${split.seed}, no split.csv): ${count('train')} train / ${count('val')} val / ` +
      `${count('test')} test` + (split.note ? ` (${split.note})` : ''));
  }
  const model = namingFlags(() => new SegModel({
    dims: 3, inChannels: vd.dataset.modalities.length, classes: vd.classNames.length, deepSupervision: (opts.arch ?? 'unetpp') === 'unetpp',
    multiclass: softmax ? 'softmax' : 'sigmoid', filters: VOLUME_FILTERS, ...modelConfigFrom(opts),
  }));
  if (model.config.dims !== 3) throw new CliError('--dims 2 on a volume dataset: train 2D models on slices with an image dataset, or leave --dims out');
  if (model.config.classes !== vd.classNames.length)
    throw new CliError(`--classes ${model.config.classes}: the labels give ${vd.classNames.length} target planes ` +
      `(${vd.classNames.join(', ')}); leave --classes out`);
  const patch = (opts.patch as [number, number, number] | undefined) ?? defaultPatch(model.config);
  checkWindowFlag('--patch', patch, model.config);
  const draws = epochDraws(opts, 2, train.length, batchGiven);
  const batchSize = draws.batchSize, samplesPerEpoch = draws.samplesPerEpoch ?? train.length;
  const loss = lossFromFlags(opts, softmax);
  console.log(`backend: ${opts.backend === 'reference' ? 'reference (chosen with --backend)' : describeBackend()}`);
  const { pools, kernels } = model.config;
  const perAxis = (pools ? `, pools ${perLevelText(pools)}` : '') + (kernels ? `, kernels ${perLevelText(kernels)}` : '');
  console.log(`training 3D ${model.config.arch} (${model.config.preset}, ${model.config.norm} norm, filters ${model.config.filters.join(',')}${perAxis}, ` +
    `${model.params.count().toLocaleString('en')} params) on ${train.length} train / ` +
    `${val === train ? 'the same' : val.length} val volumes from ${dataDir}; ` +
    `modalities ${vd.dataset.modalities.join(', ')}; classes ${vd.classNames.join(', ')}` +
    (hasIgnore(vd.labels) ? ' (other values ignored)' : '') + `; patch ${patch.join('x')}; ${describeLoss(loss)}`);
  const options: VolumeTrainOptions = {
    ...common, batchSize, loss, patch, samplesPerEpoch,
    augment3d: opts.augment === false ? null : DEFAULT_AUGMENT_3D, labels: vd.labels, foregroundFraction: opts.foregroundFraction,
    meta: {
      ...volumeRunMeta(model.config, volumePipeline(vd), patch, { source: 'train', dataset: dataDir, command: process.argv.slice(1) }),
      ...(opts.datasetPlan ? { plan: opts.datasetPlan } : {}), ...(opts.tta !== undefined ? { tta: opts.tta } : {}),
    },
  };
  return { model, data: { train, val }, valIsTrain: val === train, options };
}

export async function trainVolumesCommand(dataDir: string, opts: Record<string, any>, common: TrainOptions,
                                          batchGiven = opts.batchSize !== undefined): Promise<void> {
  const { model, data, valIsTrain, options } = await volumeTrainingSetup(dataDir, opts, common, batchGiven);
  const r = await trainVolumes(model, data, options);
  if (opts.postprocess !== false && existsSync(r.bestPath))
    await choosePostprocessAfterTraining(r.bestPath, dataDir, opts, valIsTrain ? 'train' : 'val');
  console.log(`done: ${r.epochs} epochs (${r.stoppedBy}), best ${opts.monitor} ${r.best?.toFixed(4) ?? '-'} at epoch ${r.bestEpoch}, ` +
    `${r.stepMs.toFixed(0)} ms/step (${r.backend}, ${r.precision}); best model ${r.bestPath}`);
  if (opts.tta) console.log('predict, eval and serve average the 8 flips of this model by default (--no-tta: one pass, as validation ran)');
}
