// The fingerprint of a 2D folder dataset: per image its size and channels, per class mask the
// foreground fraction, per channel the mean and std of the pixels (0..1 scale).
import { scanFolder, type FolderOptions } from '../data/images/folder.js';
import { readImage, readMaskRaw } from '../data/images/read-image.js';
import { fileError } from '../data/file-error.js';
import type { ImageCaseFingerprint, ImageFingerprint } from '../io/dataset-plan.js';
import type { FingerprintProgress } from './fingerprint-volume.js';

export async function fingerprintImages(dir: string, stamp: string, o: FolderOptions & { onCase?: FingerprintProgress } = {},
): Promise<ImageFingerprint> {
  const ds = await scanFolder(dir, o);
  const samples = ds.samples.filter((s) => s.masks.length);
  if (!samples.length) throw fileError(dir, 'has no images with masks to plan from');
  const cases: ImageCaseFingerprint[] = [];
  for (const [i, s] of samples.entries()) {
    const img = await readImage(s.image);
    const plane = img.width * img.height;
    const mean: number[] = [], std: number[] = [];
    for (let c = 0; c < img.channels; c++) {
      let sum = 0, s2 = 0;
      for (let k = c * plane; k < (c + 1) * plane; k++) { sum += img.data[k]; s2 += img.data[k] * img.data[k]; }
      const m = sum / plane;
      mean.push(+m.toFixed(5));
      std.push(+Math.sqrt(Math.max(0, s2 / plane - m * m)).toFixed(5));
    }
    const classFractions: number[] = [];
    for (const path of s.masks) {
      const m = await readMaskRaw(path);
      // as the loader reads them: JPEG thresholded at half scale, else any non-zero value
      const cut = /\.jpe?g$/i.test(path) ? m.max / 2 : 0;
      let on = 0;
      for (let k = 0; k < m.values.length; k++) if (m.values[k] > cut) on++;
      classFractions.push(+(on / m.values.length).toFixed(5));
    }
    cases.push({
      id: s.id, split: s.split, width: img.width, height: img.height, channels: img.channels, classFractions, channelMean: mean, channelStd: std,
    });
    o.onCase?.(i + 1, samples.length, s.id);
  }
  return { kind: 'image', version: 1, dir, stamp, classes: ds.classes, cases };
}
