// What the BraTS experiment's scripts share: where the data and the outputs are, the 3D models
// and the patch-training options, so that run.ts (our training and all scoring) and
// dump-patches.ts (the PyTorch twin's input: the same patches, the same initial weights) cannot
// drift apart.
import { existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BRATS_REGIONS } from '../../src/data/labels.js';
import { DEFAULT_AUGMENT_3D } from '../../src/data/augmentation/augment3d.js';
import { openVolumes } from '../../src/data/volumes/volume-dataset.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { VolumeTrainOptions } from '../../src/train/volumes.js';
import type { LoadedVolume } from '../../src/data/volumes/volume-load.js';
import type { VolumeStore } from '../../src/data/volumes/volume-store.js';
import type { Backend } from '../../src/engine/backend.js';
import type { SegModel } from '../../src/models/model.js';
import { createPredictor, type ProbMap } from '../../src/infer/predict.js';
import { labelsFromPlanes } from '../../src/data/labels.js';
import { scoreLabelVolumes, scoredClassNames } from '../../src/metrics/volume.js';

/** This folder in the sources (also when run from dist/). */
export const here = dirname(fileURLToPath(import.meta.url)).replace(`${'/dist'}/experiments`, '/experiments');
export const arg = (k: string): string | undefined => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
export const DATA = process.env.BRATS_DIR ?? join(here, '..', '..', '..', 'shared', 'data', 'brats2015-6cases');
/** Where runs/ and results/ go: --out DIR or $BRATS_OUT (smoke tests), else this folder. */
export const OUT = resolve(arg('--out') ?? process.env.BRATS_OUT ?? here);
export const PATCH: [number, number, number] = [64, 64, 64];
export const FILTERS_3D = [16, 32, 64, 128, 256];
export const VALIDATE_EVERY = 8;
export const spec = BRATS_REGIONS;

/** The 3D models (seeded: the same initial weights in every run). */
export const model3dConfig = (arch: 'unetpp' | 'unet'): Partial<ModelConfig> =>
  ({ arch, dims: 3, inChannels: 2, classes: 3, multiclass: 'sigmoid', filters: FILTERS_3D, deepSupervision: arch === 'unetpp', seed: 0 });

/** The 3D runs' patch stream and loss (with run.ts's outDir, epochs, backend, optimiser: trainVolumes' options). */
export const PATCH_TRAINING = {
  seed: 0, validateEvery: VALIDATE_EVERY, patch: PATCH, batchSize: 2, samplesPerEpoch: 16, augment3d: DEFAULT_AUGMENT_3D, labels: spec,
  loss: { kind: 'bce_dice' as const, bceWeight: 0.5 },
} satisfies Partial<VolumeTrainOptions>;
export const OPTIMIZER = { kind: 'adam' as const, lr: 1e-3 };

/** The 2 train / 2 validation / 2 test cases, cropped to the brain's box; null when the data is absent. */
export async function openBrats() {
  if (!existsSync(DATA)) return null;
  const vd = await openVolumes(DATA, { labels: spec, cropToNonzero: true });
  const { train, val, test } = vd.splits;
  if (!train || !val || !test) throw new Error(`${DATA}: expected train, validation and test cases`);
  return { train, val, test };
}

/** A 3D model's test predictions (unetpp3d, unet3d and the peer's unetpp3d alike): windows of the patch, overlap 0.5. */
export function volumePredictor(m: SegModel, backend: Backend): (v: LoadedVolume) => ProbMap {
  const predictor = createPredictor(m, { backend, tile: PATCH, overlap: 0.5 });
  return (v) => predictor.predict({ data: v.image, channels: 2, sizes: [v.dims[2], v.dims[1], v.dims[0]] });
}

export interface TestRow { id: string; ms: number; dice: number[]; hd95: (number | undefined)[]; meanDice: number }

/** Every test case scored per region (Dice, HD95 in mm) from the labels `predict` writes. */
export async function testRows(name: string, store: VolumeStore, predictVolume: (v: LoadedVolume) => ProbMap): Promise<TestRow[]> {
  const rows: TestRow[] = [];
  for (let i = 0; i < store.length; i++) {
    const v = await store.get(i);
    const t0 = performance.now();
    const p = predictVolume(v);
    const ms = performance.now() - t0;
    const s = scoreLabelVolumes(labelsFromPlanes(p, spec), v.labels!, spec, v.dims, v.spacing, { hd95: true });
    rows.push({ id: v.id, ms, dice: s.perClass.map((c) => c.dice), hd95: s.perClass.map((c) => c.hd95), meanDice: s.mean.dice });
    console.log(`${name} ${v.id}: Dice ${s.perClass.map((c) => c.dice.toFixed(3)).join(' / ')} (${scoredClassNames(spec).join(' / ')})`);
  }
  return rows;
}
