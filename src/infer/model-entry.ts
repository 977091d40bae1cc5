// What predicts: a model (or the members of a fold ensemble) with the meta that says how to
// run it. Front doors load entries once and hand them to predictInput with a PredictorCache.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { SegModel } from '../models/model.js';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import { loadModelWithMeta } from '../io/checkpoint.js';
import { importPyTorch } from '../io/pytorch.js';
import { readMetaSidecar, importedMeta, type PartialMeta } from '../io/meta-sidecar.js';
import { parseLabelSpec } from '../data/volumes/volume-dataset.js';
import { CliError } from '../util/usage-error.js';

export interface ModelEntry {
  /** For messages and responses: a file name, never a folder path. */
  name: string;
  /** Its identity in a PredictorCache (a path, with the file's mtime where files can change). */
  key: string;
  /** One model, or an ensemble's members (their probabilities are averaged). */
  models: SegModel[];
  meta: CheckpointMeta;
}

/** An entry from a checkpoint file, keyed by its path. */
export function checkpointEntry(path: string): ModelEntry {
  const { model, meta } = loadModelWithMeta(path);
  return { name: basename(path), key: path, models: [model], meta };
}

/**
 * Several entries as one ensemble (the first one's meta, without post-processing: rules chosen
 * on one model's validation predictions are not the ensemble's); members must agree on inputs
 * and outputs.
 */
export function ensembleEntry(members: ModelEntry[], name: string): ModelEntry {
  if (!members.length) throw new Error('ensemble: no models');
  const c0 = members[0].meta.model;
  members.forEach((m, i) => {
    const c = m.meta.model;
    const what = (x: typeof c) => `${x.dims}D, ${x.inChannels} channel(s) to ${x.classes} class(es) (${x.multiclass})`;
    if (what(c) !== what(c0)) throw new Error(`ensemble: model ${i} (${m.name}) is ${what(c)}; ${members[0].name} ${what(c0)}`);
  });
  const { postprocess: _, ...meta } = members[0].meta;
  return { name, key: members.map((m) => m.key).join('+'), models: members.flatMap((m) => m.models), meta };
}

export interface PyTorchMetaFlags { meta?: string; labels?: string; classNames?: string }

/** PyTorch weights with their meta: the sidecar, then the flags, over the defaults. */
export function pyTorchEntry(path: string, o: PyTorchMetaFlags, name = basename(path)): ModelEntry {
  if (!existsSync(path)) throw new CliError(`--pytorch ${path}: no such file`);
  const model = importPyTorch(path);
  const cfg = model.config;
  const given: PartialMeta = o.meta ? readMetaSidecar(o.meta) : {};
  try {
    if (o.labels) given.labels = parseLabelSpec(o.labels, cfg.classes > 1 && cfg.multiclass === 'softmax');
  } catch (e) { throw new CliError((e as Error).message); }
  if (o.classNames) given.classNames = o.classNames.split(',').map((s) => s.trim());
  const where = o.meta ? `--meta ${o.meta}` : `--pytorch ${path}`;
  return { name, key: path, models: [model], meta: importedMeta(cfg, given, where) };
}
