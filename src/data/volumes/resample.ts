// Resampling volumes to a target voxel spacing: trilinear for images, nearest for labels.
// Voxel centres map with the first voxel fixed (out index i -> in index i * target / spacing),
// the convention of ITK/SimpleITK when the origin is kept; the affine is updated to match, so
// the resampled volume still lies at the same place in the world.

/** [X, Y, Z] dims after resampling from spacing to target (at least 1 voxel per axis). */
export function resampledDims(dims: readonly number[], spacing: readonly number[], target: readonly number[]): [number, number, number] {
  return [0, 1, 2].map((a) => Math.max(1, Math.round((dims[a] * spacing[a]) / target[a]))) as [number, number, number];
}

/** The affine of the resampled grid: each voxel axis scaled by target / spacing, origin kept. */
export function resampledAffine(affine: number[][], spacing: readonly number[], target: readonly number[]): number[][] {
  return affine.map((row, r) => row.map((v, c) => (c < 3 && r < 3 ? (v * target[c]) / spacing[c] : v)));
}

/** Per output index along one axis: lower input index, upper, and weight of the upper. */
function axisMap(nIn: number, nOut: number, step: number): { lo: Int32Array; hi: Int32Array; t: Float32Array } {
  const lo = new Int32Array(nOut), hi = new Int32Array(nOut), t = new Float32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    const x = Math.min(i * step, nIn - 1);
    lo[i] = Math.floor(x);
    hi[i] = Math.min(lo[i] + 1, nIn - 1);
    t[i] = x - lo[i];
  }
  return { lo, hi, t };
}

/**
 * Resamples C channels of [Z, Y, X] data from dims/spacing to the target spacing.
 * 'linear' interpolates (images); 'nearest' picks the closest voxel (labels keep their values).
 */
export function resampleVolume<T extends Float32Array | Uint8Array>(
  data: T, channels: number, dims: readonly number[], spacing: readonly number[], target: readonly number[], mode: 'linear' | 'nearest',
): { data: T; dims: [number, number, number] } {
  const out = resampledDims(dims, spacing, target);
  return { data: resampleGrid(data, channels, dims, out, [0, 1, 2].map((a) => target[a] / spacing[a]), mode), dims: out };
}

/**
 * Back onto the files' grid (e.g. a prediction made at the training spacing): dims and spacing
 * of `from` -> `to`, with the same first-voxel convention.
 */
export function resampleOnto<T extends Float32Array | Uint8Array>(
  data: T, channels: number, from: { dims: readonly number[]; spacing: readonly number[] }, to: { dims: readonly number[]; spacing: readonly number[] }, mode: 'linear' | 'nearest',
): T {
  return resampleGrid(data, channels, from.dims, to.dims, [0, 1, 2].map((a) => to.spacing[a] / from.spacing[a]), mode);
}

/** The core: output voxel i along axis a reads input position i * step[a]. */
export function resampleGrid<T extends Float32Array | Uint8Array>(
  data: T, channels: number, dims: readonly number[], out: readonly number[], step: readonly number[], mode: 'linear' | 'nearest',
): T {
  const [X, Y, Z] = dims;
  const [OX, OY, OZ] = out;
  const [mx, my, mz] = [0, 1, 2].map((a) => axisMap(dims[a], out[a], step[a]));
  const res = new (data.constructor as { new (n: number): T })(channels * OX * OY * OZ);
  const plane = X * Y, vol = plane * Z, oplane = OX * OY;
  for (let c = 0; c < channels; c++) {
    const src = c * vol;
    for (let z = 0; z < OZ; z++) {
      for (let y = 0; y < OY; y++) {
        const o = c * oplane * OZ + z * oplane + y * OX;
        if (mode === 'nearest') {
          const row = src + (mz.t[z] < 0.5 ? mz.lo[z] : mz.hi[z]) * plane + (my.t[y] < 0.5 ? my.lo[y] : my.hi[y]) * X;
          for (let x = 0; x < OX; x++) res[o + x] = data[row + (mx.t[x] < 0.5 ? mx.lo[x] : mx.hi[x])];
          continue;
        }
        const tz = mz.t[z], ty = my.t[y];
        const r00 = src + mz.lo[z] * plane + my.lo[y] * X, r01 = src + mz.lo[z] * plane + my.hi[y] * X;
        const r10 = src + mz.hi[z] * plane + my.lo[y] * X, r11 = src + mz.hi[z] * plane + my.hi[y] * X;
        for (let x = 0; x < OX; x++) {
          const a = mx.lo[x], b = mx.hi[x], tx = mx.t[x];
          const l = (r: number) => data[r + a] * (1 - tx) + data[r + b] * tx;
          res[o + x] = (l(r00) * (1 - ty) + l(r01) * ty) * (1 - tz) + (l(r10) * (1 - ty) + l(r11) * ty) * tz;
        }
      }
    }
  }
  return res;
}
