// Issue 17 part 8: on ../shared/data/brats2015-6cases (2 train / 2 val / 2 test by name; FLAIR
// and T1c), 3D UNet++ vs 3D U-Net vs 2D UNet++ slice by slice, each with the same wall-clock
// training budget, scored per test case and per BraTS region (whole tumour, tumour core,
// enhancing) with Dice and HD95 in mm. The 3D models train the same fixed schedule (--epochs of
// 16 patches of 64^3, batch 2, validated every 8 epochs; the best validation Dice is scored), the
// 2D model a wall-clock budget (--seconds, default 900). Resumable: each model's run keeps last.safetensors
// and resumes from it; a finished model's scores go to results/<name>.json and it is skipped then.
//   npm run build && node dist/experiments/brats/run.js [--epochs 24] [--only unetpp3d,unet3d,unetpp2d]
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openVolumes } from '../../src/data/volume-dataset.js';
import { BRATS_REGIONS } from '../../src/data/labels.js';
import { volumeToSlices } from '../../src/data/volume-slices.js';
import type { LoadedVolume } from '../../src/data/volume-load.js';
import { SegModel } from '../../src/models/model.js';
import { createPredictor, type Predictor, type ProbMap } from '../../src/infer/predict.js';
import { labelsFromPlanes } from '../../src/infer/volume-files.js';
import { scoreLabelVolumes, scoredClassNames } from '../../src/metrics/volume.js';
import { trainVolumes } from '../../src/train/volumes.js';
import { train } from '../../src/train/trainer.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { DEFAULT_AUGMENT_3D } from '../../src/data/augment3d.js';

