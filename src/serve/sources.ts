// Where a served model comes from (a checkpoint, or PyTorch weights with their meta flags), as
// plain data: the service's worker threads load their own copies from it, as the CLI does.
import { existsSync } from 'node:fs';
import { checkpointEntry } from '../infer/model-entry.js';
import { pyTorchEntry, type PyTorchMetaFlags } from '../infer/model-entry.js';
import { CliError } from '../util/usage-error.js';
import type { ServedModel } from './models.js';

export type ModelSource =
  | { name: string; kind: 'checkpoint'; path: string }
  | { name: string; kind: 'pytorch'; path: string; flags: PyTorchMetaFlags };

/** Loads each source as a served model (its entry keyed by its path, as in every thread). */
export function loadSources(sources: ModelSource[]): ServedModel[] {
  return sources.map((s) => {
    if (s.kind === 'pytorch') return { name: s.name, entry: pyTorchEntry(s.path, s.flags) };
    if (!existsSync(s.path)) throw new CliError(`--model ${s.path}: no such file`);
    return { name: s.name, entry: checkpointEntry(s.path) };
  });
}
