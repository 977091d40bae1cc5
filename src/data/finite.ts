// Non-finite voxels (NaN, +-Inf) in an image are an error naming the file and the first such
// voxel: normalisation would spread them over the whole volume, and the network would then
// predict nothing (an empty mask) or training would stop on a non-finite loss far from the cause.
import { fileError } from './file-error.js';

/** Throws, naming `path`, at the first non-finite value of data ([C, Z, Y, X] or [C, Y, X]; dims from x out). */
export function checkFiniteVoxels(data: ArrayLike<number>, dims: readonly number[], path: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v === 0) continue; // finite (NaN - NaN and Inf - Inf are NaN)
    let count = 0;
    for (let j = i; j < data.length; j++) if (!Number.isFinite(data[j])) count++;
    const n = dims.reduce((a, b) => a * b, 1);
    const at: number[] = [], c = Math.floor(i / n);
    let r = i % n;
    for (const d of dims) { at.push(r % d); r = Math.floor(r / d); }
    const what = dims.length === 2 ? 'pixel' : 'voxel';
    const where = `(${at.join(',')})${data.length > n ? ` in volume ${c}` : ''}`;
    throw fileError(path, `${count} non-finite ${what}${count > 1 ? 's' : ''} (the first, ${v}, at ${where}): ` +
      'replace NaN/Inf in the image (e.g. by 0 or the minimum) before training or predicting');
  }
}
