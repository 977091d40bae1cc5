// The service's worker threads: each loads the served models (pool-worker.ts) and runs
// prediction jobs, so that the main thread only reads, checks and answers requests (health
// checks and metrics answer while a large volume predicts). Jobs queue here, in order; a worker
// holds up to max-batch of them at once (it batches their network runs). A job that overstays
// --timeout (or whose client hangs up) is stopped through its flag in shared memory: waiting,
// it is dropped; running, its worker stops at the next layer or window (a batch stops once none
// of its jobs is wanted), drops its buffers and takes the next job. Only a worker that has not
// stopped within stopGraceMs (a single layer running that long) is terminated: the other jobs it
// held are queued again and a new worker takes its place.
import { Worker } from 'node:worker_threads';
import { HttpError, type ErrorKind } from './errors.js';
import type { JobRunner } from './runner.js';
import type { JobResult, PredictJob } from './predict-job.js';
import type { FromWorker, PoolWorkerData, ToWorker } from './pool-worker.js';
import { tryLoadAddon } from '../engine/backends/native/addon.js';
import { SharedStop } from '../util/stop.js';

export interface PoolOptions extends Omit<PoolWorkerData, 'threads'> {
  /** Worker threads. */
  count: number;
  /** Engine threads in all workers together (each gets an equal share, at least 1). */
  threads: number;
  maxQueue: number;
  timeoutMs: number;
  /** How long a running job told to stop may take to do so before its worker is terminated (0: at once). */
  stopGraceMs: number;
  onBatch?: (size: number, seconds: number, planBytes: number) => void;
  onDepth?: (waiting: number) => void;
  /** Told of workers started, stopped or lost. */
  log?: (line: string) => void;
}

interface Job {
  id: number;
  job: PredictJob;
  resolve: (r: JobResult) => void;
  reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
  /** Set (from this thread) to stop it in its worker. */
  stop: SharedStop;
  on?: Slot;
  /** Its network runs started in its worker (before: it waits there for batch partners). */
  running: boolean;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  planBytes: number;
  /** Running jobs told to stop and not yet back: when they were told, and the deadline of their grace. */
  halting: Map<number, { since: number; grace?: NodeJS.Timeout }>;
  /** Terminated on purpose: its exit is not a loss. */
  stopping: boolean;
  /** When a running job's timeout terminated it. */
  stoppedAt?: number;
}

const WORKER_URL = new URL('./pool-worker.js', import.meta.url);

export class WorkerPool implements JobRunner {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private seq = 0;
  private secondsPerBatch = 0.1; // running estimate, for Retry-After
  private closed = false;
  /** Plans compiled by the first worker (for the start-up line). */
  warmed: string[] = [];

  private constructor(readonly o: PoolOptions) {}

