// `unetpp train` on a volume dataset (--dims 3, or a folder of NIfTI volumes / DICOM series):
// lazy per-split stores, random 3D patches, validation per volume by sliding windows; the
// checkpoints record the input pipeline (modalities, normalisation, spacing, labels) and the
// patch from the first epoch on, so that predict and eval prepare new volumes exactly as training did;
// at the end, post-processing chosen on the validation cases is recorded in best's meta.
import { InvalidArgumentError } from 'commander';
import { CliError } from '../common.js';
import { modelConfigFrom } from '../model-options.js';
import { SegModel } from '../../models/model.js';
import { openVolumes, parseLabelSpec, volumePipeline } from '../../data/volume-dataset.js';
import { DEFAULT_AUGMENT_3D } from '../../data/augment3d.js';
import { trainVolumes } from '../../train/volumes.js';
import { volumeRunMeta } from '../../train/run-meta.js';
import type { TrainOptions } from '../../train/options.js';
import { existsSync } from 'node:fs';
import { resolveBackend } from '../backend.js';
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
async function choosePostprocessAfterTraining(bestPath: string, dataDir: string, opts: Record<string, any>): Promise<void> {
  const backend = await resolveBackend(opts.backend, opts.precision, 'infer', 3);
  const t0 = performance.now();
  const entry = checkpointEntry(bestPath);
  const choice = await choosePostprocessOnSplit(entry, new PredictorCache(backend), dataDir, { split: 'val', seed: opts.seed });
  updateMeta(bestPath, (meta) => ({ ...meta, postprocess: choice.rules }));
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`post-processing chosen on the validation cases (${s} s; unetpp postprocess reruns it):`);
  console.log(choiceTable(choice, entry.meta.labels));
}

export async function trainVolumesCommand(dataDir: string, opts: Record<string, any>, common: TrainOptions): Promise<void> {
  const wantSoftmax = opts.multiclass !== 'sigmoid';
  const labels = opts.labels ? parseLabelSpec(opts.labels, wantSoftmax) : undefined;
  // volumeNormalize, cropToNonzero, foregroundFraction: from the plan (cli/plan-train.ts)
  const vd = await openVolumes(dataDir, { labels, spacing: opts.spacing, seed: opts.seed, normalize: opts.volumeNormalize, cropToNonzero: opts.cropToNonzero });
  const train = vd.splits.train, val = vd.splits.val;
  if (!train) throw new CliError(`--data ${dataDir}: no training cases (split.csv, imagesTr/ or the file names say which are which)`);
  if (!val) throw new CliError(`--data ${dataDir}: no validation cases; give some in split.csv (split "val")`);
  const softmax = vd.labels.kind === 'classes';
  const model = new SegModel({
    dims: 3, inChannels: vd.dataset.modalities.length, classes: vd.classNames.length, deepSupervision: (opts.arch ?? 'unetpp') === 'unetpp',
    multiclass: softmax ? 'softmax' : 'sigmoid', filters: VOLUME_FILTERS, ...modelConfigFrom(opts),
  });
  if (model.config.dims !== 3) throw new CliError('--dims 2 on a volume dataset: train 2D models on slices with an image dataset, or leave --dims out');
  const patch = (opts.patch as [number, number, number] | undefined) ?? [64, 64, 64];
  const loss = opts.loss ?? (softmax ? 'ce_dice' : 'bce_dice');
  console.log(`training 3D ${model.config.arch} (${model.config.preset}, ${model.config.norm} norm, filters ${model.config.filters.join(',')}, ` +
    `${model.params.count().toLocaleString('en')} params) on ${train.length} train / ${val.length} val volumes from ${dataDir}; ` +
    `modalities ${vd.dataset.modalities.join(', ')}; classes ${vd.classNames.join(', ')}; patch ${patch.join('x')}`);
  const r = await trainVolumes(model, { train, val }, {
    ...common, batchSize: opts.batchSize ?? 2, loss: { kind: loss, bceWeight: opts.bceWeight }, patch, samplesPerEpoch: opts.samplesPerEpoch,
    augment3d: opts.augment === false ? null : DEFAULT_AUGMENT_3D, labels: vd.labels, foregroundFraction: opts.foregroundFraction,
    meta: { ...volumeRunMeta(model.config, volumePipeline(vd), patch, { source: 'train', dataset: dataDir, command: process.argv.slice(1) }),
      ...(opts.datasetPlan ? { plan: opts.datasetPlan } : {}) },
  });
  if (opts.postprocess !== false && existsSync(r.bestPath)) await choosePostprocessAfterTraining(r.bestPath, dataDir, opts);
  console.log(`done: ${r.epochs} epochs (${r.stoppedBy}), best ${opts.monitor} ${r.best?.toFixed(4) ?? '-'} at epoch ${r.bestEpoch}, ` +
    `${r.stepMs.toFixed(0)} ms/step (${r.backend}, ${r.precision}); best model ${r.bestPath}`);
}
