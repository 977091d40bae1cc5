// One predictor per (model entry, option set), created on first use and kept (with its compiled
// plans) for the inputs that follow: what the CLI, the service and the queue worker share. The
// default window is the meta's (a 3D model's training patch) unless a tile is asked for, and its flips
// (tta) unless tta is.
import { createPredictor, type PredictBackend, type Predictor, type PredictorOptions } from './predict.js';
import { createEnsemble } from './ensemble.js';
import type { ModelEntry } from './model-entry.js';

export type PredictorSettings = Omit<PredictorOptions, 'backend'>;
/** The backend for a model's rank (the native backend's activation layout differs for volumes), or
 *  onnxruntime-node for every rank. */
export type BackendFor = (dims: 2 | 3) => PredictBackend;

/** A bad predictor option (tile, head, level...): the caller's mistake, not a failure. */
export class PredictorOptionError extends Error {}

/** The settings a prediction runs with: the meta's window when no tile is given, its flips when tta is not. */
export function settingsFor(entry: ModelEntry, settings: PredictorSettings): PredictorSettings {
  const s = settings.tile === undefined && entry.meta.window ? { ...settings, tile: entry.meta.window } : settings;
  return s.tta === undefined && entry.meta.tta !== undefined ? { ...s, tta: entry.meta.tta } : s;
}

export class PredictorCache {
  private readonly byKey = new Map<string, Predictor>();

  readonly backendFor: (dims: 2 | 3) => PredictBackend;
  /** Told of every use and eviction (a service bounds the plans all predictors hold together). */
  watcher?: { use(key: string, p: Predictor): void; forget(key: string): void };

  /** One backend, or one per rank; max: predictors kept (each holds its plans), the oldest goes first. */
  constructor(backend: PredictBackend | BackendFor, readonly max = 32) {
    this.backendFor = typeof backend === 'function' ? backend : () => backend;
  }

  /** The settings a prediction runs with (settingsFor). */
  resolve(entry: ModelEntry, settings: PredictorSettings): PredictorSettings {
    return settingsFor(entry, settings);
  }

  get(entry: ModelEntry, settings: PredictorSettings): { predictor: Predictor; key: string } {
    const s = this.resolve(entry, settings);
    const { onTiling: _, ...keyed } = s;
    const key = `${entry.key}|${JSON.stringify(keyed, Object.keys(keyed).sort())}`;
    let p = this.byKey.get(key);
    if (!p) {
      let made: Predictor[];
      try {
        const backend = this.backendFor(entry.meta.model.dims);
        made = entry.models.map((m) => createPredictor(m, { backend, ...s }));
      } catch (e) {
        throw new PredictorOptionError((e as Error).message);
      }
      p = made.length === 1 ? made[0] : createEnsemble(made);
      if (this.byKey.size >= this.max) {
        const old = this.byKey.keys().next().value!;
        this.watcher?.forget(old);
        this.byKey.delete(old);
      }
      this.byKey.set(key, p);
    }
    this.watcher?.use(key, p);
    return { predictor: p, key };
  }
}