  /** Starts the workers; resolves once all have loaded (and warmed) their models. */
  static async start(o: PoolOptions): Promise<WorkerPool> {
    if (!Number.isInteger(o.count) || o.count < 1) throw new Error(`serve --workers: expected an integer >= 1, got ${o.count}`);
    const pool = new WorkerPool(o);
    try {
      for (const slot of await Promise.all(Array.from({ length: o.count }, () => pool.spawn()))) pool.slots.push(slot);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get threadsEach(): number { return Math.max(1, Math.floor(this.o.threads / this.o.count)); }
  /** Jobs waiting: queued here, or held by a worker but not running yet. */
  get depth(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + [...s.jobs.values()].filter((j) => !j.running).length, 0);
  }
  get workers(): number { return this.slots.length; }

  expect(): () => void { return () => {}; } // a worker's batcher counts the jobs it was handed

  overloaded(n = this.depth): HttpError {
    const batches = n / (this.o.maxBatch * this.o.count) + 1;
    const retry = Math.max(1, Math.ceil(batches * this.secondsPerBatch));
    return new HttpError(503, 'overloaded', `server busy: ${n} requests already waiting (max-queue ${this.o.maxQueue}); retry later`, retry);
  }

  run(job: PredictJob, signal: AbortSignal, arrived: () => void): Promise<JobResult> {
    arrived();
    if (this.closed) return Promise.reject(new HttpError(503, 'overloaded', 'the server is shutting down'));
    if (this.depth >= this.o.maxQueue) return Promise.reject(this.overloaded());
    // a view into a larger buffer would be copied whole to the worker
    const { bytes } = job;
    if (bytes.byteLength !== bytes.buffer.byteLength) job = { ...job, bytes: bytes.slice() };
    return new Promise<JobResult>((resolve, reject) => {
      const j: Job = { id: ++this.seq, job, resolve, reject, running: false, settled: false, stop: new SharedStop() };
      j.timer = setTimeout(() => this.overstayed(j), this.o.timeoutMs);
      signal.addEventListener('abort', () => {
        if (j.settled) return;
        if (j.on) { this.halt(j); return; } // its worker answers (a 499 nobody reads)
        this.unqueue(j);
        this.settle(j, () => reject(new HttpError(499, 'bad_request', 'the client closed the connection')));
      }, { once: true });
      this.queue.push(j);
      this.dispatch();
      this.o.onDepth?.(this.depth);
    });
  }

  cancelAll(why: string): void {
    for (const j of this.queue.splice(0)) this.settle(j, () => j.reject(new HttpError(503, 'overloaded', why)));
    this.o.onDepth?.(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelAll('the server shut down before this request ran');
    const slots = this.slots.splice(0);
    for (const s of slots) s.stopping = true;
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Hands queued jobs to workers with room (max-batch jobs each), the least busy first. */
  private dispatch(): void {
    while (this.queue.length) {
      const free = this.slots.filter((s) => s.jobs.size < this.o.maxBatch).sort((a, b) => a.jobs.size - b.jobs.size)[0];
      if (!free) return;
      const j = this.queue.shift()!;
      j.on = free;
      free.jobs.set(j.id, j);
      // the bytes are copied (not transferred): the request may still be read by its logger
      free.worker.postMessage({ type: 'job', id: j.id, job: j.job, stop: j.stop.buffer } satisfies ToWorker);
    }
  }

  /** --timeout: a queued job leaves the queue; one in a worker is stopped there. */
  private overstayed(j: Job): void {
    if (j.settled) return;
    const ms = this.o.timeoutMs;
    const stopped = !!j.on && j.running;
    if (j.on) this.halt(j);
    else this.unqueue(j);
    const why = stopped ? '; its prediction was stopped (serve --timeout)' : '';
    this.settle(j, () => j.reject(new HttpError(504, 'timeout', `inference did not finish within ${ms} ms (timeout)${why}`)));
  }

  /** Stops a job its worker holds: waiting there, it is dropped; running, it stops at its next layer or
   *  window, or its worker is terminated after the grace. The slot no longer counts it. */
  private halt(j: Job): void {
    const slot = j.on!;
    j.stop.stop();
    slot.jobs.delete(j.id);
    j.on = undefined;
    if (!j.running) { slot.worker.postMessage({ type: 'cancel', id: j.id } satisfies ToWorker); return; }
    const grace = this.o.stopGraceMs;
    const h: { since: number; grace?: NodeJS.Timeout } = { since: performance.now() };
    slot.halting.set(j.id, h);
    if (grace <= 0) { this.replace(slot, `a job ran past --timeout ${this.o.timeoutMs} ms`); return; }
    h.grace = setTimeout(() => {
      if (!slot.halting.delete(j.id)) return;
      // a batch runs on while any of its jobs is wanted: those stop it when their own time is up
      if ([...slot.jobs.values()].some((o) => o.running && !o.settled)) return;
      const why = `a job ran past --timeout ${this.o.timeoutMs} ms and did not stop within --stop-grace ${grace} ms`;
      this.replace(slot, why);
    }, grace);
  }

  /** Terminates a worker and starts another; the jobs it held (other than settled ones) queue again, first. */
  private replace(slot: Slot, why: string): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    slot.stopping = true;
    for (const h of slot.halting.values()) clearTimeout(h.grace);
    slot.halting.clear();
    const again = [...slot.jobs.values()].filter((j) => !j.settled);
    for (const j of again) { j.on = undefined; j.running = false; }
    this.queue.unshift(...again);
    this.o.onDepth?.(this.depth);
    this.o.log?.(`unetpp serve: worker thread stopped (${why}); starting another`);
    slot.stoppedAt = performance.now();
    void slot.worker.terminate();
    if (this.closed) return;
    const t0 = performance.now();
    this.spawn().then((s) => {
      if (this.closed) { s.stopping = true; void s.worker.terminate(); return; }
      this.slots.push(s);
      this.o.log?.(`unetpp serve: a new worker thread is ready (${(performance.now() - t0).toFixed(0)} ms)`);
      this.dispatch();
    }, (e: Error) => {
      this.o.log?.(`unetpp serve: a worker thread failed to start: ${e.message}`);
      if (!this.slots.length) for (const j of this.queue.splice(0)) this.settle(j, () => j.reject(e));
    });
  }

  private spawn(): Promise<Slot> {
    const { count: _c, threads: _t, maxQueue: _q, timeoutMs: _m, stopGraceMs: _g, onBatch: _b, onDepth: _d, log: _l, ...data } = this.o;
    const workerData: PoolWorkerData = { ...data, threads: this.threadsEach };
    const worker = new Worker(WORKER_URL, { workerData });
    const slot: Slot = { worker, jobs: new Map(), planBytes: 0, halting: new Map(), stopping: false };
    return new Promise<Slot>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          if (!this.warmed.length) this.warmed = m.warmed;
          resolve(slot);
        } else if (m.type === 'running') {
          for (const id of m.ids) { const j = slot.jobs.get(id); if (j) j.running = true; }
          this.o.onDepth?.(this.depth);
        } else if (m.type === 'batch') {
          slot.planBytes = m.planBytes;
          this.secondsPerBatch = 0.8 * this.secondsPerBatch + 0.2 * m.seconds;
          this.o.onBatch?.(m.size, m.seconds, this.slots.reduce((n, s) => n + s.planBytes, 0));
        } else this.finished(slot, m);
      });
      worker.on('error', (e) => {
        if (!ready) reject(new Error(`serve: a worker thread failed to load the models: ${e.message}`, { cause: e }));
        else this.lost(slot, e);
      });
      worker.on('exit', (code) => {
        if (!ready) reject(new Error(`serve: a worker thread exited (code ${code}) before it was ready`));
        else if (!slot.stopping) this.lost(slot, new Error(`worker thread exited (code ${code})`));
        else if (slot.stoppedAt !== undefined) {
          // the thread's malloc arena outlives it: give its free memory back
          const trimmed = this.o.backend !== 'reference' && tryLoadAddon().addon?.trimMemory?.();
          const ms = (performance.now() - slot.stoppedAt).toFixed(0);
          this.o.log?.(`unetpp serve: the stopped worker thread exited after ${ms} ms${trimmed ? '; its memory was given back' : ''}`);
        }
      });
    });
  }

  private finished(slot: Slot, m: Extract<FromWorker, { type: 'done' | 'failed' }>): void {
    const h = slot.halting.get(m.id);
    if (h) {
      clearTimeout(h.grace);
      slot.halting.delete(m.id);
      const how = m.type === 'failed' ? 'stopped' : 'finished';
      this.o.log?.(`unetpp serve: a job past its time ${how} in its worker thread ${(performance.now() - h.since).toFixed(0)} ms after it was told to stop`);
      this.dispatch();
    }
    const j = slot.jobs.get(m.id);
    if (!j) return;
    slot.jobs.delete(m.id);
    if (m.type === 'done') {
      const r = m.result;
      if (r.encoded) r.encoded = Buffer.from(r.encoded.buffer, r.encoded.byteOffset, r.encoded.byteLength); // a Uint8Array after the copy
      this.settle(j, () => j.resolve(r));
    } else {
      const e = m.error;
      const err = e.kind === 'internal' ? Object.assign(new Error(e.message), { stack: e.stack })
        : new HttpError(e.status, e.kind as ErrorKind, e.message, e.retryAfterSeconds);
      this.settle(j, () => j.reject(err));
    }
    this.dispatch();
  }

  /** A worker died on its own (a crash): its jobs fail as server faults, another takes its place. */
  private lost(slot: Slot, e: Error): void {
    if (slot.stopping) return;
    const held = [...slot.jobs.values()];
    slot.jobs.clear();
    this.replace(slot, e.message);
    for (const j of held) { j.on = undefined; this.settle(j, () => j.reject(e)); }
  }

  private unqueue(j: Job): void {
    const i = this.queue.indexOf(j);
    if (i >= 0) { this.queue.splice(i, 1); this.o.onDepth?.(this.depth); }
  }

  private settle(j: Job, fn: () => void): void {
    if (j.settled) return;
    j.settled = true;
    clearTimeout(j.timer);
    if (j.on) j.on.jobs.delete(j.id);
    fn();
    this.dispatch();
    this.o.onDepth?.(this.depth);
  }
}
