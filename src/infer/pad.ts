// Reflect padding to the model's size rule (multiples of 2^level) and cropping back, so that
// any image or volume size can be predicted. Mirroring (not zeros) keeps border statistics
// natural. A volume is zero-padded to a sliding window along an axis shorter than it, as
// training pads patches (data/patches.ts). Written for any spatial rank; the 2D forms below are
// the images' names for them.
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
export interface PaddingN { start: number[]; size: number[]; zero?: boolean[] }

/**
 * Padded size per axis (the next multiple of m) with the extra split evenly, the odd one at the
 * end; with a window (volumes), an axis shorter than the window is zero-padded to it instead, so
 * that the window runs as training ran its patches.
 */
export function paddingForN(sizes: readonly number[], m: number, window?: readonly number[]): PaddingN {
  const short = sizes.map((s, k) => window !== undefined && s < window[k]);
  const size = sizes.map((s, k) => (short[k] ? window![k] : Math.ceil(s / m) * m));
  const pad: PaddingN = { start: sizes.map((s, k) => Math.floor((size[k] - s) / 2)), size };
  if (short.some(Boolean)) pad.zero = short;
  return pad;
}

/** Pads a [c, ...sizes] map to pad.size: mirrored, or zeros along pad.zero's axes. */
export function reflectPadN(data: ArrayLike<number>, c: number, sizes: readonly number[], pad: PaddingN): Float32Array {
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
export function cropN(data: ArrayLike<number>, c: number, sizes: readonly number[], start: readonly number[], size: readonly number[]): Float32Array {
  const n = sizes.length, out = new Float32Array(c * size.reduce((a, b) => a * b, 1));
  const len = size[n - 1], s0 = start[n - 1];
  forEachRow(c, size, (dst, idx) => {
    const src = rowOffset(idx, sizes, (k, i) => i + start[k]) + s0;
    for (let x = 0; x < len; x++) out[dst + x] = data[src + x];
  });
  return out;
}

// ---- images ----
export interface Padding { top: number; left: number; height: number; width: number }

export function paddingFor(h: number, w: number, m: number): Padding {
  const p = paddingForN([h, w], m);
  return { top: p.start[0], left: p.start[1], height: p.size[0], width: p.size[1] };
}

/** Reflect-pads a CHW image to pad.height x pad.width. */
export function reflectPad(data: ArrayLike<number>, c: number, h: number, w: number, pad: Padding): Float32Array {
  return reflectPadN(data, c, [h, w], { start: [pad.top, pad.left], size: [pad.height, pad.width] });
}

/** The h x w window at (top, left) of every channel of a CHW map. */
export function crop(data: ArrayLike<number>, c: number, H: number, W: number,
                     top: number, left: number, h: number, w: number): Float32Array {
  return cropN(data, c, [H, W], [top, left], [h, w]);
}
