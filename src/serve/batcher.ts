// Micro-batching: requests with the same key (model, options, input shape) that arrive
// within maxWaitMs of each other run as one batch of up to maxBatch (a request alone in the
// service, with no other being received, does not wait). One batch runs at a
// time (the engine is synchronous and uses every core); between batches the event loop
// turns, so health checks and new requests are answered. The queue is bounded (503 beyond
// it, with a Retry-After estimate) and a request waits at most timeoutMs (then 504); a
// request that times out or whose client went away leaves the queue without being run. A
// running batch gets a StopSignal that is aborted once every request in it is past its
// deadline, gone or stopped from outside: the predictor then stops at its next layer or window.
import { HttpError } from './errors.js';
import { anyStop, allStop, deadlineStop, withReason, type StopSignal } from '../util/stop.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  timeoutMs: number;
  /** Called after every batch (metrics). */
  onBatch?: (size: number, seconds: number) => void;
  /** Called when the number of waiting requests changes (metrics). */
  onDepth?: (waiting: number) => void;
  /** Called with a batch's inputs as it starts running. */
  onRun?: (inputs: unknown[]) => void;
}

/** Runs the inputs of one batch, in order; may be async (volumes); stops early (throws) once `stop` is aborted. */
export type RunBatch<I, O> = (inputs: I[], stop?: StopSignal) => O[] | Promise<O[]>;

