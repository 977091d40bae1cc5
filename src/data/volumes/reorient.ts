// A label stored on the image's grid but with axes flipped or permuted (dcm2niix flips DICOM
// rows; tools differ in the order they write axes) holds the same voxels at the same world
// positions: it is reordered onto the image's voxel order instead of being rejected.

/** Inverse of a 4x4 affine (3x3 linear part + translation). */
export function invertAffine(m: number[][]): number[][] {
  const [a, b, c] = m;
  const det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
  if (Math.abs(det) < 1e-12) throw new Error('singular affine');
  const inv = [
    [(b[1] * c[2] - b[2] * c[1]) / det, (a[2] * c[1] - a[1] * c[2]) / det, (a[1] * b[2] - a[2] * b[1]) / det],
    [(b[2] * c[0] - b[0] * c[2]) / det, (a[0] * c[2] - a[2] * c[0]) / det, (a[2] * b[0] - a[0] * b[2]) / det],
    [(b[0] * c[1] - b[1] * c[0]) / det, (a[1] * c[0] - a[0] * c[1]) / det, (a[0] * b[1] - a[1] * b[0]) / det],
  ];
  const t = [0, 1, 2].map((r) => -(inv[r][0] * m[0][3] + inv[r][1] * m[1][3] + inv[r][2] * m[2][3]));
  return [...inv.map((row, r) => [...row, t[r]]), [0, 0, 0, 1]];
}

function mul4(a: number[][], b: number[][]): number[][] {
  return a.map((row) => [0, 1, 2, 3].map((c) => row.reduce((s, v, k) => s + v * b[k][c], 0)));
}

export interface Grid { dims: readonly number[]; affine: number[][] }

/**
 * `data` on grid `from`, reordered onto grid `to` when the two differ only by axis flips and
 * permutations (same world positions, to within tol voxels); null when they are not so related.
 */
export function alignToGrid<T extends Float32Array | Uint8Array>(data: T, from: Grid, to: Grid, tol = 1e-3): T | null {
  let m: number[][];
  try {
    m = mul4(invertAffine(from.affine), to.affine); // to's voxel index -> from's voxel index
  } catch {
    return null;
  }
  const src = [0, 0, 0], sign = [0, 0, 0]; // to's axis a reads from's axis src[a], in direction sign[a]
  for (let a = 0; a < 3; a++) {
    const col = [m[0][a], m[1][a], m[2][a]];
    const k = col.findIndex((v) => Math.abs(Math.abs(v) - 1) < tol);
    if (k < 0 || col.some((v, i) => i !== k && Math.abs(v) > tol)) return null;
    src[a] = k;
    sign[a] = Math.sign(col[k]);
  }
  if (new Set(src).size !== 3 || [0, 1, 2].some((a) => from.dims[src[a]] !== to.dims[a])) return null;
  const t = [0, 1, 2].map((r) => m[r][3]);
  if (t.some((v) => Math.abs(v - Math.round(v)) > tol)) return null;
  // the first voxel of `to` maps inside `from`, and the grids cover the same box
  for (let a = 0; a < 3; a++) {
    const start = Math.round(t[src[a]]);
    const end = start + sign[a] * (to.dims[a] - 1);
    if (Math.min(start, end) !== 0 || Math.max(start, end) !== from.dims[src[a]] - 1) return null;
  }
  const [X, Y, Z] = to.dims;
  const fStride = [1, from.dims[0], from.dims[0] * from.dims[1]];
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const base = t.map(Math.round);
  let o = 0;
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
    const idx = [base[0], base[1], base[2]];
    const v = [x, y, z];
    for (let a = 0; a < 3; a++) idx[src[a]] += sign[a] * v[a];
    out[o++] = data[idx[0] * fStride[0] + idx[1] * fStride[1] + idx[2] * fStride[2]];
  }
  return out;
}
