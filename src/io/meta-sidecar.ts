// Metadata for weights that carry none of ours (PyTorch state_dicts): a JSON sidecar holding a
// partial CheckpointMeta (input, labels, classNames, window, postprocess, plan), completed from
// the model config and checked as a checkpoint's meta is.
import { readFileSync } from 'node:fs';
import type { ModelConfig } from '../models/config.js';
import type { CheckpointMeta } from './checkpoint-meta.js';
import { completeMeta } from './meta-defaults.js';
import { validateMeta } from './meta-validate.js';

/** The fields a sidecar may give; the rest (version, model, provenance, training) are ours. */
export const SIDECAR_FIELDS = ['input', 'labels', 'classNames', 'window', 'postprocess', 'tta', 'plan'] as const;
export type PartialMeta = Partial<Pick<CheckpointMeta, (typeof SIDECAR_FIELDS)[number]>>;

/** Reads a sidecar file; unknown keys are an error (a typo would silently fall back to a default). */
export function readMetaSidecar(path: string): PartialMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(`${path}: ${missing ? 'no such file' : `not valid JSON (${(e as Error).message})`}`);
  }
  const fields = SIDECAR_FIELDS.join(', ');
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path}: expected a JSON object with some of ${fields}`);
  for (const k of Object.keys(raw)) {
    if (!(SIDECAR_FIELDS as readonly string[]).includes(k)) throw new Error(`${path}: metadata field ${k}: unknown here (a sidecar gives ${fields})`);
  }
  return raw as PartialMeta;
}

/** The full meta of imported weights: the given fields (sidecar, then flags) over the derived ones. */
export function importedMeta(cfg: ModelConfig, given: PartialMeta, where: string): CheckpointMeta {
  return validateMeta(completeMeta(cfg, given, 'pytorch'), where);
}
