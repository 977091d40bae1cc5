// A worker's side of a prediction job: every path confined to the worker's roots, the
// checkpoint (loaded once per worker and content, checked against the hash the job was
// submitted with), the input through the one prediction entry, the outputs written as
// `unetpp predict` writes them (atomically), then the job's record; nothing is done when a
// record shows outputs that match the job. With a job timeout, the prediction checks its
// deadline between layers and windows (this thread is busy meanwhile: no timer could fire) and
// stops there; the job fails and its retries follow.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { PredictBackend } from '../infer/predict.js';
import { checkpointEntry, type ModelEntry } from '../infer/model-entry.js';
import { PredictorCache, type BackendFor } from '../infer/predictor-cache.js';
import { inputFromPaths, predictInput } from '../infer/predict-input.js';
import { outputStem, writePrediction } from '../infer/write-prediction.js';
import { confine } from './roots.js';
import { deadlineStop } from '../util/stop.js';
import { doneRecord, fileSha256, fingerprint, writeRecord } from './sidecar.js';
import type { PredictJob, PredictResult } from './jobs.js';

export class PredictJobRunner {
  private entries = new Map<string, ModelEntry>(); // by the checkpoint's SHA-256
  private readonly cache: PredictorCache;
  readonly worker = `${hostname()}:${process.pid}`;

  constructor(backend: PredictBackend | BackendFor, private readonly roots: string[], private readonly timeoutMs?: number) {
    this.cache = new PredictorCache(backend);
  }

  private entry(path: string, sha: string): ModelEntry {
    let e = this.entries.get(sha);
    if (!e) { e = { ...checkpointEntry(path), key: `${path}@${sha}` }; this.entries.set(sha, e); }
    return e;
  }

  async run(asked: PredictJob, jobId?: string): Promise<PredictResult> {
    const t0 = performance.now();
    const input = confine(asked.input, this.roots, 'input');
    const outDir = confine(asked.outDir, this.roots, 'outDir');
    const checkpoint = confine(asked.checkpoint, this.roots, 'checkpoint');
    if (!existsSync(checkpoint)) throw new Error(`checkpoint ${asked.checkpoint}: no such file on this worker`);
    if (!existsSync(input)) throw new Error(`${asked.input}: no such file on this worker`);
    const sha = fileSha256(checkpoint);
    if (asked.checkpointSha256 && asked.checkpointSha256 !== sha)
      throw new Error(`checkpoint ${asked.checkpoint} changed since the job was submitted (SHA-256 ${sha.slice(0, 12)}, ` +
        `submitted ${asked.checkpointSha256.slice(0, 12)}): submit again`);
    const done = (status: PredictResult['status'], outputs: string[]): PredictResult =>
      ({ status, outputs, ms: performance.now() - t0, worker: this.worker });
    const fp = fingerprint(asked, sha, input);
    const record = doneRecord(input, outDir, fp);
    // a record of this very job: an earlier attempt did it (its lock expired, or Redis lost it)
    if (record) {
      const outputs = record.outputs.map((o) => join(outDir, o.path));
      return done(jobId && record.job === jobId ? 'predicted' : 'skipped', outputs);
    }
    const entry = this.entry(checkpoint, sha);
    const ms = this.timeoutMs;
    const late = new Error(`${asked.input}: the prediction did not finish within ${ms} ms (worker --job-timeout); ` +
      'it was stopped');
    const p = await predictInput(entry, this.cache, inputFromPaths([input]), {
      settings: asked.predictor, threshold: asked.threshold, normalize: asked.normalize, resize: asked.resize,
      encode: false, // writePrediction encodes
      signal: ms === undefined ? undefined : deadlineStop(t0 + ms, late),
    });
    const stem = outputStem(input, entry.meta.model.dims);
    const extras = { overlay: asked.overlay, probabilities: asked.probabilities };
    const outputs = await writePrediction(p, outDir, stem, entry.meta, extras);
    await writeRecord(input, outDir, fp, outputs, jobId);
    return done('predicted', outputs);
  }
}
