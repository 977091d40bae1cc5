// Flip test-time augmentation. The flips of every subset of the spatial axes form a group
// (4 for images, 8 for volumes), so the averaged prediction is exactly equivariant to each
// axis's flip (with only identity + one flip per axis it would not be).
import { forEachRow, rowOffset } from './grid.js';

/** Which spatial axes a flip reverses (images: [vertical, horizontal]). */
export type FlipN = readonly boolean[];

/** Every flip of `rank` spatial axes, identity first. */
export function allFlips(rank: number): FlipN[] {
  return Array.from({ length: 2 ** rank }, (_, m) => Array.from({ length: rank }, (_, k) => ((m >> (rank - 1 - k)) & 1) === 1));
}

/** Flips every channel of a [c, ...sizes] map into dst at dstOffset (a flip is its own inverse). */
export function flipN(src: ArrayLike<number>, dst: Float32Array, dstOffset: number, c: number, sizes: readonly number[], f: FlipN): void {
  const n = sizes.length, len = sizes[n - 1], rev = f[n - 1];
  forEachRow(c, sizes, (d, idx) => {
    const s = rowOffset(idx, sizes, (k, i) => (f[k] ? sizes[k] - 1 - i : i));
    const o = dstOffset + d;
    if (rev) for (let x = 0; x < len; x++) dst[o + x] = src[s + len - 1 - x];
    else for (let x = 0; x < len; x++) dst[o + x] = src[s + x];
  });
}
