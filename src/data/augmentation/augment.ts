// Seeded augmentation applied identically to an image (C planes) and its mask (K planes).
// All geometric steps compose into one map from output pixel to source coordinate, sampled
// once: bilinear for the image, nearest for the mask (so it stays binary), mirrored borders
// for both (so they stay aligned). Flips and 90-degree turns alone map pixels exactly.
import type { Rng } from '../rng.js';
import { resizeBilinear } from '../images/transforms.js';

export interface AugmentOptions {
  /** Horizontal and vertical flips, each with probability 0.5. */
  flip?: boolean;
  /** Rotation by k * 90 degrees, k uniform (only 0 or 180 degrees when H != W). */
  rotate90?: boolean;
  /** Small rotation (+-degrees) and isotropic scale about the centre, with probability p. */
  affine?: { p?: number; degrees?: number; scale?: [number, number] };
  /** Smooth random displacement: alpha = RMS displacement in pixels, sigma = smoothness in pixels. */
  elastic?: { p?: number; alpha?: number; sigma?: number };
  /** Image only: add U(-brightness, brightness). */
  brightness?: number;
  /** Image only: scale about the channel mean by U(1 - contrast, 1 + contrast). */
  contrast?: number;
}

/** A sensible default for 96x96 nuclei. */
export const DEFAULT_AUGMENT: AugmentOptions = {
  flip: true,
  rotate90: true,
  affine: { p: 0.5, degrees: 15, scale: [0.9, 1.1] },
  elastic: { p: 0.3, alpha: 1.5, sigma: 6 },
  brightness: 0.1,
  contrast: 0.2,
};

export interface Pair {
  image: Float32Array;
  mask: Float32Array;
}

export function augmentPair(image: Float32Array, c: number, mask: Float32Array, k: number, h: number, w: number, rng: Rng, opts: AugmentOptions): Pair {
  if (image.length !== c * h * w || mask.length !== k * h * w) throw new Error('augmentPair: image/mask sizes do not match C/K x H x W');
  const map = sampleMap(h, w, rng, opts);
  let img = image;
  let msk = mask;
  if (map) {
    img = new Float32Array(image.length);
    msk = new Float32Array(mask.length);
    remap(image, img, c, h, w, map, true);
    remap(mask, msk, k, h, w, map, false);
  }
  if (opts.brightness || opts.contrast) {
    if (img === image) img = image.slice();
    jitter(img, c, h * w, rng, opts.brightness ?? 0, opts.contrast ?? 0);
  }
  return { image: img, mask: msk };
}

/** Source x and y for every output pixel, or null when the draw is the identity. */
function sampleMap(h: number, w: number, rng: Rng, o: AugmentOptions): { sx: Float32Array; sy: Float32Array } | null {
  const fx = o.flip && rng.bool() ? -1 : 1;
  const fy = o.flip && rng.bool() ? -1 : 1;
  const quarter = o.rotate90 ? (h === w ? rng.int(4) : 2 * rng.int(2)) : 0;
  let cos = 1;
  let sin = 0;
  let inv = 1;
  if (o.affine && rng.bool(o.affine.p ?? 0.5)) {
    const deg = o.affine.degrees ?? 15;
    const [lo, hi] = o.affine.scale ?? [0.9, 1.1];
    const th = (rng.uniform(-deg, deg) * Math.PI) / 180;
    cos = Math.cos(th);
    sin = Math.sin(th);
    inv = 1 / rng.uniform(lo, hi);
  }
  const warped = cos !== 1 || inv !== 1;
  let dx: Float32Array | null = null;
  let dy: Float32Array | null = null;
  if (o.elastic && rng.bool(o.elastic.p ?? 0.5)) {
    dx = smoothField(h, w, rng, o.elastic.sigma ?? 6, o.elastic.alpha ?? 1.5);
    dy = smoothField(h, w, rng, o.elastic.sigma ?? 6, o.elastic.alpha ?? 1.5);
  }
  if (fx === 1 && fy === 1 && quarter === 0 && !warped && !dx) return null;
  const sx = new Float32Array(h * w);
  const sy = new Float32Array(h * w);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      // centred output coordinate, then undo each step from the last to the first
      let u = x - cx + (dx ? dx[i] : 0);
      let v = y - cy + (dy ? dy[i] : 0);
      if (warped) {
        const ru = (cos * u + sin * v) * inv;
        v = (-sin * u + cos * v) * inv;
        u = ru;
      }
      for (let q = 0; q < quarter; q++) {
        const t = u;
        u = v;
        v = -t;
      }
      sx[i] = fx * u + cx;
      sy[i] = fy * v + cy;
    }
  }
  return { sx, sy };
}

