// A worker thread of the service's pool: loads the served models from their sources, then runs
// the jobs the main thread posts through runPredictJob (predictInput, the one prediction entry),
// micro-batching the network runs of the jobs it holds. Timeouts are the main thread's: each job
// comes with a flag in shared memory that the main thread sets when the job overstays (or its
// client hangs up); a job not started is then dropped, a running one stops at its next layer or
// window (the engine checks the flag; this thread's event loop does not turn during a run), and
// the thread takes the next job. Only a thread that does not stop in time is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { loadSources, type ModelSource } from './sources.js';
import { predictBackendsByDims, type PredictBackendName } from '../infer/predict-backend.js';
import type { Precision } from '../engine/backend.js';
import { tryLoadAddon } from '../engine/backends/native/addon.js';
import { ModelRegistry, type PredictorSettings } from './models.js';
import { MicroBatcher } from './batcher.js';
import { PlanCache } from './lru.js';
import { HttpError } from './errors.js';
import { runPredictJob, type JobResult, type PredictJob } from './predict-job.js';
import { SharedStop } from '../util/stop.js';

export interface PoolWorkerData {
  sources: ModelSource[];
  backend: PredictBackendName;
  precision: Precision;
  /** Engine threads of this worker (the service's share). */
  threads: number;
  defaults: PredictorSettings;
  maxBatch: number;
  maxWaitMs: number;
  /** Compile the batch plans at the checkpoints' recorded size before taking jobs. */
  warm: boolean;
  planCacheBytes: number;
}

/** stop: the job's flag (4 bytes, shared), set by the main thread to stop it. */
export type ToWorker =
  | { type: 'job'; id: number; job: PredictJob; stop: SharedArrayBuffer }
  | { type: 'cancel'; id: number };
export type WorkerError = { status: number; kind: string; message: string; retryAfterSeconds?: number; stack?: string };
export type FromWorker =
  | { type: 'ready'; warmed: string[]; ms: number }
  | { type: 'done'; id: number; result: JobResult }
  | { type: 'failed'; id: number; error: WorkerError }
  | { type: 'batch'; size: number; seconds: number; planBytes: number }
  /** These jobs' network runs started (until then a job only waits here: a timeout drops it, the thread lives). */
  | { type: 'running'; ids: number[] };

const d = workerData as PoolWorkerData;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

const t0 = performance.now();
const backendFor = await predictBackendsByDims(d.backend, d.precision);
const models = new ModelRegistry(loadSources(d.sources), backendFor, d.defaults);
// this thread's share of the cores (libgomp keeps the count per thread)
if (models.describe().some((m) => m.backend === 'native')) tryLoadAddon().addon?.setThreads(d.threads);
const plans = new PlanCache(d.planCacheBytes);
models.cache.watcher = plans;
const jobOf = new WeakMap<object, number>(); // network input -> job id
const batcher = new MicroBatcher({
  onRun: (inputs) => post({ type: 'running', ids: [...new Set(inputs.map((i) => jobOf.get(i as object)!))] }),
  maxBatch: d.maxBatch, maxWaitMs: d.maxWaitMs, maxQueue: Number.MAX_SAFE_INTEGER, timeoutMs: 2 ** 31 - 1,
  onBatch: (size, seconds) => {
    plans.trim();
    post({ type: 'batch', size, seconds, planBytes: plans.heldBytes });
  },
});
const warmed = d.warm ? models.warm(d.defaults, d.maxBatch) : [];

const running = new Map<number, AbortController>();
port.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') { running.get(m.id)?.abort(); return; }
  const gone = new AbortController();
  running.set(m.id, gone);
  const arrived = batcher.expect();
  const stop = new SharedStop(m.stop, new HttpError(504, 'timeout', 'stopped by the main thread'));
  runPredictJob(models, batcher, m.job, m.id, gone.signal, arrived, (input) => jobOf.set(input, m.id), stop).then(
    (result) => post({ type: 'done', id: m.id, result }),
    (e: Error) => post({ type: 'failed', id: m.id, error: errorOf(e) }),
  ).finally(() => { arrived(); running.delete(m.id); });
});
post({ type: 'ready', warmed, ms: performance.now() - t0 });

function errorOf(e: Error): WorkerError {
  if (e instanceof HttpError) return { status: e.status, kind: e.kind, message: e.message, retryAfterSeconds: e.retryAfterSeconds };
  return { status: 500, kind: 'internal', message: e?.message ?? String(e), stack: e?.stack };
}
