// Reflect padding to the model's size rule (multiples of 2^level) and cropping back, so that
// any image or volume size can be predicted. Mirroring (not zeros) keeps border statistics
// natural. A volume is zero-padded to a sliding window along an axis shorter than it, as
// training pads patches (data/loaders/patches.ts). Any spatial rank: sizes [h, w] or [d, h, w].
import { forEachRow, rowOffset } from './grid.js';

/** Index into [0, n) for any integer i, mirroring at the edges without repeating them (numpy 'reflect'). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  // repeated mirroring handles pads larger than the image (tiny inputs)
  let r = ((i % period) + period) % period;
  return r < n ? r : period - r;
}

/** Padded sizes and where the original starts in them, per spatial axis; zero: axes padded with zeros (else mirrored). */
export interface Padding { start: number[]; size: number[]; zero?: boolean[] }

/**
 * Padded size per axis (the next multiple of m, one for all axes or one each) with the extra split evenly, the odd one at the
 * end; with a window (volumes), an axis shorter than the window is zero-padded to it instead, so
 * that the window runs as training ran its patches.
 */
export function paddingFor(sizes: readonly number[], multiple: number | readonly number[], window?: readonly number[]): Padding {
  const m = (k: number) => (typeof multiple === 'number' ? multiple : multiple[k]);
  const short = sizes.map((s, k) => window !== undefined && s < window[k]);
  const size = sizes.map((s, k) => (short[k] ? window![k] : Math.ceil(s / m(k)) * m(k)));
  const pad: Padding = { start: sizes.map((s, k) => Math.floor((size[k] - s) / 2)), size };
  if (short.some(Boolean)) pad.zero = short;
  return pad;
}

/** Pads a [c, ...sizes] map to pad.size: mirrored, or zeros along pad.zero's axes. */
export function reflectPad(data: ArrayLike<number>, c: number, sizes: readonly number[], pad: Padding): Float32Array {
  const n = sizes.length, out = new Float32Array(c * pad.size.reduce((a, b) => a * b, 1));
  const at = (k: number, i: number) => {
    const j = i - pad.start[k];
    return pad.zero?.[k] ? (j >= 0 && j < sizes[k] ? j : -1) : reflectIndex(j, sizes[k]);
  };
  const last = Int32Array.from({ length: pad.size[n - 1] }, (_, x) => at(n - 1, x));
  forEachRow(c, pad.size, (dst, idx) => {
    for (let k = 0; k < n - 1; k++) if (at(k, idx[k + 1]) < 0) return; // a row of padding: zeros
    const src = rowOffset(idx, sizes, at);
    for (let x = 0; x < last.length; x++) out[dst + x] = last[x] < 0 ? 0 : data[src + last[x]];
  });
  return out;
}

/** The window of the given size at `start` of every channel of a [c, ...sizes] map. */
export function crop(data: ArrayLike<number>, c: number, sizes: readonly number[], start: readonly number[], size: readonly number[]): Float32Array {
  const n = sizes.length, out = new Float32Array(c * size.reduce((a, b) => a * b, 1));
  const len = size[n - 1], s0 = start[n - 1];
  forEachRow(c, size, (dst, idx) => {
    const src = rowOffset(idx, sizes, (k, i) => i + start[k]) + s0;
    for (let x = 0; x < len; x++) out[dst + x] = data[src + x];
  });
  return out;
}