interface Task<I, O> {
  key: string;
  input: I;
  run: RunBatch<I, O>;
  arrived: number;
  /** Past its deadline, its client gone, or stopped by the caller: then it does not start, or its batch may stop. */
  stop: StopSignal;
  settled: boolean;
  timer: NodeJS.Timeout;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class MicroBatcher {
  private waiting: Task<any, any>[] = [];
  private busy = false;
  private wake?: NodeJS.Timeout;
  private secondsPerBatch = 0.1; // running estimate, for Retry-After
  /** Requests received but not submitted yet (their bodies are being read or decoded). */
  private receiving = 0;
  /** When the last batch ended: requests received during a batch are read and decoded after it. */
  private freeSince = 0;

  constructor(readonly opts: BatcherOptions) {}

  get depth(): number { return this.waiting.length; }

  /** Marks a request on its way here; call the returned function once it is submitted (or failed). */
  expect(): () => void {
    this.receiving++;
    let done = false;
    return () => { if (!done) { done = true; this.receiving--; this.schedule(); } };
  }
  get idle(): boolean { return !this.busy && !this.waiting.length; }

  /** The 503 for a full service (n requests ahead), with a Retry-After estimate. */
  overloaded(n = this.waiting.length): HttpError {
    const retry = Math.max(1, Math.ceil((n / this.opts.maxBatch + 1) * this.secondsPerBatch));
    const why = `server busy: ${n} requests already waiting (max-queue ${this.opts.maxQueue}); retry later`;
    return new HttpError(503, 'overloaded', why, retry);
  }

  /** Queues an input; `signal` (the client went away) takes it out of the queue unrun; `stop`: another
   *  reason to drop it or stop its batch (a worker thread's shared flag, set by the main thread). */
  submit<I, O>(key: string, input: I, run: RunBatch<I, O>, signal?: AbortSignal, stop?: StopSignal): Promise<O> {
    const { maxQueue, timeoutMs } = this.opts;
    if (this.waiting.length >= maxQueue) return Promise.reject(this.overloaded());
    const gone = new HttpError(499 as number, 'bad_request', 'the client closed the connection');
    if (signal?.aborted) return Promise.reject(gone);
    if (stop?.aborted) return Promise.reject(stop.reason);
    return new Promise<O>((resolve, reject) => {
      const arrived = performance.now();
      const late = new HttpError(504, 'timeout',
        `inference did not finish within ${timeoutMs} ms (timeout); its prediction was stopped (serve --timeout)`);
      const halt = anyStop([deadlineStop(arrived + timeoutMs, late), signal && withReason(signal, gone), stop]);
      const task: Task<I, O> = {
        key, input, run, arrived, stop: halt, settled: false, resolve, reject, timer: undefined as unknown as NodeJS.Timeout,
      };
      task.timer = setTimeout(() => {
        this.remove(task);
        this.settle(task, () => reject(new HttpError(504, 'timeout', `inference did not finish within ${timeoutMs} ms (timeout)`)));
      }, timeoutMs);
      signal?.addEventListener('abort', () => {
        if (!this.waiting.includes(task)) return; // running: its batch finishes
        this.remove(task);
        this.settle(task, () => reject(new HttpError(499 as number, 'bad_request', 'the client closed the connection')));
      }, { once: true });
      this.waiting.push(task);
      this.opts.onDepth?.(this.waiting.length);
      this.schedule();
    });
  }

  /** Rejects every waiting request (the server is stopping); running batches finish. */
  cancelAll(why: string): void {
    for (const t of this.waiting.splice(0)) this.settle(t, () => t.reject(new HttpError(503, 'overloaded', why)));
    clearTimeout(this.wake);
    this.wake = undefined;
    this.opts.onDepth?.(0);
  }

  private remove(task: Task<any, any>): void {
    const i = this.waiting.indexOf(task);
    if (i >= 0) { this.waiting.splice(i, 1); this.opts.onDepth?.(this.waiting.length); }
  }

  private settle(task: Task<any, any>, fn: () => void): void {
    if (task.settled) return;
    task.settled = true;
    clearTimeout(task.timer);
    fn();
  }

  private schedule(): void {
    if (this.busy || !this.waiting.length) return;
    const first = this.waiting[0];
    const same = this.waiting.reduce((n, t) => n + (t.key === first.key ? 1 : 0), 0);
    // wait maxWait from the first's arrival, or, while others are still being received (they
    // queued up during the last batch), from the end of that batch
    const since = this.receiving > 0 ? Math.max(first.arrived, this.freeSince) : first.arrived;
    const wait = since + this.opts.maxWaitMs - performance.now();
    const alone = this.waiting.length === 1 && this.receiving === 0; // nobody to wait for
    if (same < this.opts.maxBatch && wait > 0 && !alone) {
      if (!this.wake) this.wake = setTimeout(() => { this.wake = undefined; this.schedule(); }, Math.ceil(wait));
      return;
    }
    clearTimeout(this.wake);
    this.wake = undefined;
    this.busy = true;
    void this.runNext(first.key);
  }

  private async runNext(key: string): Promise<void> {
    // requests stopped while they waited (their timers may not have fired: a batch held the thread) do not start
    for (const t of this.waiting.filter((w) => w.stop.aborted)) {
      this.remove(t);
      this.settle(t, () => t.reject(t.stop.reason));
    }
    const batch = this.waiting.filter((t) => t.key === key).slice(0, this.opts.maxBatch);
    for (const t of batch) this.remove(t);
    if (!batch.length) { this.busy = false; this.schedule(); return; } // all of them were dropped
    const t0 = performance.now();
    try {
      this.opts.onRun?.(batch.map((t) => t.input));
      const out = await batch[0].run(batch.map((t) => t.input), allStop(batch.map((t) => t.stop)));
      batch.forEach((t, i) => this.settle(t, () => t.resolve(out[i])));
    } catch (e) {
      for (const t of batch) this.settle(t, () => t.reject(t.stop.aborted ? t.stop.reason : e));
    }
    const seconds = (performance.now() - t0) / 1000;
    this.secondsPerBatch = 0.8 * this.secondsPerBatch + 0.2 * seconds;
    this.opts.onBatch?.(batch.length, seconds);
    // let I/O (health checks, new requests, responses) run before the next batch: one
    // setImmediate alone would run in this loop turn's check phase, before the poll phase
    // reads what arrived during the batch; the second lands after the next poll
    setImmediate(() => setImmediate(() => { this.busy = false; this.freeSince = performance.now(); this.schedule(); }));
  }
}
