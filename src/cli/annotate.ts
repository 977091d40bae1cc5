// Adds metadata to a checkpoint (the preprocessing predict/eval must repeat), keeping its
// weights and existing metadata; rewritten atomically by saveModel.
import { existsSync } from 'node:fs';
import { loadModelWithMeta, saveModel } from '../io/checkpoint.js';

const RESERVED = new Set(['format', 'version', 'config']);

export async function annotateCheckpoint(path: string, extra: Record<string, string>): Promise<void> {
  if (!existsSync(path)) return; // no epoch improved: nothing was saved
  const { model, metadata } = loadModelWithMeta(path);
  const keep = Object.fromEntries(Object.entries(metadata).filter(([k]) => !RESERVED.has(k)));
  saveModel(path, model, { ...keep, ...extra });
}
