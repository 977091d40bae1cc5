// Small NIfTI volumes for the volume tests, written into temp folders.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeNifti, type Volume } from '../../src/data/formats/nifti.js';

export const diag = (s: number[], o: number[] = [0, 0, 0]) => [[s[0], 0, 0, o[0]], [0, s[1], 0, o[1]], [0, 0, s[2], o[2]], [0, 0, 0, 1]];

/** A volume from f(x, y, z, c); spacing sets the diagonal affine too. */
export function makeVolume(dims: [number, number, number], f: (x: number, y: number, z: number, c: number) => number,
  spacing: [number, number, number] = [1, 1, 1], channels = 1): Volume & { channels: number } {
  const [X, Y, Z] = dims;
  const data = new Float32Array(X * Y * Z * channels);
  let i = 0;
  for (let c = 0; c < channels; c++) for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) data[i++] = f(x, y, z, c);
  return { dims, spacing, data, affine: diag(spacing), channels };
}

export async function saveVolume(path: string, v: Volume & { channels?: number }, datatype: 'uint8' | 'int16' | 'float32' = 'float32'): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeNifti(path, v, { datatype });
}

/** A ball of label `value` (radius r) at (cx, cy, cz), else 0. */
export const ball = (cx: number, cy: number, cz: number, r: number, value = 1) => (x: number, y: number, z: number) =>
  (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r ? value : 0;
