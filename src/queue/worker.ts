// A queue worker: BullMQ workers on the prediction and cross-validation queues, in one
// process. A job whose worker dies (kill -9) keeps its lock until lockDuration passes; then
// any worker's stalled-job check puts it back in the queue and another worker takes it.
import type { Job, Worker } from 'bullmq';
import type { PredictBackend } from '../infer/predict.js';
import type { BackendFor } from '../infer/predictor-cache.js';
import { CV_QUEUE, PREDICT_QUEUE, queueModules, redisConnection } from './connection.js';
import { PredictJobRunner } from './predict-job.js';
import { confine } from './roots.js';
import type { PredictJob, PredictResult } from './jobs.js';
import { runFold, type FoldSpec, type FoldResult } from '../cv/fold.js';

export interface WorkerOptions {
  redis: string;
  /** For predictions: one backend, or one per model rank. */
  backend: PredictBackend | BackendFor;
  /** For training folds (the trainer resolves its own). */
  train: { backend: 'auto' | 'native' | 'reference'; precision: 'fp32' | 'bf16' };
  /** Prediction jobs run at once (the engine already uses every core: 1). */
  concurrency?: number;
  /** ms a job's lock lasts without renewal before the job counts as stalled. Default 30000. */
  lockDuration?: number;
  /** ms between stalled-job checks. Default 30000. */
  stalledInterval?: number;
  /** Times a job may stall before it fails. Default 2. */
  maxStalledCount?: number;
  /** Which queues to take jobs from. Default both. */
  queues?: ('predict' | 'cv')[];
  /** Real paths of the folders jobs may name (parseRoots); required for prediction jobs. */
  roots?: string[];
  /** A prediction running longer stops at its next layer or window, and the job fails (then is retried). */
  jobTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface RunningWorker {
  /** Finishes the jobs in hand, then disconnects. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const { Redis, Worker } = await queueModules();
  const log = o.log ?? (() => {});
  const common = {
    lockDuration: o.lockDuration ?? 30000, stalledInterval: o.stalledInterval ?? 30000, maxStalledCount: o.maxStalledCount ?? 2,
  };
  const workers: Worker[] = [];
  const connections: ReturnType<typeof redisConnection>[] = []; // ours to close: BullMQ leaves given connections open
  const connection = () => { const c = redisConnection(o.redis, Redis); connections.push(c); return c; };
  const queues = o.queues ?? ['predict', 'cv'];
  if (queues.includes('predict')) {
    if (!o.roots?.length)
      throw new Error('a worker for prediction jobs needs --roots: the folders its jobs may read and write');
    const runner = new PredictJobRunner(o.backend, o.roots, o.jobTimeoutMs);
    workers.push(new Worker<PredictJob, PredictResult>(PREDICT_QUEUE, (job) => runner.run(job.data, job.id), {
      ...common, connection: connection(), concurrency: o.concurrency ?? 1,
    }));
  }
  if (queues.includes('cv')) {
    const fold = (spec: FoldSpec) => (o.roots?.length ? { ...spec, cvDir: confine(spec.cvDir, o.roots, 'cvDir') } : spec);
    const train = async (job: Job<FoldSpec>) => runFold(fold(job.data), { log: (s) => log(`fold ${job.data.fold}: ${s}`), ...o.train });
    workers.push(new Worker<FoldSpec, FoldResult>(CV_QUEUE, train, {
      ...common, connection: connection(), concurrency: 1,
    }));
  }
  for (const w of workers) {
    w.on('completed', (job: Job, r: any) => log(w.name === PREDICT_QUEUE ? `${r.status} ${job.data.input} -> ${r.outputs[0]} (${r.ms.toFixed(0)} ms)` : `fold ${job.data.fold} done: ${JSON.stringify(r.metrics)}`));
    w.on('failed', (job: Job | undefined, err: Error) => log(`failed ${job?.data.input ?? `fold ${job?.data.fold}`} (attempt ${job?.attemptsMade}): ${err.message}`));
    w.on('stalled', (jobId: string) => log(`job ${jobId} stalled (its worker died or hung): back in the queue`));
    let last = 0;
    w.on('error', (err: Error) => { // reconnects by itself; say so once in a while
      if (Date.now() - last > 5000) { last = Date.now(); log(`redis: ${err.message} (retrying)`); }
    });
  }
  return {
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      for (const c of connections) c.disconnect();
    },
  };
}