/** Mirror index into [0, n) without repeating the edge pixel (OpenCV's REFLECT_101). */
export function mirror(i: number, n: number): number {
  if (i >= 0 && i < n) return i; // the common case, without the modulo
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

function remap(src: Float32Array, dst: Float32Array, planes: number, h: number, w: number, map: { sx: Float32Array; sy: Float32Array }, bilinear: boolean): void {
  const plane = h * w;
  for (let i = 0; i < plane; i++) {
    const x = map.sx[i];
    const y = map.sy[i];
    if (!bilinear) {
      const j = mirror(Math.round(y), h) * w + mirror(Math.round(x), w);
      for (let p = 0; p < planes; p++) dst[p * plane + i] = src[p * plane + j];
      continue;
    }
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const tx = x - x0;
    const ty = y - y0;
    const a = mirror(y0, h) * w;
    const b = mirror(y0 + 1, h) * w;
    const l = mirror(x0, w);
    const r = mirror(x0 + 1, w);
    for (let p = 0; p < planes; p++) {
      const o = p * plane;
      const top = src[o + a + l] * (1 - tx) + src[o + a + r] * tx;
      const bot = src[o + b + l] * (1 - tx) + src[o + b + r] * tx;
      dst[o + i] = top * (1 - ty) + bot * ty;
    }
  }
}

/**
 * Uniform noise blurred by a Gaussian, rescaled to the given RMS. Drawn on a grid coarser by
 * about sigma/2 and upsampled bilinearly: the same smooth field at a fraction of the cost.
 */
function smoothField(h: number, w: number, rng: Rng, sigma: number, rms: number): Float32Array {
  const step = Math.max(1, Math.floor(sigma / 2));
  const ch = Math.ceil(h / step);
  const cw = Math.ceil(w / step);
  const coarse = new Float32Array(ch * cw);
  for (let i = 0; i < coarse.length; i++) coarse[i] = rng.uniform(-1, 1);
  gaussianBlur(coarse, ch, cw, sigma / step);
  const f = resizeBilinear(coarse, 1, ch, cw, h, w);
  let s2 = 0;
  for (let i = 0; i < f.length; i++) s2 += f[i] * f[i];
  const scale = s2 > 0 ? rms / Math.sqrt(s2 / f.length) : 0;
  for (let i = 0; i < f.length; i++) f[i] *= scale;
  return f;
}

/** Separable Gaussian blur of one plane in place, mirrored borders. */
export function gaussianBlur(f: Float32Array, h: number, w: number, sigma: number): void {
  if (sigma <= 0) return;
  const r = Math.max(1, Math.ceil(3 * sigma));
  const kern = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += kern[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kern.length; i++) kern[i] /= sum;
  // index tables of the mirrored, padded axes keep the inner loops branch-free
  const xs = Int32Array.from({ length: w + 2 * r }, (_, i) => mirror(i - r, w));
  const ys = Int32Array.from({ length: h + 2 * r }, (_, i) => mirror(i - r, h) * w);
  const tmp = new Float32Array(f.length);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = 0; t <= 2 * r; t++) s += kern[t] * f[row + xs[x + t]];
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = 0; t <= 2 * r; t++) s += kern[t] * tmp[ys[y + t] + x];
      f[y * w + x] = s;
    }
  }
}

/** Brightness and contrast per channel plane (2D images and 3D volumes alike: plane = H*W or D*H*W). */
export function jitter(img: Float32Array, c: number, plane: number, rng: Rng, brightness: number, contrast: number): void {
  const b = brightness ? rng.uniform(-brightness, brightness) : 0;
  const g = contrast ? rng.uniform(1 - contrast, 1 + contrast) : 1;
  for (let p = 0; p < c; p++) {
    const o = p * plane;
    let m = 0;
    for (let i = 0; i < plane; i++) m += img[o + i];
    m /= plane;
    for (let i = 0; i < plane; i++) img[o + i] = (img[o + i] - m) * g + m + b;
  }
}
