// A dataset's fingerprint, volumes or images, with a stamp of the dataset's files (names, sizes,
// dates): a cached fingerprint with the same stamp is used as it is, so a second plan of an
// unchanged dataset decodes nothing.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isVolumeFolder } from '../data/volumes/volume-layout.js';
import { fingerprintVolumes, type FingerprintProgress } from './fingerprint-volume.js';
import { fingerprintImages } from './fingerprint-image.js';
import type { DatasetFingerprint } from '../io/dataset-plan.js';

export interface FingerprintOptions {
  /** A fingerprint read from a cache: used when its stamp and folder match. */
  cached?: DatasetFingerprint | null;
  seed?: number;
  onCase?: FingerprintProgress;
}

/** Names, sizes and modification times of every file under dir (hidden ones skipped), hashed. */
export async function datasetStamp(dir: string): Promise<string> {
  const h = createHash('sha1');
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else h.update(`${relative(dir, p)}\t${s.size}\t${Math.round(s.mtimeMs)}\n`);
    }
  };
  await walk(dir);
  return h.digest('hex').slice(0, 16);
}

/** The dataset's fingerprint: the cached one when the files have not changed (`cached` says so). */
export async function fingerprintDataset(dir: string, o: FingerprintOptions = {},
): Promise<{ fingerprint: DatasetFingerprint; cached: boolean }> {
  const stamp = await datasetStamp(dir);
  const c = o.cached;
  if (c && c.version === 1 && c.stamp === stamp && c.dir === dir) return { fingerprint: c, cached: true };
  const fingerprint = (await isVolumeFolder(dir))
    ? await fingerprintVolumes(dir, stamp, { seed: o.seed, onCase: o.onCase })
    : await fingerprintImages(dir, stamp, { seed: o.seed, onCase: o.onCase });
  return { fingerprint, cached: false };
}
