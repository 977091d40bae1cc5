// Our checkpoint format: a safetensors file of the ParamStore (PyTorch names and layouts,
// running statistics included) whose metadata holds the CheckpointMeta as one JSON document
// (key "unetpp") beside "format", so that a checkpoint alone rebuilds the model and says how to
// run it. Other string keys (extra) are kept as given (the training state of last.safetensors).
// Written atomically; version 1 files are read through upgradeV1.
import { SegModel } from '../models/model.js';
import { readSafetensors, writeSafetensors, type TensorIn } from './safetensors.js';
import { modelFromTensors } from './params-match.js';
import { META_KEY, META_VERSION, type CheckpointMeta } from './checkpoint-meta.js';
import { validateMeta } from './meta-validate.js';
import { upgradeV1, V1_KEYS } from './checkpoint-v1.js';

export { upgradeV1 };
export const CHECKPOINT_FORMAT = 'unetpp-checkpoint';

const RESERVED = ['format', META_KEY, 'version', 'config'];

/** Writes params and meta (meta.model is the model's config, whatever the meta held); `extra` strings alongside. */
export function saveModel(path: string, model: SegModel, meta: CheckpointMeta, extra: Record<string, string> = {}): void {
  for (const k of RESERVED) if (k in extra) throw new Error(`saveModel: metadata key '${k}' is reserved`);
  const full = validateMeta({ ...meta, version: META_VERSION, model: model.config }, `saveModel ${path}`);
  const tensors: Record<string, TensorIn> = {};
  for (const name of model.params.names()) {
    const p = model.params.get(name);
    tensors[name] = { dtype: 'F32', shape: [...p.shape], data: p.data };
  }
  writeSafetensors(path, tensors, { ...extra, format: CHECKPOINT_FORMAT, [META_KEY]: JSON.stringify(full) });
}

/** The meta (checked) and the other metadata keys of a file's safetensors metadata. */
function metaOf(path: string, metadata: Record<string, string>): { meta: CheckpointMeta; extra: Record<string, string> } {
  if (metadata[META_KEY] === undefined) {
    if (metadata.config !== undefined) {
      const extra = Object.fromEntries(Object.entries(metadata).filter(([k]) => !V1_KEYS.includes(k)));
      return { meta: upgradeV1(metadata, path), extra };
    }
    const hint = metadata.arch || metadata.filters ? ' (it looks like a PyTorch state_dict: use importPyTorch / `--pytorch`)' : '';
    throw new Error(`${path}: not a unetpp checkpoint, no "${META_KEY}" metadata${hint}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(metadata[META_KEY]);
  } catch (e) {
    throw new Error(`${path}: metadata "${META_KEY}" is not valid JSON (${(e as Error).message})`);
  }
  const extra = Object.fromEntries(Object.entries(metadata).filter(([k]) => !RESERVED.includes(k)));
  return { meta: validateMeta(raw, path), extra };
}

/** The meta and extra metadata of a checkpoint without building the model. */
export function readCheckpointMeta(path: string): { meta: CheckpointMeta; extra: Record<string, string> } {
  return metaOf(path, readSafetensors(path).metadata);
}

/** Loads a checkpoint written by saveModel; errors name the file and any missing/extra/mis-shaped tensor. */
export function loadModel(path: string): SegModel {
  return loadModelWithMeta(path).model;
}

/** The model, its meta (validated; version 1 files upgraded) and the extra metadata keys. */
export function loadModelWithMeta(path: string): { model: SegModel; meta: CheckpointMeta; extra: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  const { meta, extra } = metaOf(path, metadata);
  return { model: modelFromTensors(meta.model, tensors, path), meta, extra };
}

/** Rewrites a checkpoint's meta (weights and extra keys kept), atomically. */
export function updateMeta(path: string, change: (meta: CheckpointMeta) => CheckpointMeta): void {
  const { model, meta, extra } = loadModelWithMeta(path);
  saveModel(path, model, change(meta), extra);
}
