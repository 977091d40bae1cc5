// Shared by the DICOM tests: our reading of a series checked against Debian's dcm2niix on the
// same files (same voxel at the same world position, same spacing).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readDicomFolder, type DicomVolume } from '../../src/data/formats/dicom.js';
import { readNifti, type Volume } from '../../src/data/formats/nifti.js';

export const hasDcm2niix = spawnSync('dcm2niix', ['-v']).error === undefined;
export const skipNoDcm2niix = hasDcm2niix ? false : 'dcm2niix not found: apt-get install -y dcm2niix (scripts/setup.sh installs it)';

export function invert4(m: number[][]): number[][] {
  // Gauss-Jordan on a 4x4 affine
  const a = m.map((r, i) => [...r, ...[0, 1, 2, 3].map((j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < 4; c++) {
    let p = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    const d = a[c][c];
    for (let j = 0; j < 8; j++) a[c][j] /= d;
    for (let r = 0; r < 4; r++) if (r !== c) { const f = a[r][c]; for (let j = 0; j < 8; j++) a[r][j] -= f * a[c][j]; }
  }
  return a.map((r) => r.slice(4));
}
export const apply = (m: number[][], v: number[]) => [0, 1, 2].map((r) => m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2] + m[r][3]);

/** Converts dicomDir with dcm2niix and checks every voxel of ours lands on the same value at the same world position. */
export async function compareWithDcm2niix(dicomDir: string, outDir: string): Promise<{ ours: DicomVolume; ref: Volume }> {
  await mkdir(outDir, { recursive: true });
  const r = spawnSync('dcm2niix', ['-z', 'n', '-b', 'n', '-f', 'ref', '-o', outDir, dicomDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const ref = await readNifti(join(outDir, 'ref.nii'));
  const [v] = await readDicomFolder(dicomDir);
  const inv = invert4(ref.affine);
  const [X, Y, Z] = v.dims;
  let compared = 0;
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
    const idx = apply(inv, apply(v.affine, [x, y, z]));
    const round = idx.map(Math.round);
    assert.ok(idx.every((c, a) => Math.abs(c - round[a]) < 1e-3), `voxel (${x},${y},${z}) falls at ${idx} in dcm2niix's grid`);
    const [i, j, k] = round;
    assert.ok(i >= 0 && j >= 0 && k >= 0 && i < ref.dims[0] && j < ref.dims[1] && k < ref.dims[2]);
    assert.equal(v.data[(z * Y + y) * X + x], ref.data[(k * ref.dims[1] + j) * ref.dims[0] + i]);
    compared++;
  }
  assert.equal(compared, ref.data.length);
  assert.deepEqual([...v.spacing].map((s) => +s.toFixed(4)).sort(), [...ref.spacing].map((s) => +s.toFixed(4)).sort());
  return { ours: v, ref };
}

