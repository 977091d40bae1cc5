// Cooperative stopping of long computations. The engine and the sliding-window routine look at a
// StopSignal between units of work (layers, windows, slices) and throw its reason once it is set.
// An AbortSignal is one; a SharedStop is one that another thread can set while this thread is busy
// in synchronous work (its event loop, and so an AbortSignal's events, does not turn until the
// work ends). Browser-safe.

/** What a computation checks to stop early: an AbortSignal, or one of the signals below. */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  /** Throws the reason when aborted. */
  throwIfAborted(): void;
}

/** The reason a stopped computation throws when its signal gave none. */
export class StoppedError extends Error {
  constructor(message = 'the computation was stopped') {
    super(message);
    this.name = 'StoppedError';
  }
}

const check = (s: StopSignal) => { if (s.aborted) throw s.reason ?? new StoppedError(); };

/** A flag in shared memory: one thread stops, another sees it at its next check (Atomics). */
export class SharedStop implements StopSignal {
  private readonly cell: Int32Array;
  /** buffer: a SharedArrayBuffer of 4 bytes, from the other thread's SharedStop (posting one shares it). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4), readonly reason: unknown = new StoppedError()) {
    this.cell = new Int32Array(buffer, 0, 1);
  }
  stop(): void { Atomics.store(this.cell, 0, 1); }
  get aborted(): boolean { return Atomics.load(this.cell, 0) !== 0; }
  throwIfAborted(): void { check(this); }
}

/** Aborted once `at` (performance.now() time) has passed: a deadline the busy thread itself reads. */
export function deadlineStop(at: number, reason: unknown = new StoppedError('the deadline passed')): StopSignal {
  const s: StopSignal = { get aborted() { return performance.now() >= at; }, reason, throwIfAborted: () => check(s) };
  return s;
}

/** Aborted as soon as any of the signals is (with that one's reason). */
export function anyStop(signals: readonly (StopSignal | undefined)[]): StopSignal {
  const set = signals.filter((s): s is StopSignal => !!s);
  const first = () => set.find((s) => s.aborted);
  const s: StopSignal = { get aborted() { return !!first(); }, get reason() { return first()?.reason; }, throwIfAborted: () => check(s) };
  return s;
}

/** Aborted once every signal is (shared work, e.g. one batch of several requests, stops when none needs it);
 *  an entry without a signal never stops, so neither does the whole. */
export function allStop(signals: readonly (StopSignal | undefined)[]): StopSignal | undefined {
  if (!signals.length || signals.some((s) => !s)) return undefined;
  const set = signals as readonly StopSignal[];
  const s: StopSignal = { get aborted() { return set.every((x) => x.aborted); }, get reason() { return set[0].reason; }, throwIfAborted: () => check(s) };
  return s;
}

/** The signal, throwing `reason` instead of its own (an AbortSignal aborted without a useful one). */
export function withReason(signal: StopSignal, reason: unknown): StopSignal {
  const s: StopSignal = { get aborted() { return signal.aborted; }, reason, throwIfAborted: () => check(s) };
  return s;
}
