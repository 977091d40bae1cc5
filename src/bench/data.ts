// Data pipeline timings: decode + resize of a folder split (dsb2018 train at 96x96 by default),
// then augmented batches. Run: node dist/src/bench/data.js [dir] [size] [batch]
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { loadFolder } from '../data/images/folder.js';
import { BatchLoader } from '../data/loaders/loader.js';
import { DEFAULT_AUGMENT } from '../data/augmentation/augment.js';

export interface DataBenchResult {
  images: number;
  loadSeconds: number;
  batchMs: { median: number; min: number; max: number };
  batchMsNoAugment: number;
}

export async function benchData(dir: string, size = 96, batchSize = 16, batches = 30): Promise<DataBenchResult> {
  const t0 = performance.now();
  const { samples } = await loadFolder(dir, { split: 'train', size: { width: size, height: size } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const time = (augment: boolean) => {
    const l = new BatchLoader(samples, { batchSize, seed: 1, augment: augment ? DEFAULT_AUGMENT : null, normalize: { kind: 'zscore' } });
    const ms: number[] = [];
    for (let b = 0; b < batches; b++) {
      const t = performance.now();
      l.makeBatch(Math.floor(b / l.length), b % l.length);
      ms.push(performance.now() - t);
    }
    return ms.sort((a, b) => a - b);
  };
  const aug = time(true);
  const plain = time(false);
  return {
    images: samples.length,
    loadSeconds,
    batchMs: { median: aug[aug.length >> 1], min: aug[0], max: aug[aug.length - 1] },
    batchMsNoAugment: plain[plain.length >> 1],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
  const dir = process.argv[2] ?? join(root, '..', 'shared', 'data', 'dsb2018');
  if (!existsSync(dir)) {
    console.log(`skipped: ${dir} not found`);
  } else {
    const size = Number(process.argv[3] ?? 96);
    const batch = Number(process.argv[4] ?? 16);
    const r = await benchData(dir, size, batch);
    console.log(`${dir}: ${r.images} train images decoded + resized to ${size}x${size} in ${r.loadSeconds.toFixed(2)} s`);
    console.log(`augmented batch of ${batch}: median ${r.batchMs.median.toFixed(1)} ms (min ${r.batchMs.min.toFixed(1)}, max ${r.batchMs.max.toFixed(1)}); without augmentation ${r.batchMsNoAugment.toFixed(1)} ms`);
  }
}
