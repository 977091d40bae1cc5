// Cropping volumes to the box of their non-zero voxels (nnU-Net's first step): MRI volumes
// are mostly air around the head, so a case takes less memory and random patches land on
// tissue. The box is kept, so predictions are padded back onto the full grid.

/** A box in voxels of the full grid: first voxel [x, y, z] and size [X, Y, Z]. */
export interface Box { start: [number, number, number]; dims: [number, number, number] }

/** The box of voxels where any of the first `channels` channels or any extra byte map is non-zero; null when none is. */
export function nonzeroBox(data: Float32Array, channels: number, dims: readonly number[], extra: (Uint8Array | undefined)[] = []): Box | null {
  const [X, Y, Z] = dims;
  const n = X * Y * Z;
  const lo = [X, Y, Z], hi = [-1, -1, -1];
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    let on = false;
    for (let c = 0; c < channels && !on; c++) on = data[c * n + i] !== 0;
    for (const e of extra) if (e && e[i]) on = true;
    if (!on) continue;
    const v = [x, y, z];
    for (let a = 0; a < 3; a++) { if (v[a] < lo[a]) lo[a] = v[a]; if (v[a] > hi[a]) hi[a] = v[a]; }
  }
  if (hi[0] < 0) return null;
  return { start: [lo[0], lo[1], lo[2]], dims: [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1] };
}

/** The box of each of C channels of [Z, Y, X] data. */
export function cropToBox<T extends Float32Array | Uint8Array>(data: T, channels: number, dims: readonly number[], box: Box): T {
  const [X, Y, Z] = dims;
  const [bx, by, bz] = box.dims;
  const out = new (data.constructor as { new (n: number): T })(channels * bx * by * bz);
  let o = 0;
  for (let c = 0; c < channels; c++)
    for (let z = 0; z < bz; z++)
      for (let y = 0; y < by; y++) {
        const src = ((c * Z + z + box.start[2]) * Y + y + box.start[1]) * X + box.start[0];
        out.set(data.subarray(src, src + bx), o);
        o += bx;
      }
  return out;
}

/** Puts box-sized data back into a zero-filled full grid. */
export function uncropFromBox<T extends Float32Array | Uint8Array>(data: T, channels: number, dims: readonly number[], box: Box): T {
  const [X, Y, Z] = dims;
  const [bx, by, bz] = box.dims;
  const out = new (data.constructor as { new (n: number): T })(channels * X * Y * Z);
  let o = 0;
  for (let c = 0; c < channels; c++)
    for (let z = 0; z < bz; z++)
      for (let y = 0; y < by; y++) {
        out.set(data.subarray(o, o + bx), ((c * Z + z + box.start[2]) * Y + y + box.start[1]) * X + box.start[0]);
        o += bx;
      }
  return out;
}

/** The affine of the box's grid: the same axes, the origin moved to the box's first voxel. */
export function boxAffine(affine: number[][], box: Box): number[][] {
  return affine.map((row, r) => (r < 3 ? [row[0], row[1], row[2], row[0] * box.start[0] + row[1] * box.start[1] + row[2] * box.start[2] + row[3]] : [...row]));
}
