// A worker's side of a prediction job: the checkpoint (loaded once per worker), the masks
// written atomically by predictImageFile/predictVolume, and nothing done when they exist.
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Backend } from '../engine/backend.js';
import { loadModelSource, type LoadedModel } from '../cli/model-source.js';
import { createPredictor, type Predictor } from '../infer/predict.js';
import { maskPathsFor, predictImageFile, predictVolume, type FilePredictOptions } from '../infer/files.js';
import type { PredictJob, PredictResult } from './jobs.js';

const isNifti = (p: string) => /\.nii(\.gz)?$/i.test(p);

export class PredictJobRunner {
  private models = new Map<string, LoadedModel>();
  private predictors = new Map<string, Predictor>();
  readonly worker = `${hostname()}:${process.pid}`;

  constructor(private readonly backend: Backend) {}

  private model(path: string): { src: LoadedModel; key: string } {
    const key = `${path}@${statSync(path).mtimeMs}`; // a retrained checkpoint is reloaded
    let src = this.models.get(key);
    if (!src) { src = loadModelSource({ model: path }); this.models.set(key, src); }
    return { src, key };
  }

  async run(job: PredictJob): Promise<PredictResult> {
    const t0 = performance.now();
    if (!existsSync(job.checkpoint)) throw new Error(`checkpoint ${job.checkpoint}: no such file on this worker`);
    if (!existsSync(job.input)) throw new Error(`${job.input}: no such file on this worker`);
    const { src, key: modelKey } = this.model(job.checkpoint);
    const opts: FilePredictOptions = {
      normalize: job.normalize ?? src.normalize, resize: job.resize, threshold: job.threshold,
      overlay: job.overlay, probabilities: job.probabilities, classNames: src.classNames,
    };
    const expected = maskPathsFor(job.input, job.outDir, src.model.config.classes, opts);
    if (expected.every((p) => existsSync(p))) return { status: 'skipped', outputs: expected, ms: performance.now() - t0, worker: this.worker };
    const key = `${modelKey}|${JSON.stringify(job.predictor, Object.keys(job.predictor).sort())}`;
    let predictor = this.predictors.get(key);
    if (!predictor) { predictor = createPredictor(src.model, { backend: this.backend, ...job.predictor }); this.predictors.set(key, predictor); }
    const r = isNifti(job.input) ? await predictVolume(predictor, [job.input], job.outDir, opts) : await predictImageFile(predictor, job.input, job.outDir, opts);
    return { status: 'predicted', outputs: r.outputs, ms: performance.now() - t0, worker: this.worker };
  }
}
