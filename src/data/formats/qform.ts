// The NIfTI qform (a rotation as a quaternion, voxel sizes, handedness, offset) for an affine,
// so that files we write carry the same geometry in both qform and sform: some readers (ITK,
// hence ITK-SNAP and 3D Slicer in places) prefer the qform. Only rotations plus voxel scaling
// (no shear) fit a qform; for any other affine the result is null and only the sform is set.

export interface QForm { b: number; c: number; d: number; offset: [number, number, number]; pixdim: [number, number, number]; qfac: 1 | -1 }

export function qformFromAffine(m: number[][], tol = 1e-4): QForm | null {
  const cols = [0, 1, 2].map((j) => [m[0][j], m[1][j], m[2][j]]);
  const pixdim = cols.map((c) => Math.hypot(...c)) as [number, number, number];
  if (pixdim.some((p) => p === 0)) return null;
  const r = cols.map((c, j) => c.map((v) => v / pixdim[j])); // r[j] = unit column j
  // columns must be orthogonal for a pure rotation
  for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) if (Math.abs(r[i][0] * r[j][0] + r[i][1] * r[j][1] + r[i][2] * r[j][2]) > tol) return null;
  const det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) - r[1][0] * (r[0][1] * r[2][2] - r[0][2] * r[2][1]) + r[2][0] * (r[0][1] * r[1][2] - r[0][2] * r[1][1]);
  const qfac: 1 | -1 = det < 0 ? -1 : 1;
  if (qfac < 0) r[2] = r[2].map((v) => -v); // a left-handed grid: the qform flips z
  // R[row][col] = r[col][row]; quaternion (a, b, c, d) of the rotation R, largest-component branch for stability
  const R = (i: number, j: number) => r[j][i];
  const tr = R(0, 0) + R(1, 1) + R(2, 2);
  let a: number, b: number, c: number, d: number;
  if (tr > 0) {
    const s = 2 * Math.sqrt(1 + tr);
    a = s / 4; b = (R(2, 1) - R(1, 2)) / s; c = (R(0, 2) - R(2, 0)) / s; d = (R(1, 0) - R(0, 1)) / s;
  } else if (R(0, 0) > R(1, 1) && R(0, 0) > R(2, 2)) {
    const s = 2 * Math.sqrt(1 + R(0, 0) - R(1, 1) - R(2, 2));
    a = (R(2, 1) - R(1, 2)) / s; b = s / 4; c = (R(0, 1) + R(1, 0)) / s; d = (R(0, 2) + R(2, 0)) / s;
  } else if (R(1, 1) > R(2, 2)) {
    const s = 2 * Math.sqrt(1 + R(1, 1) - R(0, 0) - R(2, 2));
    a = (R(0, 2) - R(2, 0)) / s; b = (R(0, 1) + R(1, 0)) / s; c = s / 4; d = (R(1, 2) + R(2, 1)) / s;
  } else {
    const s = 2 * Math.sqrt(1 + R(2, 2) - R(0, 0) - R(1, 1));
    a = (R(1, 0) - R(0, 1)) / s; b = (R(0, 2) + R(2, 0)) / s; c = (R(1, 2) + R(2, 1)) / s; d = s / 4;
  }
  if (a < 0) { b = -b; c = -c; d = -d; } // the qform stores b, c, d with a >= 0 implied
  return { b, c, d, offset: [m[0][3], m[1][3], m[2][3]], pixdim, qfac };
}
