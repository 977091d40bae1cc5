// Seeded 3D augmentation, drawn as one linear map from patch offsets to volume offsets (axes
// z, y, x), which patch sampling applies while it reads the volume: flips on every axis,
// in-plane (y, x) 90-degree turns, small rotations about each axis and isotropic scaling.
// Flips and turns alone are signed permutations and read voxels exactly (no interpolation).
// Intensity changes reuse the 2D code (augment.ts: jitter), which works on any plane size.
import type { Rng } from './rng.js';

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
}

/** nnU-Net-like defaults, milder: all flips and turns, rotations up to 15 degrees, scale 0.85..1.15. */
export const DEFAULT_AUGMENT_3D: Augment3dOptions = {
  flip: true,
  rotate90: true,
  affine: { p: 0.3, degrees: 15, scale: [0.85, 1.15] },
  brightness: 0.1,
  contrast: 0.25,
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

/** Draws a transform for a patch of [D, H, W] (the draws happen in a fixed order, for reproducibility). */
export function drawTransform3d(patch: readonly number[], rng: Rng, o: Augment3dOptions): Transform3d {
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
    const axes = o.affine.inPlaneOnly ? [0] : [0, 1, 2];
    for (const a of axes) m = mul(m, rotation(a, (rng.uniform(-deg, deg) * Math.PI) / 180));
    const inv = 1 / rng.uniform(lo, hi); // zooming in by s reads a region 1/s as large
    m = m.map((v) => v * inv);
    exact = false;
  }
  return { m, exact };
}
