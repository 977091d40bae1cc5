// k folds of a folder dataset, seeded and stratified by whether an image has any foreground:
// images with and without foreground are shuffled apart and dealt round the folds in turn.
// Written to CV_DIR/folds.json, which every fold (local or on a queue worker) reads.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanFolder } from '../data/images/folder.js';
import { readMaskRaw } from '../data/images/read-image.js';
import { readNifti } from '../data/formats/nifti.js';
import { Rng } from '../data/rng.js';
import { writeFileAtomic } from '../data/atomic.js';

export interface Folds {
  data: string;
  seed: number;
  /** Ids per fold. */
  folds: string[][];
  /** Ids with foreground (the stratum). */
  foreground: string[];
  /** Ids left out of every fold (split.csv's test images). */
  heldOut: string[];
}

export const FOLDS_FILE = 'folds.json';

async function hasForeground(masks: string[]): Promise<boolean> {
  for (const m of masks) {
    const values = /\.nii(\.gz)?$/i.test(m) ? (await readNifti(m)).data : (await readMaskRaw(m)).values;
    if (values.some((v) => v !== 0)) return true;
  }
  return false;
}

/** Folds of DIR's images (those split.csv marks train or val; all when it has none). */
export async function makeFolds(dir: string, k: number, seed: number): Promise<Folds> {
  const ds = await scanFolder(dir, { seed, splitFractions: [1, 0, 0] });
  const used = ds.samples.filter((s) => s.split !== 'test');
  if (used.length < k) throw new Error(`${dir}: ${used.length} images cannot make ${k} folds`);
  const fg: string[] = [], bg: string[] = [];
  for (const s of used) (await hasForeground(s.masks) ? fg : bg).push(s.id);
  const rng = new Rng(seed);
  const order = [...rng.shuffle(fg), ...rng.shuffle(bg)];
  const folds: string[][] = Array.from({ length: k }, () => []);
  order.forEach((id, i) => folds[i % k].push(id));
  return { data: dir, seed, folds: folds.map((f) => f.sort()), foreground: fg.sort(), heldOut: ds.samples.filter((s) => s.split === 'test').map((s) => s.id) };
}

export async function writeFolds(cvDir: string, f: Folds): Promise<void> {
  await writeFileAtomic(join(cvDir, FOLDS_FILE), JSON.stringify(f, null, 1) + '\n');
}

export async function readFolds(cvDir: string): Promise<Folds> {
  const path = join(cvDir, FOLDS_FILE);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Folds;
  } catch (e) {
    throw new Error(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (run unetpp cv first)' : (e as Error).message}`);
  }
}
