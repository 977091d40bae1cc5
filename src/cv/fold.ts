// One fold of a cross-validation: train on the other folds, validate (early stopping, best
// checkpoint) on this one, write CV_DIR/fold<k>/result.json. A fold resumes from its
// last.safetensors (the trainer's exact resume) and a finished fold returns its result.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanFolder, loadSamples, type LoadOptions } from '../data/images/folder.js';
import { SegModel } from '../models/model.js';
import type { ModelConfig } from '../models/config.js';
import { train } from '../train/trainer.js';
import type { TrainOptions } from '../train/options.js';
import { DEFAULT_AUGMENT } from '../data/augmentation/augment.js';
import { writeFileAtomic } from '../data/atomic.js';
import { imageRunMeta } from '../train/run-meta.js';
import { readFolds } from './folds.js';

/** A fold as a queue job carries it (JSON). */
export interface FoldSpec {
  cvDir: string;
  fold: number;
  model: Partial<ModelConfig>;
  load: Pick<LoadOptions, 'size' | 'channels'>;
  train: Pick<TrainOptions, 'epochs' | 'batchSize' | 'patience' | 'seed' | 'timeLimitSeconds'> & { lr: number; augment: boolean; normalize: 'none' | 'zscore' | 'minmax' };
}

export interface FoldResult {
  fold: number;
  train: number;
  val: number;
  epochs: number;
  bestEpoch: number;
  /** The held-out fold's metrics at the best epoch. */
  metrics: { iou: number; dice: number; valLoss: number };
  checkpoint: string;
}

export const foldDir = (cvDir: string, k: number) => join(cvDir, `fold${k}`);

export async function runFold(spec: FoldSpec, env: { log?: (s: string) => void; backend?: TrainOptions['backend']; precision?: TrainOptions['precision'] } = {}): Promise<FoldResult> {
  const out = foldDir(spec.cvDir, spec.fold);
  const resultPath = join(out, 'result.json');
  if (existsSync(resultPath)) return JSON.parse(await readFile(resultPath, 'utf8')) as FoldResult;
  const folds = await readFolds(spec.cvDir);
  if (!(spec.fold >= 0 && spec.fold < folds.folds.length)) throw new Error(`fold ${spec.fold}: ${spec.cvDir} has folds 0..${folds.folds.length - 1}`);
  const ds = await scanFolder(folds.data, { splitFractions: [1, 0, 0] });
  const held = new Set(folds.folds[spec.fold]);
  const inFolds = new Set(folds.folds.flat());
  const load = { ...spec.load, seed: spec.train.seed };
  const val = await loadSamples(ds.samples.filter((s) => held.has(s.id)), load);
  const trainSet = await loadSamples(ds.samples.filter((s) => inFolds.has(s.id) && !held.has(s.id)), load);
  const model = new SegModel({ inChannels: trainSet[0].image.channels, classes: ds.classes.length, deepSupervision: true, ...spec.model });
  const resume = existsSync(join(out, 'last.safetensors'));
  env.log?.(`${resume ? 'resuming' : 'training'} on ${trainSet.length} images, validating on ${val.length} (fold ${spec.fold} of ${folds.folds.length})`);
  const t = spec.train;
  const size = spec.load.size;
  const meta = imageRunMeta(model.config, {
    source: 'cv', dataset: folds.data, normalize: { kind: t.normalize }, resize: size && [size.height, size.width], classNames: ds.classes,
  });
  const r = await train(model, { train: trainSet, val }, {
    outDir: out, epochs: t.epochs, batchSize: t.batchSize, patience: t.patience, seed: t.seed, timeLimitSeconds: t.timeLimitSeconds,
    optimizer: { kind: 'adam', lr: t.lr }, augment: t.augment ? DEFAULT_AUGMENT : null, normalize: { kind: t.normalize },
    backend: env.backend, precision: env.precision, resume, progress: false, plot: false, log: env.log, meta,
  });
  const best = r.history.find((h) => h.epoch === r.bestEpoch) ?? r.history[r.history.length - 1];
  const result: FoldResult = {
    fold: spec.fold, train: trainSet.length, val: val.length, epochs: r.epochs, bestEpoch: r.bestEpoch,
    metrics: { iou: best.iou, dice: best.dice, valLoss: best.valLoss }, checkpoint: r.bestPath,
  };
  await writeFileAtomic(resultPath, JSON.stringify(result, null, 1) + '\n');
  return result;
}
