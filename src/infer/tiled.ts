// The sliding-window routine (sliding.ts) around any async network runner, with or without flips: what
// createPredictor (predict.ts) does, for runtimes whose run is a promise (the browser page runs
// onnxruntime-web through it, in a worker for volumes). Any spatial rank: images [C, H, W] and
// volumes [C, D, H, W]. Browser-safe: imports no Node module.
import { paddingFor } from './pad.js';
import { tileLayout, type BlendKind } from './tiles.js';
import { volumeOf, type Field } from './grid.js';
import { slideWindows } from './sliding.js';
import { allFlips } from './tta.js';

/** Probabilities as a field (channels: the classes), and the number of windows run. */
export interface TiledResult extends Field { data: Float32Array; windows: number }

export interface TiledOptions {
  /** Classes the network outputs. */
  classes: number;
  /** Sizes fed to the network are multiples of this (2^level), one for every axis or one per axis. */
  multiple: number | number[];
  /** Window size per axis (multiples of `multiple`); default the whole (padded) map. */
  tile?: number[];
  overlap?: number; // 0.25
  blend?: BlendKind; // gaussian
  /** Average over the flips of every subset of the axes (4 for images, 8 for volumes). */
  tta?: boolean;
  /** Windows (times flips) per run (default 1); the last run may get fewer. */
  batch?: number;
  /** Called after every run with the windows done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Checked before every run: when aborted, rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Probabilities [n, classes, ...size] for windows [n, channels, ...size]. */
export type WindowRunner = (windows: Float32Array, n: number, size: number[]) => Promise<ArrayLike<number>>;

export async function predictTiled(field: Field, o: TiledOptions, run: WindowRunner): Promise<TiledResult> {
  const { channels, sizes } = field;
  if (field.data.length !== channels * volumeOf(sizes)) throw new Error(`input data has ${field.data.length} values, expected ${[channels, ...sizes].join('x')}`);
  if (o.tile && o.tile.length !== sizes.length) throw new Error(`tile ${o.tile.join('x')} has ${o.tile.length} sizes for a ${sizes.length}D input`);
  // as createPredictor: a volume axis shorter than the window is zero-padded to it
  const pad = paddingFor(sizes, o.multiple, sizes.length === 3 ? o.tile : undefined);
  const layout = tileLayout(pad.size, o.tile ?? pad.size, o.overlap ?? 0.25, o.blend ?? 'gaussian');
  const flips = o.tta ? allFlips(sizes.length) : undefined;
  const it = slideWindows([field.data], { channels, classes: o.classes, sizes, pad, layout, flips, batch: Math.max(1, o.batch ?? 1) });
  const tile = [...layout.tile];
  let r = it.next();
  while (!r.done) {
    o.signal?.throwIfAborted();
    const { feed, count, done, total } = r.value;
    r = it.next(await run(feed, count, [...tile]));
    o.onProgress?.(done, total);
  }
  return { data: r.value[0], channels: o.classes, sizes: [...sizes], windows: layout.windows.length };
}
