// Scores a trained checkpoint on dsb2018's test split at 96x96 (images and masks resized while
// loading, masks nearest; the protocol): per-image IoU and Dice, accurate mode and fast
// mode at every pruning level. Writes a small JSON next to this file.
// Usage: node dist/experiments/dsb-unetpp/score.js CHECKPOINT [OUT.json] [fp32|bf16]  (inference precision)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { loadModel } from '../../src/io/checkpoint.js';
import { loadFolder } from '../../src/data/images/folder.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { scoreSamples } from '../paper-table/scoring.js';

const [ckpt, out = 'experiments/dsb-unetpp/result.json', precision = 'fp32'] = process.argv.slice(2);
if (!ckpt) throw new Error('usage: score.js CHECKPOINT [OUT.json] [fp32|bf16]');
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`precision: fp32 or bf16, got ${precision}`);
const model = loadModel(ckpt);
const { samples } = await loadFolder('../shared/data/dsb2018', { split: 'test', size: { width: 96, height: 96 } });
const backend = getBackend('auto', precision, 'infer');
const rows: Record<string, unknown>[] = [];
rows.push({ mode: 'accurate', params: model.params.count(), ...scoreSamples(model, samples, backend, { mode: 'accurate' }) });
if (model.config.deepSupervision)
  for (let d = 1; d <= model.config.filters.length - 1; d++)
    rows.push({ mode: `fast L${d}`, params: model.prune(d).params.count(), ...scoreSamples(model, samples, backend, { mode: 'fast', level: d }) });
const result = { checkpoint: ckpt, inference_precision: backend.precision, split: 'test', images: samples.length, size: 96, config: model.config, rows,
  machine: `${cpus()[0]?.model} x${cpus().length}`, date: new Date().toISOString() };
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(rows));
