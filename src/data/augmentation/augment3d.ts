// Seeded 3D augmentation, drawn as one linear map from patch offsets to volume offsets (axes
// z, y, x), which patch sampling applies while it reads the volume: flips on every axis,
// in-plane (y, x) 90-degree turns, small rotations about each axis and isotropic scaling.
// Flips and turns alone are signed permutations and read voxels exactly (no interpolation).
// Intensity changes reuse the 2D code (augment.ts: jitter), which works on any plane size.
import type { Rng } from '../rng.js';
import { jitter } from './augment.js';

export interface Augment3dOptions {
  /** Flip each of z, y, x with probability 0.5. */
  flip?: boolean;
  /** In-plane turn by k * 90 degrees (k uniform; 0 or 180 when H != W). */
  rotate90?: boolean;
  /** With probability p: rotation by U(-degrees, degrees) about each axis (inPlaneOnly: about z only), scale U(scale). */
  affine?: { p?: number; degrees?: number; inPlaneOnly?: boolean; scale?: [number, number] };
  /** Image only, per channel: add U(-brightness, brightness) (z-scored units). */
  brightness?: number;
  /** Image only, per channel: scale about the mean by U(1 - contrast, 1 + contrast). */
  contrast?: number;
  /** Image only, with probability p: gamma U(range) on each channel's values rescaled to [0, 1] (nnU-Net's). */
  gamma?: { p?: number; range?: [number, number] };
  /** Image only, with probability p: Gaussian noise of std U(0, std). */
  noise?: { p?: number; std?: number };
}

/** nnU-Net-like defaults, milder: all flips and turns, rotations up to 15 degrees, scale 0.85..1.15. */
export const DEFAULT_AUGMENT_3D: Augment3dOptions = {
  flip: true,
  rotate90: true,
  affine: { p: 0.3, degrees: 15, scale: [0.85, 1.15] },
  brightness: 0.1,
  contrast: 0.25,
  gamma: { p: 0.3, range: [0.7, 1.5] },
  noise: { p: 0.15, std: 0.1 },
};

/** Row-major 3x3 map from output offsets (z, y, x) to source offsets; exact: a signed permutation. */
export interface Transform3d { m: number[]; exact: boolean }

export const IDENTITY_3D: Transform3d = { m: [1, 0, 0, 0, 1, 0, 0, 0, 1], exact: true };

function mul(a: number[], b: number[]): number[] {
  const o = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) o[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
  return o;
}

/** Rotation by th about one axis (0 = z, 1 = y, 2 = x), in (z, y, x) coordinates. */
function rotation(axis: number, th: number): number[] {
  const [i, j] = [0, 1, 2].filter((a) => a !== axis);
  const m = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const c = Math.cos(th), s = Math.sin(th);
  m[i * 3 + i] = c; m[i * 3 + j] = -s;
  m[j * 3 + i] = s; m[j * 3 + j] = c;
  return m;
}

/**
 * Draws a transform for a patch of [D, H, W] (the draws happen in a fixed order, for
 * reproducibility). anisotropic: rotate in-plane only (thick slices, as nnU-Net does past 3:1).
 */
export function drawTransform3d(patch: readonly number[], rng: Rng, o: Augment3dOptions, anisotropic = false): Transform3d {
  let m = IDENTITY_3D.m;
  if (o.flip) {
    const f = [0, 1, 2].map(() => (rng.bool() ? -1 : 1));
    m = [f[0], 0, 0, 0, f[1], 0, 0, 0, f[2]];
  }
  if (o.rotate90) {
    const q = patch[1] === patch[2] ? rng.int(4) : 2 * rng.int(2);
    for (let k = 0; k < q; k++) m = mul(m, [1, 0, 0, 0, 0, -1, 0, 1, 0]); // (y, x) -> (-x, y)
  }
  let exact = true;
  if (o.affine && rng.bool(o.affine.p ?? 0.3)) {
    const deg = o.affine.degrees ?? 15;
    const [lo, hi] = o.affine.scale ?? [0.85, 1.15];
    const axes = o.affine.inPlaneOnly || anisotropic ? [0] : [0, 1, 2];
    for (const a of axes) m = mul(m, rotation(a, (rng.uniform(-deg, deg) * Math.PI) / 180));
    const inv = 1 / rng.uniform(lo, hi); // zooming in by s reads a region 1/s as large
    m = m.map((v) => v * inv);
    exact = false;
  }
  return { m, exact };
}

/** The intensity part, on a patch [C, n] in place: brightness/contrast (2D code), gamma, noise. */
export function augmentIntensity3d(img: Float32Array, c: number, n: number, rng: Rng, o: Augment3dOptions): void {
  if (o.brightness || o.contrast) jitter(img, c, n, rng, o.brightness ?? 0, o.contrast ?? 0);
  if (o.gamma && rng.bool(o.gamma.p ?? 0.3)) {
    const [lo, hi] = o.gamma.range ?? [0.7, 1.5];
    for (let ch = 0; ch < c; ch++) {
      const g = rng.uniform(lo, hi);
      const v = img.subarray(ch * n, (ch + 1) * n);
      let min = Infinity, max = -Infinity;
      for (let i = 0; i < n; i++) { if (v[i] < min) min = v[i]; if (v[i] > max) max = v[i]; }
      const range = max - min;
      if (range > 0) for (let i = 0; i < n; i++) v[i] = min + range * ((v[i] - min) / range) ** g;
    }
  }
  if (o.noise && rng.bool(o.noise.p ?? 0.15)) {
    const std = rng.uniform(0, o.noise.std ?? 0.1);
    for (let i = 0; i < c * n; i++) img[i] += std * rng.normal();
  }
}
