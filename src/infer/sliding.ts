// The one sliding-window routine: reflect-pad the inputs to the model's size rule, cut windows
// (times flips), blend the network's answers and crop back. A generator that yields batches of
// windows and is resumed with their probabilities, so that the synchronous predictor (compiled
// plans, predict.ts) and promise-based runners (onnxruntime-web in the page, tiled.ts) drive the
// same code and so give the same numbers. Any spatial rank. Browser-safe.
import { crop, reflectPad, type Padding } from './pad.js';
import { Blender, type TileLayout } from './tiles.js';
import { flipN, type FlipN } from './tta.js';
import { volumeOf } from './grid.js';
import type { StopSignal } from '../util/stop.js';

export interface SlideOptions {
  channels: number;
  classes: number;
  /** Spatial sizes of every input (they share one). */
  sizes: readonly number[];
  pad: Padding;
  /** Windows over the padded sizes (pad.size). */
  layout: TileLayout;
  /** Flips averaged per window (TTA); default the identity alone. */
  flips?: readonly FlipN[];
  /** Windows (times flips) per run. */
  batch: number;
  /** Every run's feed holds this many windows (unused ones zero), so that one compiled shape serves them all. */
  slots?: number;
  /** Checked before every batch of windows: once aborted, the routine throws its reason. */
  signal?: StopSignal;
}

/** One run's input: windows [rows, channels, ...tile] of which `count` are real; done of total after it. */
export interface WindowBatch { feed: Float32Array; count: number; done: number; total: number }

/** Yields batches of windows; resume it with the network's [rows, classes, ...tile]; returns one [classes, ...sizes] map per input. */
export function* slideWindows(inputs: readonly ArrayLike<number>[], o: SlideOptions): Generator<WindowBatch, Float32Array[], ArrayLike<number>> {
  const { channels: C, classes: K, sizes, pad, layout } = o;
  const P = pad.size, win = layout.tile;
  const same = P.every((s, k) => s === sizes[k]);
  const padded = inputs.map((x) => (same ? x : reflectPad(x, C, sizes, pad)));
  const flips = o.flips ?? [P.map(() => false)];
  const items = inputs.flatMap((_, n) => layout.windows.flatMap((start) => flips.map((flip) => ({ n, start, flip }))));
  const b = Math.max(1, Math.min(o.batch, items.length));
  const inSize = C * volumeOf(win), outSize = K * volumeOf(win);
  const fixed = o.slots === undefined ? null : new Float32Array(o.slots * inSize);
  const unflipped = new Float32Array(outSize);
  const blenders = inputs.map(() => new Blender(K, P, layout));
  for (let start = 0; start < items.length; start += b) {
    o.signal?.throwIfAborted();
    const chunk = items.slice(start, start + b);
    const feed = fixed ?? new Float32Array(chunk.length * inSize);
    if (fixed) feed.fill(0); // unused slots of a last, partial batch
    chunk.forEach(({ n, start: at, flip }, i) => flipN(crop(padded[n], C, P, at, win), feed, i * inSize, C, win, flip));
    const got = yield { feed, count: chunk.length, done: start + chunk.length, total: items.length };
    const rows = feed.length / inSize;
    if (got.length !== rows * outSize) throw new Error(`network returned ${got.length} values, expected ${[rows, K, ...win].join('x')}`);
    const out = got instanceof Float32Array ? got : Float32Array.from(got);
    chunk.forEach(({ n, start: at, flip }, i) => {
      const pred = out.subarray(i * outSize, (i + 1) * outSize);
      if (!flip.some(Boolean)) return blenders[n].add(at, pred);
      flipN(pred, unflipped, 0, K, win, flip);
      blenders[n].add(at, unflipped);
    });
  }
  return blenders.map((bl) => {
    const full = bl.result();
    return same ? full : crop(full, K, P, pad.start, sizes);
  });
}

/** Drives slideWindows with a synchronous network. */
export function slideSync(inputs: readonly ArrayLike<number>[], o: SlideOptions, run: (b: WindowBatch) => ArrayLike<number>): Float32Array[] {
  const it = slideWindows(inputs, o);
  let r = it.next();
  while (!r.done) r = it.next(run(r.value));
  return r.value;
}

/** Drives slideWindows with a network whose runs are promises (onnxruntime). */
export async function slideAsync(inputs: readonly ArrayLike<number>[], o: SlideOptions,
                                 run: (b: WindowBatch) => Promise<ArrayLike<number>>): Promise<Float32Array[]> {
  const it = slideWindows(inputs, o);
  let r = it.next();
  while (!r.done) r = it.next(await run(r.value));
  return r.value;
}
