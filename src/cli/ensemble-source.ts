// The models of a cross-validation folder (unetpp cv -o DIR): DIR/fold<k>/best.safetensors
// for every fold of DIR/folds.json, as one ensemble entry (the first fold's meta).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkpointEntry, ensembleEntry, type ModelEntry } from '../infer/model-entry.js';
import { CliError } from './common.js';

export function loadEnsembleSource(opts: { ensemble?: string; model?: string; pytorch?: string }): ModelEntry {
  const cvDir = opts.ensemble!;
  if (opts.model || opts.pytorch) throw new CliError('give either --ensemble <cv_dir> or a model (--model/--pytorch), not both');
  const foldsFile = join(cvDir, 'folds.json');
  if (!existsSync(foldsFile)) throw new CliError(`--ensemble ${cvDir}: no folds.json (not a folder written by unetpp cv)`);
  const k = (JSON.parse(readFileSync(foldsFile, 'utf8')) as { folds: string[][] }).folds.length;
  const paths = Array.from({ length: k }, (_, i) => join(cvDir, `fold${i}`, 'best.safetensors'));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length) throw new CliError(`--ensemble ${cvDir}: fold(s) not trained yet: ${missing.join(', ')} missing`);
  const folds = paths.map((p, i) => ({ ...checkpointEntry(p), name: `${basename(cvDir)}/fold${i}` }));
  return ensembleEntry(folds, basename(cvDir));
}
