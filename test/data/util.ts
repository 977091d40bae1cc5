// Shared by the data tests: where ../shared/data is, and temp folders of small images.
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** The repo root: dist/test/data/util.js is three levels below it. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const sharedData = join(repoRoot, '..', 'shared', 'data');

/** node:test skip option: a reason string when the folder is missing. */
export function skipUnless(dir: string): string | false {
  return existsSync(dir) ? false : `${dir} not found (real data lives outside the repo, in ../shared/data)`;
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a w x h PNG from a per-pixel function returning 0..255 (1 or 3 channels). */
export async function png(path: string, w: number, h: number, channels: 1 | 3, f: (x: number, y: number, c: number) => number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const px = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) px[(y * w + x) * channels + c] = f(x, y, c);
  await sharp(px, { raw: { width: w, height: h, channels } }).toColourspace(channels === 1 ? 'b-w' : 'srgb').png().toFile(path);
}

export async function garbage(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, Buffer.from('this is not an image at all'));
}
