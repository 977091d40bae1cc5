// A worker's side of a prediction job: the checkpoint (loaded once per worker, again when the
// file changes), the input through the one prediction entry, the outputs written as `unetpp
// predict` writes them (atomically), and nothing done when they exist already.
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Backend } from '../engine/backend.js';
import { checkpointEntry, type ModelEntry } from '../infer/model-entry.js';
import { PredictorCache, type BackendFor } from '../infer/predictor-cache.js';
import { inputFromPaths, predictInput } from '../infer/predict-input.js';
import { maskPaths, outputStem, writePrediction } from '../infer/write-prediction.js';
import type { PredictJob, PredictResult } from './jobs.js';

export class PredictJobRunner {
  private entries = new Map<string, ModelEntry>();
  private readonly cache: PredictorCache;
  readonly worker = `${hostname()}:${process.pid}`;

  constructor(backend: Backend | BackendFor) {
    this.cache = new PredictorCache(backend);
  }

  private entry(path: string): ModelEntry {
    const key = `${path}@${statSync(path).mtimeMs}`; // a retrained checkpoint is loaded again
    let e = this.entries.get(key);
    if (!e) { e = { ...checkpointEntry(path), key }; this.entries.set(key, e); }
    return e;
  }

  async run(job: PredictJob): Promise<PredictResult> {
    const t0 = performance.now();
    if (!existsSync(job.checkpoint)) throw new Error(`checkpoint ${job.checkpoint}: no such file on this worker`);
    if (!existsSync(job.input)) throw new Error(`${job.input}: no such file on this worker`);
    const entry = this.entry(job.checkpoint);
    const expected = maskPaths(job.input, job.outDir, entry.meta);
    const done = (status: PredictResult['status'], outputs: string[]): PredictResult =>
      ({ status, outputs, ms: performance.now() - t0, worker: this.worker });
    if (expected.every((p) => existsSync(p))) return done('skipped', expected);
    const p = await predictInput(entry, this.cache, inputFromPaths([job.input]), {
      settings: job.predictor, threshold: job.threshold, normalize: job.normalize, resize: job.resize, encode: false, // writePrediction encodes
    });
    const stem = outputStem(job.input, entry.meta.model.dims);
    const extras = { overlay: job.overlay, probabilities: job.probabilities };
    return done('predicted', await writePrediction(p, job.outDir, stem, entry.meta, extras));
  }
}
