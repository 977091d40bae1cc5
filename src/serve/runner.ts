// How the service runs its prediction jobs: on the main thread through its micro-batcher
// (--workers 0), or in a pool of worker threads (pool.ts). The route sees only this interface.
import type { HttpError } from './errors.js';
import type { MicroBatcher } from './batcher.js';
import type { ModelRegistry } from './models.js';
import { runPredictJob, type JobResult, type PredictJob } from './predict-job.js';

export interface JobRunner {
  /** Marks a request on its way (its body is read); call the returned function once it is submitted or failed. */
  expect(): () => void;
  /** Runs a job; `signal`: the client went away (queued work is dropped); arrived: the job is queued. */
  run(job: PredictJob, signal: AbortSignal, arrived: () => void): Promise<JobResult>;
  /** Jobs waiting to run. */
  readonly depth: number;
  /** The 503 of a full service (n requests ahead), with a Retry-After estimate. */
  overloaded(n?: number): HttpError;
  /** Rejects every waiting job (the server is stopping); running ones finish. */
  cancelAll(why: string): void;
  /** Stops the threads, if any. */
  close(): Promise<void>;
}

/** On the main thread: the engine runs between turns of the event loop, one batch at a time. */
export class LocalRunner implements JobRunner {
  private seq = 0;
  constructor(private readonly models: ModelRegistry, readonly batcher: MicroBatcher) {}
  expect() { return this.batcher.expect(); }
  run(job: PredictJob, signal: AbortSignal, arrived: () => void) {
    return runPredictJob(this.models, this.batcher, job, ++this.seq, signal, arrived);
  }
  get depth() { return this.batcher.depth; }
  overloaded(n?: number) { return this.batcher.overloaded(n); }
  cancelAll(why: string) { this.batcher.cancelAll(why); }
  async close() {}
}
