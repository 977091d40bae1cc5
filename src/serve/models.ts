// The models a service serves, by name, and their predictors: one per option set (mode,
// level, tta, tile), created on first use with the service's defaults underneath, so that a
// request gets what `unetpp predict` with the same options computes.
import type { PredictBackend } from '../infer/predict.js';
import { levelOf } from '../models/config.js';
import { PredictorCache, type BackendFor, type PredictorSettings } from '../infer/predictor-cache.js';
import type { ModelEntry } from '../infer/model-entry.js';
import { HttpError } from './errors.js';

export type { PredictorSettings };

export interface ServedModel {
  name: string;
  /** The checkpoint (or weights) and its meta; entry.name is the file name, never a path. */
  entry: ModelEntry;
}

const MAX_PREDICTORS = 32; // per model; each keeps its compiled plans

export class ModelRegistry {
  private readonly byName = new Map<string, ServedModel>();
  /** The one predictor cache of the service (predictInput's). */
  readonly cache: PredictorCache;

  /** defaults: the service's predictor flags (what GET /v1/models reports as the window). */
  constructor(models: ServedModel[], backend: PredictBackend | BackendFor, readonly defaults: PredictorSettings = {}) {
    if (!models.length) throw new Error('serve: no model given');
    for (const m of models) {
      if (this.byName.has(m.name)) throw new Error(`serve: two models are named "${m.name}"`);
      this.byName.set(m.name, m);
    }
    this.cache = new PredictorCache(backend, MAX_PREDICTORS * models.length);
  }

  get names(): string[] { return [...this.byName.keys()]; }

  /** The named model (default: the first); 404 when unknown. */
  get(name?: string): ServedModel {
    const m = this.byName.get(name ?? this.names[0]);
    if (!m) throw new HttpError(404, 'unknown_model', `unknown model "${name}"; served: ${this.names.join(', ')}`);
    return m;
  }

  /** Compiles the plans of micro-batches (1, 2, 4, .. maxBatch images) at each 2D model's recorded
   *  input size with the default options, so that the first requests do not wait for them. Models on
   *  onnxruntime-node are skipped: they have no plans (their session is made on the first request). */
  warm(settings: PredictorSettings, maxBatch: number): string[] {
    const done: string[] = [];
    for (const m of this.byName.values()) {
      const input = m.entry.meta.input;
      if (input.kind !== 'image' || !input.resize) continue;
      const [h, w] = input.resize;
      const c = m.entry.meta.model.inChannels;
      const { predictor } = this.cache.get(m.entry, settings);
      if (predictor.runtime !== 'plan') continue;
      const blank = () => ({ data: new Float32Array(c * h * w), channels: c, sizes: [h, w] });
      for (let n = 1; n <= maxBatch; n *= 2) predictor.predictMany(Array.from({ length: n }, blank));
      done.push(`${m.name} at ${h}x${w}`);
    }
    return done;
  }

  /** GET /v1/models: what each model is and takes (file names only, no paths). */
  describe(settings: PredictorSettings = this.defaults) {
    return [...this.byName.values()].map((m, i) => {
      const { meta, models } = m.entry;
      const c = meta.model;
      const input = meta.input;
      const resolved = this.cache.resolve(m.entry, settings);
      const window = resolved.tile ?? null;
      const backend = this.cache.backendFor(c.dims);
      const levels = c.deepSupervision ? Array.from({ length: levelOf(c) }, (_, k) => k + 1) : [levelOf(c)];
      return {
        name: m.name, default: i === 0, checkpoint: m.entry.name, arch: c.arch, preset: c.preset, dims: c.dims, filters: c.filters,
        params: models[0].params.count(), ...(models.length > 1 ? { members: models.length } : {}),
        inChannels: c.inChannels, classes: c.classes, classNames: meta.classNames, labels: meta.labels,
        deepSupervision: c.deepSupervision, levels, input: input.kind, inputSize: input.kind === 'image' ? input.resize ?? null : null,
        window, tta: !!resolved.tta, normalize: input.normalize,
        ...(input.kind === 'volume' ? { modalities: input.modalities, spacing: input.spacing ?? null } : {}),
        training: meta.training ?? null, backend: backend.name, precision: backend.precision,
      };
    });
  }
}
