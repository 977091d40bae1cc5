// Flip test-time augmentation. The four flips {identity, h, v, h+v} form a group, so the
// averaged prediction is exactly equivariant to h and v flips of the input (with only
// identity + h + v it would not be).

export interface Flip { h: boolean; v: boolean }

export const IDENTITY: Flip[] = [{ h: false, v: false }];
export const FLIPS: Flip[] = [{ h: false, v: false }, { h: true, v: false }, { h: false, v: true }, { h: true, v: true }];

/** Flips every channel of a CHW map (a flip is its own inverse: also undoes it). */
export function flipCHW(src: ArrayLike<number>, dst: Float32Array, dstOffset: number, c: number, h: number, w: number, f: Flip): void {
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++) {
      const sy = f.v ? h - 1 - y : y;
      const s = (ch * h + sy) * w;
      const d = dstOffset + (ch * h + y) * w;
      if (f.h) for (let x = 0; x < w; x++) dst[d + x] = src[s + w - 1 - x];
      else for (let x = 0; x < w; x++) dst[d + x] = src[s + x];
    }
}
