// Seeded synthetic volumes for the 3D demo and tests: a few blobby ellipsoid "lesions", each
// with a brighter core (label 1 = lesion, 2 = core), on a smooth uneven background with noise,
// in one or two channels (the second sees only the core, as a contrast-enhanced sequence).
// Volume i depends only on (seed, i). writeSyntheticVolumes lays them out as a volume dataset.
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic.js';
import { foregroundLocations, type LabelSpec } from '../labels.js';
import { writeNifti } from '../formats/nifti.js';
import { hashSeed, Rng } from '../rng.js';
import type { SplitName } from '../split-csv.js';
import type { LoadedVolume } from './volume-load.js';

export interface SyntheticVolumeOptions {
  count: number;
  /** [X, Y, Z]; default [48, 48, 32]. */
  dims?: [number, number, number];
  channels?: 1 | 2; // 1
  seed?: number; // 0
  lesions?: [number, number]; // count range, [1, 3]
  radius?: [number, number]; // semi-axis range in voxels, [4, 9]
  noise?: number; // 0.1
  splitFractions?: [number, number, number]; // [0.6, 0.2, 0.2]
  /** Spec for the foreground lists; default classes [1, 2]. */
  labels?: LabelSpec;
}

export function syntheticVolumes(o: SyntheticVolumeOptions): LoadedVolume[] {
  const [X, Y, Z] = o.dims ?? [48, 48, 32];
  const C = o.channels ?? 1;
  const n = X * Y * Z;
  const spec = o.labels ?? { kind: 'classes', values: [1, 2] };
  const [ft, fv] = o.splitFractions ?? [0.6, 0.2, 0.2];
  const order = new Rng(hashSeed(o.seed ?? 0, 0x3d)).shuffle(Array.from({ length: o.count }, (_, i) => i));
  const splitOf = (i: number): SplitName => { const r = order.indexOf(i); return r < Math.round(ft * o.count) ? 'train' : r < Math.round((ft + fv) * o.count) ? 'val' : 'test'; };
  return Array.from({ length: o.count }, (_, i) => {
    const rng = new Rng(hashSeed(o.seed ?? 0, i));
    const labels = new Uint8Array(n);
    const image = new Float32Array(C * n);
    const [gx, gy, gz] = [rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)]; // background gradient
    const [lo, hi] = o.lesions ?? [1, 3];
    const [rlo, rhi] = o.radius ?? [4, 9];
    const blobs = Array.from({ length: lo + rng.int(hi - lo + 1) }, () => {
      const r = [0, 1, 2].map(() => rng.uniform(rlo, rhi));
      return { c: [0, 1, 2].map((a) => rng.uniform(r[a] + 1, [X, Y, Z][a] - r[a] - 1)), r, bright: rng.uniform(0.8, 1.2) };
    });
    for (let z = 0, v = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, v++) {
      let inside = 0, bright = 0;
      for (const b of blobs) {
        const d = Math.hypot((x - b.c[0]) / b.r[0], (y - b.c[1]) / b.r[1], (z - b.c[2]) / b.r[2]);
        if (d <= 1) { inside = Math.max(inside, d <= 0.45 ? 2 : 1); bright = b.bright; }
      }
      labels[v] = inside;
      const bg = gx * (x / X - 0.5) + gy * (y / Y - 0.5) + gz * (z / Z - 0.5);
      image[v] = bg + (inside ? bright : 0) + (inside === 2 ? 0.5 : 0) + (o.noise ?? 0.1) * rng.normal();
      if (C === 2) image[n + v] = bg + (inside === 2 ? 1 : 0) + (o.noise ?? 0.1) * rng.normal();
    }
    const g = { dims: [X, Y, Z] as [number, number, number], spacing: [1, 1, 1] as [number, number, number], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] };
    return { id: `synth_${String(i).padStart(3, '0')}`, split: splitOf(i), channels: C, image, labels, foreground: foregroundLocations(labels, spec), ...g, source: g };
  });
}

/** Writes synthetic volumes as images/<id>_0000[.._0001].nii.gz + labels/<id>.nii.gz + split.csv. */
export async function writeSyntheticVolumes(dir: string, o: SyntheticVolumeOptions): Promise<LoadedVolume[]> {
  const vols = syntheticVolumes(o);
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'labels'), { recursive: true });
  for (const v of vols) {
    const n = v.dims[0] * v.dims[1] * v.dims[2];
    for (let c = 0; c < v.channels; c++)
      await writeNifti(join(dir, 'images', `${v.id}_${String(c).padStart(4, '0')}.nii.gz`), { ...v, channels: 1, data: v.image.subarray(c * n, (c + 1) * n) }, { datatype: 'float32' });
    await writeNifti(join(dir, 'labels', `${v.id}.nii.gz`), { ...v, channels: 1, data: Float32Array.from(v.labels!) }, { datatype: 'uint8' });
  }
  await writeFileAtomic(join(dir, 'split.csv'), 'id,split\n' + vols.map((v) => `${v.id},${v.split}`).join('\n') + '\n');
  return vols;
}
