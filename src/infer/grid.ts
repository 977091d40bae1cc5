// Row iteration over [C, ...sizes] maps of any spatial rank (images: [C,H,W], volumes:
// [C,D,H,W]): padding, cropping, flipping and blending are written once on top of it. A "row"
// is a run along the last axis; rows are visited in storage order. Browser-safe.

/** Calls fn(dst, idx) for every row of a [c, ...sizes] map: dst is the row's first value, idx
 *  the channel and the indices of the spatial axes before the last (reused: copy to keep). */
export function forEachRow(c: number, sizes: readonly number[], fn: (dst: number, idx: Int32Array) => void): void {
  const n = sizes.length;
  const idx = new Int32Array(n);  // [channel, axis 0 .. axis n-2]
  const dims = [c, ...sizes.slice(0, n - 1)];
  const rowLen = sizes[n - 1];
  let total = 1;
  for (const d of dims) total *= d;
  for (let r = 0; r < total; r++) {
    fn(r * rowLen, idx);
    for (let k = n - 1; k >= 0; k--) {  // odometer
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}

/** Offset of row (channel, i_0..i_{n-2}) of a [c, ...sizes] map, with each index mapped by at(k, i). */
export function rowOffset(idx: Int32Array, sizes: readonly number[], at: (axis: number, i: number) => number): number {
  let off = idx[0];
  for (let k = 0; k < sizes.length - 1; k++) off = off * sizes[k] + at(k, idx[k + 1]);
  return off * sizes[sizes.length - 1];
}

export const volumeOf = (sizes: readonly number[]) => sizes.reduce((a, b) => a * b, 1);

/** A field of any spatial rank: data [channels, ...sizes] (images [C, H, W], volumes [C, D, H, W]). */
export interface Field { data: ArrayLike<number>; channels: number; sizes: number[] }

/** An image's CHW planes (as images are read: width and height named) as a field; no copy. */
export function imageField<D extends ArrayLike<number>>(img: { data: D; channels: number; height: number; width: number }):
  Field & { data: D } {
  return { data: img.data, channels: img.channels, sizes: [img.height, img.width] };
}
