// Our checkpoint format: a safetensors file of the ParamStore (PyTorch names and layouts,
// running statistics included) with the ModelConfig as JSON in the metadata, so that a
// checkpoint alone rebuilds the model. Written atomically.
import { SegModel } from '../models/model.js';
import { makeConfig, type ModelConfig } from '../models/config.js';
import { readSafetensors, writeSafetensors, type TensorIn } from './safetensors.js';
import { modelFromTensors } from './params-match.js';

export const CHECKPOINT_FORMAT = 'unetpp-checkpoint';
export const CHECKPOINT_VERSION = '1';

/** Saves params + config; `extraMeta` (epoch, metrics, ...) is stored as strings alongside. */
export function saveModel(path: string, model: SegModel, extraMeta: Record<string, string> = {}): void {
  const tensors: Record<string, TensorIn> = {};
  for (const name of model.params.names()) {
    const p = model.params.get(name);
    tensors[name] = { dtype: 'F32', shape: [...p.shape], data: p.data };
  }
  for (const k of ['format', 'version', 'config']) if (k in extraMeta) throw new Error(`saveModel: metadata key '${k}' is reserved`);
  writeSafetensors(path, tensors, { ...extraMeta, format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, config: JSON.stringify(model.config) });
}

/** The config and metadata of a checkpoint without building the model. */
export function readCheckpointMeta(path: string): { config: ModelConfig; metadata: Record<string, string> } {
  const { metadata } = readSafetensors(path);
  return { config: parseConfig(path, metadata), metadata };
}

function parseConfig(path: string, metadata: Record<string, string>): ModelConfig {
  if (!metadata.config) {
    const hint = metadata.arch ? ' (it looks like a PyTorch state_dict: use importPyTorch / `--pytorch`)' : '';
    throw new Error(`${path}: not a unetpp checkpoint, no 'config' in the metadata${hint}`);
  }
  let raw: unknown;
  try { raw = JSON.parse(metadata.config); } catch (e) { throw new Error(`${path}: bad config JSON in the metadata (${(e as Error).message})`); }
  try { return makeConfig(raw as Partial<ModelConfig>); } catch (e) { throw new Error(`${path}: ${(e as Error).message}`); }
}

/** Loads a checkpoint written by saveModel; errors name the file and any missing/extra/mis-shaped tensor. */
export function loadModel(path: string): SegModel {
  return loadModelWithMeta(path).model;
}

/** Load with its metadata (epoch, metrics, ... written as extraMeta). */
export function loadModelWithMeta(path: string): { model: SegModel; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  return { model: modelFromTensors(parseConfig(path, metadata), tensors, path), metadata };
}