const here = dirname(fileURLToPath(import.meta.url)).replace(`${'/dist'}/experiments`, '/experiments');
const DATA = process.env.BRATS_DIR ?? join(here, '..', '..', '..', 'shared', 'data', 'brats2015-6cases');
const arg = (k: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
const EPOCHS = Number(arg('--epochs') ?? 24);
const VALIDATE_EVERY = 8;
const ONLY = (arg('--only') ?? 'unetpp3d,unet3d,unetpp2d').split(',');
const PATCH: [number, number, number] = [64, 64, 64];
const FILTERS_3D = [16, 32, 64, 128, 256];
const spec = BRATS_REGIONS;

if (!existsSync(DATA)) { console.log(`brats: ${DATA} is absent (the shared data folder); nothing to do`); process.exit(0); }
mkdirSync(join(here, 'results'), { recursive: true });
const backend = getBackend('auto');
const vd = await openVolumes(DATA, { labels: spec, cropToNonzero: true });
const { train: trainStore, val: valStore, test: testStore } = vd.splits;
if (!trainStore || !valStore || !testStore) throw new Error(`${DATA}: expected train, validation and test cases`);

/** Training facts kept beside the scores; seconds sum the epochs' own times, so a resumed run counts them all. */
const facts = (r: { history: { seconds: number }[]; bestEpoch: number; epochs: number; stepMs: number }) =>
  ({ trainSeconds: r.history.reduce((t, e) => t + e.seconds, 0), epochsRun: r.epochs, bestEpoch: r.bestEpoch, stepMs: r.stepMs });

async function score(name: string, predictVolume: (v: LoadedVolume) => ProbMap, train: ReturnType<typeof facts>): Promise<void> {
  const rows = [];
  for (let i = 0; i < testStore!.length; i++) {
    const v = await testStore!.get(i);
    const t0 = performance.now();
    const p = predictVolume(v);
    const ms = performance.now() - t0;
    const s = scoreLabelVolumes(labelsFromPlanes(p, spec), v.labels!, spec, v.dims, v.spacing, { hd95: true });
    rows.push({ id: v.id, ms, dice: s.perClass.map((c) => c.dice), hd95: s.perClass.map((c) => c.hd95), meanDice: s.mean.dice });
    console.log(`${name} ${v.id}: Dice ${s.perClass.map((c) => c.dice.toFixed(3)).join(' / ')} (${scoredClassNames(spec).join(' / ')})`);
  }
  const out = join(here, 'results', `${name}.json`);
  writeFileSync(`${out}.tmp`, JSON.stringify({ name, classes: scoredClassNames(spec), patch: PATCH, epochs: EPOCHS, ...train, backend: backend.name, date: new Date().toISOString(), rows }, null, 1) + '\n');
  renameSync(`${out}.tmp`, out);
}

const done = (name: string) => existsSync(join(here, 'results', `${name}.json`));
const runDir = (name: string) => join(here, 'runs', name);
const common = (name: string) => ({
  outDir: runDir(name), epochs: EPOCHS, backend, seed: 0, optimizer: { kind: 'adam' as const, lr: 1e-3 }, patience: false as const,
  resume: existsSync(join(runDir(name), 'last.safetensors')), progress: false, plot: false, log: console.log, monitor: 'dice' as const,
});

for (const arch of ['unetpp', 'unet'] as const) {
  const name = `${arch}3d`;
  if (!ONLY.includes(name) || done(name)) continue;
  const model = new SegModel({ arch, dims: 3, inChannels: 2, classes: 3, multiclass: 'sigmoid', filters: FILTERS_3D, deepSupervision: arch === 'unetpp', seed: 0 });
  const r = await trainVolumes(model, { train: trainStore, val: valStore }, {
    ...common(name), validateEvery: VALIDATE_EVERY, patch: PATCH, batchSize: 2, samplesPerEpoch: 16, augment3d: DEFAULT_AUGMENT_3D, labels: spec, loss: { kind: 'bce_dice', bceWeight: 0.5 },
  });
  const predictor: Predictor = createPredictor(loadModel(r.bestPath), { backend, tile: PATCH, overlap: 0.5 });
  await score(name, (v) => predictor.predict({ data: v.image, channels: 2, depth: v.dims[2], height: v.dims[1], width: v.dims[0] }), facts(r));
}

if (ONLY.includes('unetpp2d') && !done('unetpp2d')) {
  const slices = async (store: typeof trainStore) => (await Promise.all(Array.from({ length: store!.length }, (_, i) => store!.get(i)))).flatMap((v) => volumeToSlices(v, spec, { emptyFraction: 0.2 }));
  const model = new SegModel({ dims: 2, inChannels: 2, classes: 3, multiclass: 'sigmoid', filters: [32, 64, 128, 256, 512], deepSupervision: true, seed: 0 });
  // a wall-clock budget: the 3D runs' times depend on the machine's load, so it is fixed
  const budget = Number(arg('--seconds') ?? 900);
  const r = await train(model, { train: await slices(trainStore), val: await slices(valStore) }, {
    ...common('unetpp2d'), epochs: 1000, timeLimitSeconds: budget, batchSize: 8, crop: { height: 96, width: 96 }, augment: { flip: true, rotate90: true }, loss: { kind: 'bce_dice', bceWeight: 0.5 },
  });
  const predictor = createPredictor(loadModel(r.bestPath), { backend });
  await score('unetpp2d', (v) => {
    // slice by slice: the 2D model's probabilities stacked back into [K, Z, Y, X]
    const [X, Y, Z] = v.dims, plane = X * Y, out = new Float32Array(3 * Z * plane);
    for (let z = 0; z < Z; z++) {
      const img = new Float32Array(2 * plane);
      for (let c = 0; c < 2; c++) img.set(v.image.subarray(c * Z * plane + z * plane, c * Z * plane + (z + 1) * plane), c * plane);
      const p = predictor.predict({ data: img, channels: 2, height: Y, width: X });
      for (let k = 0; k < 3; k++) out.set(p.data.subarray(k * plane, (k + 1) * plane), k * Z * plane + z * plane);
    }
    return { data: out, classes: 3, depth: Z, height: Y, width: X };
  }, facts(r));
}
console.log('brats: results in', join(here, 'results'));
