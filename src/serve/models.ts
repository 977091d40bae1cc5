// The models a service serves, by name, and their predictors: one per option set (mode,
// level, tta, tile), created on first use with the service's defaults underneath, so that a
// request gets what `unetpp predict` with the same options computes.
import type { Backend } from '../engine/backend.js';
import type { SegModel } from '../models/model.js';
import { levelOf } from '../models/config.js';
import type { Normalize } from '../data/transforms.js';
import { createPredictor, type Predictor, type PredictorOptions } from '../infer/predict.js';
import { HttpError } from './errors.js';

export interface ServedModel {
  name: string;
  path: string;
  model: SegModel;
  normalize?: Normalize;
  classNames?: string[];
  inputSize?: [number, number];
}

export type PredictorSettings = Omit<PredictorOptions, 'backend'>;

const MAX_PREDICTORS = 32; // per model; each keeps its compiled plans

export class ModelRegistry {
  private readonly byName = new Map<string, ServedModel>();
  private readonly predictors = new Map<string, Map<string, Predictor>>();

  constructor(models: ServedModel[], readonly backend: Backend) {
    if (!models.length) throw new Error('serve: no model given');
    for (const m of models) {
      if (this.byName.has(m.name)) throw new Error(`serve: two models are named "${m.name}"`);
      this.byName.set(m.name, m);
      this.predictors.set(m.name, new Map());
    }
  }

  get names(): string[] { return [...this.byName.keys()]; }

  /** The named model (default: the first); 404 when unknown. */
  get(name?: string): ServedModel {
    const m = this.byName.get(name ?? this.names[0]);
    if (!m) throw new HttpError(404, 'unknown_model', `unknown model "${name}"; served: ${this.names.join(', ')}`);
    return m;
  }

  predictor(m: ServedModel, settings: PredictorSettings): { predictor: Predictor; key: string } {
    const key = JSON.stringify(settings, Object.keys(settings).sort());
    const cache = this.predictors.get(m.name)!;
    let p = cache.get(key);
    if (!p) {
      try {
        p = createPredictor(m.model, { backend: this.backend, ...settings });
      } catch (e) {
        throw new HttpError(400, 'bad_request', (e as Error).message);
      }
      if (cache.size >= MAX_PREDICTORS) cache.delete(cache.keys().next().value!);
      cache.set(key, p);
    }
    return { predictor: p, key };
  }

  /** Compiles the plans of micro-batches (1, 2, 4, .. maxBatch images) at each model's recorded
   *  input size with the default options, so that the first requests do not wait for them. */
  warm(settings: PredictorSettings, maxBatch: number): string[] {
    const done: string[] = [];
    for (const m of this.byName.values()) {
      if (!m.inputSize) continue;
      const [h, w] = m.inputSize;
      const c = m.model.config.inChannels;
      const { predictor } = this.predictor(m, settings);
      for (let n = 1; n <= maxBatch; n *= 2) predictor.predictMany(Array.from({ length: n }, () => ({ data: new Float32Array(c * h * w), channels: c, height: h, width: w })));
      done.push(`${m.name} at ${h}x${w}`);
    }
    return done;
  }

  describe() {
    return [...this.byName.values()].map((m, i) => {
      const c = m.model.config;
      return {
        name: m.name, default: i === 0, checkpoint: m.path, arch: c.arch, preset: c.preset, filters: c.filters,
        params: m.model.params.count(), inChannels: c.inChannels, classes: c.classes,
        classNames: m.classNames ?? (c.classes === 1 ? ['foreground'] : Array.from({ length: c.classes }, (_, k) => `class${k}`)),
        deepSupervision: c.deepSupervision, levels: c.deepSupervision ? Array.from({ length: levelOf(c) }, (_, k) => k + 1) : [levelOf(c)],
        inputSize: m.inputSize ?? null, normalize: m.normalize ?? null,
        backend: this.backend.name, precision: this.backend.precision,
      };
    });
  }
}
