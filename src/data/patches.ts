// 3D patches from a decoded volume: where a patch starts (anywhere inside, or so that it holds a
// given foreground voxel), and reading it through a Transform3d about its centre: trilinear
// for the image, nearest for the labels, mirrored at the volume's borders so that rotated
// corners stay natural. Exact transforms (flips, turns) copy voxels.
import { mirror } from './augment.js';
import { IDENTITY_3D, type Transform3d } from './augment3d.js';
import type { LoadedVolume } from './volume-load.js';
import type { Rng } from './rng.js';
import { fileError } from './read-image.js';

/** [D, H, W] of a volume ([Z, Y, X]). */
export const shapeOf = (v: { dims: readonly number[] }): [number, number, number] => [v.dims[2], v.dims[1], v.dims[0]];

/** Throws, naming the file, when the patch does not fit the volume. */
export function checkPatchFits(shape: readonly number[], patch: readonly number[], file: string): void {
  const axis = ['z (depth)', 'y (height)', 'x (width)'];
  for (let a = 0; a < 3; a++)
    if (patch[a] > shape[a])
      throw fileError(file, `volume is ${shape.join('x')} (DxHxW) after resampling, smaller than the patch ${patch.join('x')} along ${axis[a]}: use a patch of at most ${shape.map((s, i) => Math.min(s, patch[i])).join('x')}, or a finer --spacing`);
}

/**
 * Start [z, y, x] of a patch inside the volume: uniform, or (voxel given, a flat index) centred
 * on that voxel, shifted only as far as needed to stay inside (nnU-Net's foreground patches).
 */
export function patchStart(shape: readonly number[], patch: readonly number[], rng: Rng, voxel?: number): [number, number, number] {
  const [, H, W] = shape;
  const at = voxel === undefined ? null : [Math.floor(voxel / (H * W)), Math.floor(voxel / W) % H, voxel % W];
  return [0, 1, 2].map((a) => {
    const max = shape[a] - patch[a];
    if (!at) return rng.int(max + 1);
    return Math.min(max, Math.max(0, at[a] - Math.floor(patch[a] / 2)));
  }) as [number, number, number];
}

export interface Patch {
  image: Float32Array; // [C, D, H, W]
  labels?: Uint8Array; // [D, H, W] label values
}

/** Reads the patch at start (transformed about its centre by t). */
export function readPatch(v: LoadedVolume, start: readonly number[], patch: readonly number[], t: Transform3d = IDENTITY_3D): Patch {
  const [D, H, W] = shapeOf(v);
  const [pd, ph, pw] = patch;
  const n = pd * ph * pw;
  const image = new Float32Array(v.channels * n);
  const labels = v.labels ? new Uint8Array(n) : undefined;
  const vol = D * H * W;
  const m = t.m;
  // patch centre and volume centre of the patch (half-integers for even sizes)
  const pc = [(pd - 1) / 2, (ph - 1) / 2, (pw - 1) / 2];
  const vc = [start[0] + pc[0], start[1] + pc[1], start[2] + pc[2]];
  let o = 0;
  for (let z = 0; z < pd; z++) {
    const dz = z - pc[0];
    for (let y = 0; y < ph; y++) {
      const dy = y - pc[1];
      for (let x = 0; x < pw; x++, o++) {
        const dx = x - pc[2];
        const sz = vc[0] + m[0] * dz + m[1] * dy + m[2] * dx;
        const sy = vc[1] + m[3] * dz + m[4] * dy + m[5] * dx;
        const sx = vc[2] + m[6] * dz + m[7] * dy + m[8] * dx;
        const near = mirror(Math.round(sz), D) * H * W + mirror(Math.round(sy), H) * W + mirror(Math.round(sx), W);
        if (labels) labels[o] = v.labels![near];
        if (t.exact) {
          for (let c = 0; c < v.channels; c++) image[c * n + o] = v.image[c * vol + near];
          continue;
        }
        const z0 = Math.floor(sz), y0 = Math.floor(sy), x0 = Math.floor(sx);
        const tz = sz - z0, ty = sy - y0, tx = sx - x0;
        const za = mirror(z0, D) * H * W, zb = mirror(z0 + 1, D) * H * W;
        const ya = mirror(y0, H) * W, yb = mirror(y0 + 1, H) * W;
        const xa = mirror(x0, W), xb = mirror(x0 + 1, W);
        for (let c = 0; c < v.channels; c++) {
          const b = c * vol;
          const s = v.image;
          const l = (zz: number, yy: number) => s[b + zz + yy + xa] * (1 - tx) + s[b + zz + yy + xb] * tx;
          image[c * n + o] = (l(za, ya) * (1 - ty) + l(za, yb) * ty) * (1 - tz) + (l(zb, ya) * (1 - ty) + l(zb, yb) * ty) * tz;
        }
      }
    }
  }
  return { image, labels };
}
