// 3D patches from a decoded volume: where a patch starts (anywhere inside, or so that it holds a
// given foreground voxel), and reading it through a Transform3d about its centre: trilinear
// for the image, nearest for the labels, mirrored at the volume's borders so that rotated
// corners stay natural. A volume smaller than the patch along an axis is padded there, as
// nnU-Net does: centred in the patch, image 0 (the normalised background), labels background.
// Exact transforms (flips, turns) copy voxels.
import { mirror } from '../augmentation/augment.js';
import { IDENTITY_3D, type Transform3d } from '../augmentation/augment3d.js';
import type { LoadedVolume } from '../volumes/volume-load.js';
import type { Rng } from '../rng.js';

/** [D, H, W] of a volume ([Z, Y, X]). */
export const shapeOf = (v: { dims: readonly number[] }): [number, number, number] => [v.dims[2], v.dims[1], v.dims[0]];

/** The range [lo, hi] of a patch's start along one axis: inside the volume, or (volume smaller) the
 *  centred padded window. */
function startRange(size: number, patch: number): [number, number] {
  if (size >= patch) return [0, size - patch];
  const lo = -Math.floor((patch - size) / 2);
  return [lo, lo];
}

/**
 * Start [z, y, x] of a patch: uniform inside the volume, or (voxel given, a flat index) centred
 * on that voxel, shifted only as far as needed to stay inside (nnU-Net's foreground patches).
 * Along an axis where the volume is smaller than the patch, the start is negative: the volume
 * sits centred in the patch and the rest is padding.
 */
export function patchStart(shape: readonly number[], patch: readonly number[], rng: Rng, voxel?: number): [number, number, number] {
  const [, H, W] = shape;
  const at = voxel === undefined ? null : [Math.floor(voxel / (H * W)), Math.floor(voxel / W) % H, voxel % W];
  return [0, 1, 2].map((a) => {
    const [lo, hi] = startRange(shape[a], patch[a]);
    if (!at) return lo + rng.int(hi - lo + 1);
    return Math.min(hi, Math.max(lo, at[a] - Math.floor(patch[a] / 2)));
  }) as [number, number, number];
}

/**
 * Index along one axis for a sample at i: mirrored into the box the patch may cover (the volume,
 * or the volume and its padding), then -1 where that lands in the padding.
 */
function axisIndex(size: number, patch: number, i: number): number {
  if (size >= patch) return mirror(i, size);
  const lo = startRange(size, patch)[0];
  const j = lo + mirror(i - lo, patch);
  return j >= 0 && j < size ? j : -1;
}

/** axisIndex for every integer from `from` to `to` (a table read per voxel instead of a call): at[i - from]. */
function axisTable(size: number, patch: number, from: number, to: number): Int32Array {
  const at = new Int32Array(to - from + 1);
  for (let i = from; i <= to; i++) at[i - from] = axisIndex(size, patch, i);
  return at;
}

export interface Patch {
  image: Float32Array; // [C, D, H, W]
  labels?: Uint8Array; // [D, H, W] label values
}

/** Reads the patch at start (transformed about its centre by t); padding reads 0 and background. */
export function readPatch(v: LoadedVolume, start: readonly number[], patch: readonly number[], t: Transform3d = IDENTITY_3D): Patch {
  const [D, H, W] = shapeOf(v);
  const [pd, ph, pw] = patch;
  const n = pd * ph * pw;
  const channels = v.channels;
  const image = new Float32Array(channels * n);
  const labels = v.labels ? new Uint8Array(n) : undefined;
  const vol = D * H * W;
  const m = t.m;
  // patch centre and volume centre of the patch (half-integers for even sizes)
  const pc = [(pd - 1) / 2, (ph - 1) / 2, (pw - 1) / 2];
  const vc = [start[0] + pc[0], start[1] + pc[1], start[2] + pc[2]];
  // Per axis, the source coordinates the patch can reach (its corners mapped), one voxel wider for the
  // interpolation's second neighbour, and their indices in a table.
  const tables = [D, H, W].map((size, a) => {
    const reach = pc[0] * Math.abs(m[a * 3]) + pc[1] * Math.abs(m[a * 3 + 1]) + pc[2] * Math.abs(m[a * 3 + 2]);
    const from = Math.floor(vc[a] - reach) - 1;
    return { from, at: axisTable(size, patch[a], from, Math.ceil(vc[a] + reach) + 1) };
  });
  const [tz, ty, tx] = tables.map((tb) => tb.at);
  const [fz, fy, fx] = tables.map((tb) => tb.from);
  const s = v.image;
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
        const nz = tz[Math.round(sz) - fz], ny = ty[Math.round(sy) - fy], nx = tx[Math.round(sx) - fx];
        const pad = nz < 0 || ny < 0 || nx < 0;
        const near = (nz * H + ny) * W + nx;
        if (labels) labels[o] = pad ? 0 : v.labels![near];
        if (t.exact) {
          if (!pad) for (let c = 0; c < channels; c++) image[c * n + o] = s[c * vol + near];
          continue;
        }
        const z0 = Math.floor(sz), y0 = Math.floor(sy), x0 = Math.floor(sx);
        const wz = sz - z0, wy = sy - y0, wx = sx - x0;
        const za = tz[z0 - fz], zb = tz[z0 + 1 - fz], ya = ty[y0 - fy], yb = ty[y0 + 1 - fy];
        const xa = tx[x0 - fx], xb = tx[x0 + 1 - fx];
        // the 8 neighbours' offsets, -1 in the padding (reads 0); written out, as this loop runs per voxel
        const raa = za < 0 || ya < 0 ? -1 : (za * H + ya) * W, rab = za < 0 || yb < 0 ? -1 : (za * H + yb) * W;
        const rba = zb < 0 || ya < 0 ? -1 : (zb * H + ya) * W, rbb = zb < 0 || yb < 0 ? -1 : (zb * H + yb) * W;
        const i0 = raa < 0 || xa < 0 ? -1 : raa + xa, i1 = raa < 0 || xb < 0 ? -1 : raa + xb;
        const i2 = rab < 0 || xa < 0 ? -1 : rab + xa, i3 = rab < 0 || xb < 0 ? -1 : rab + xb;
        const i4 = rba < 0 || xa < 0 ? -1 : rba + xa, i5 = rba < 0 || xb < 0 ? -1 : rba + xb;
        const i6 = rbb < 0 || xa < 0 ? -1 : rbb + xa, i7 = rbb < 0 || xb < 0 ? -1 : rbb + xb;
        for (let c = 0, b = 0; c < channels; c++, b += vol) {
          const v0 = i0 < 0 ? 0 : s[b + i0], v1 = i1 < 0 ? 0 : s[b + i1], v2 = i2 < 0 ? 0 : s[b + i2], v3 = i3 < 0 ? 0 : s[b + i3];
          const v4 = i4 < 0 ? 0 : s[b + i4], v5 = i5 < 0 ? 0 : s[b + i5], v6 = i6 < 0 ? 0 : s[b + i6], v7 = i7 < 0 ? 0 : s[b + i7];
          const laa = v0 * (1 - wx) + v1 * wx, lab = v2 * (1 - wx) + v3 * wx;
          const lba = v4 * (1 - wx) + v5 * wx, lbb = v6 * (1 - wx) + v7 * wx;
          image[c * n + o] = (laa * (1 - wy) + lab * wy) * (1 - wz) + (lba * (1 - wy) + lbb * wy) * wz;
        }
      }
    }
  }
  return { image, labels };
}
