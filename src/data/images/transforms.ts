// Deterministic image operations on CHW Float32Array planes: resize, crop, normalisation.
// Random augmentation lives in augment.ts; everything here is pure and seed-free except
// randomCrop, which takes the Rng explicitly.
import type { Rng } from '../rng.js';

/** Bilinear resize, half-pixel centres (as OpenCV / PyTorch align_corners=False); no anti-aliasing. */
export function resizeBilinear(src: Float32Array, c: number, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(c * oh * ow);
  const sy = h / oh;
  const sx = w / ow;
  const x0s = new Int32Array(ow);
  const x1s = new Int32Array(ow);
  const fxs = new Float32Array(ow);
  for (let x = 0; x < ow; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
    x0s[x] = Math.floor(fx);
    x1s[x] = Math.min(x0s[x] + 1, w - 1);
    fxs[x] = fx - x0s[x];
  }
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const ty = fy - y0;
    for (let ch = 0; ch < c; ch++) {
      const r0 = ch * h * w + y0 * w;
      const r1 = ch * h * w + y1 * w;
      const o = ch * oh * ow + y * ow;
      for (let x = 0; x < ow; x++) {
        const tx = fxs[x];
        const a = src[r0 + x0s[x]] * (1 - tx) + src[r0 + x1s[x]] * tx;
        const b = src[r1 + x0s[x]] * (1 - tx) + src[r1 + x1s[x]] * tx;
        out[o + x] = a * (1 - ty) + b * ty;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize (for masks: keeps values binary). Pixel centres map as in resizeBilinear. */
export function resizeNearest<T extends Float32Array | Uint8Array>(src: T, c: number, h: number, w: number, oh: number, ow: number): T {
  const out = new (src.constructor as { new (n: number): T })(c * oh * ow);
  const xs = new Int32Array(ow);
  for (let x = 0; x < ow; x++) xs[x] = Math.min(Math.floor(((x + 0.5) * w) / ow), w - 1);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      const row = ch * h * w + Math.min(Math.floor(((y + 0.5) * h) / oh), h - 1) * w;
      const o = ch * oh * ow + y * ow;
      for (let x = 0; x < ow; x++) out[o + x] = src[row + xs[x]];
    }
  }
  return out;
}

/** Copies the window [top, top+ch) x [left, left+cw); parts outside the source are zero. */
export function crop(src: Float32Array, c: number, h: number, w: number, top: number, left: number, ch: number, cw: number): Float32Array {
  const out = new Float32Array(c * ch * cw);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < ch; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < cw; x++) {
        const sx = left + x;
        if (sx >= 0 && sx < w) out[k * ch * cw + y * cw + x] = src[k * h * w + sy * w + sx];
      }
    }
  }
  return out;
}

/**
 * The same random window from an image (C planes) and its mask (K planes). A source smaller
 * than the window is centred and zero-padded along that axis.
 */
export function randomCrop(
  image: Float32Array, c: number, mask: Float32Array, k: number, h: number, w: number,
  ch: number, cw: number, rng: Rng,
): { image: Float32Array; mask: Float32Array } {
  const top = h >= ch ? rng.int(h - ch + 1) : -Math.floor((ch - h) / 2);
  const left = w >= cw ? rng.int(w - cw + 1) : -Math.floor((cw - w) / 2);
  return { image: crop(image, c, h, w, top, left, ch, cw), mask: crop(mask, k, h, w, top, left, ch, cw) };
}

export type Normalize =
  | { kind: 'none' }
  | { kind: 'zscore'; eps?: number } // per image and channel
  | { kind: 'minmax' } // per image and channel, to [0, 1]
  | { kind: 'fixed'; mean: number[]; std: number[] }; // per channel, e.g. dataset statistics

/** Normalises in place, channel by channel. */
export function normalize(data: Float32Array, c: number, plane: number, n: Normalize): Float32Array {
  if (n.kind === 'none') return data;
  if (n.kind === 'fixed' && (n.mean.length !== c && n.mean.length !== 1)) throw new Error(`normalize: ${n.mean.length} means for ${c} channels`);
  for (let k = 0; k < c; k++) {
    const o = k * plane;
    let sub = 0;
    let scale = 1;
    if (n.kind === 'fixed') {
      sub = n.mean[n.mean.length === 1 ? 0 : k];
      scale = 1 / n.std[n.std.length === 1 ? 0 : k];
    } else if (n.kind === 'zscore') {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < plane; i++) s += data[o + i];
      const m = s / plane;
      for (let i = 0; i < plane; i++) s2 += (data[o + i] - m) ** 2;
      sub = m;
      scale = 1 / Math.sqrt(s2 / plane + (n.eps ?? 1e-6));
    } else {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < plane; i++) {
        const v = data[o + i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      sub = lo;
      scale = hi > lo ? 1 / (hi - lo) : 0;
    }
    for (let i = 0; i < plane; i++) data[o + i] = (data[o + i] - sub) * scale;
  }
  return data;
}

/** Per-channel mean and std over many images (for a 'fixed' normalisation from the train set). */
export function channelStats(images: { data: Float32Array; channels: number; width: number; height: number }[]): { mean: number[]; std: number[] } {
  if (!images.length) throw new Error('channelStats: no images');
  const c = images[0].channels;
  const s = new Float64Array(c);
  const s2 = new Float64Array(c);
  let n = 0;
  for (const im of images) {
    const plane = im.width * im.height;
    n += plane;
    for (let k = 0; k < c; k++) {
      for (let i = 0; i < plane; i++) {
        const v = im.data[k * plane + i];
        s[k] += v;
        s2[k] += v * v;
      }
    }
  }
  const mean = Array.from(s, (v) => v / n);
  const std = Array.from(s2, (v, k) => Math.sqrt(Math.max(v / n - mean[k] ** 2, 1e-12)));
  return { mean, std };
}
