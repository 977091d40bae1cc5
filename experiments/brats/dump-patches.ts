// The PyTorch twin's input (issue 17 part 8): every epoch's training batches of run.ts's
// unetpp3d run, built by the loader trainVolumes builds (volumePatchLoader with run.ts's options:
// setup.ts), one file per epoch (../common/patch-dump.ts), plus the run's initial weights as a PyTorch
// state_dict (init.safetensors) and manifest.json. Resumable: finished epoch files are kept.
//   npm run build && node dist/experiments/brats/dump-patches.js [--dir /tmp/brats-patches] [--epochs 24] [--steps N]
//     --steps N: only the first N batches of each epoch (smoke tests; a prefix of the same stream)
//     --verify: re-derive every dumped batch from a fresh loader in this process (no prefetch, each
//               epoch entered directly as a resume does) and compare checksums and bytes
//     --check-trainer: train one epoch with trainVolumes (a small model of the same input and
//               classes; the stream does not depend on the model) and compare the batches its
//               loader yields to epoch-001's checksums
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { SegModel } from '../../src/models/model.js';
import { exportPyTorch, importPyTorch } from '../../src/io/pytorch.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { trainVolumes, volumePatchLoader } from '../../src/train/volumes.js';
import { DATA, PATCH_TRAINING, OPTIMIZER, arg, model3dConfig, openBrats } from './setup.js';
import { epochFile, readPatchEpoch, recordTrainerBatches, verifyDump, writePatchEpoch, type DumpBatch } from '../common/patch-dump.js';

const DIR = arg('--dir') ?? '/tmp/brats-patches';
const EPOCHS = Number(arg('--epochs') ?? 24);
const STEPS = arg('--steps') === undefined ? undefined : Number(arg('--steps'));
const data = await openBrats();
if (!data) { console.log(`dump-patches: ${DATA} is absent (the shared data folder); nothing to do`); process.exit(0); }
mkdirSync(DIR, { recursive: true });

const loader = volumePatchLoader(data.train, PATCH_TRAINING);
const perEpoch = STEPS === undefined ? loader.length : Math.min(STEPS, loader.length);
const config = new SegModel(model3dConfig('unetpp')).config;
const manifest = {
  format: 'unetpp-patch-dump', data: DATA, train: Array.from({ length: data.train.length }, (_, i) => data.train.nameOf(i)),
  options: PATCH_TRAINING, optimizer: OPTIMIZER, model: config, batchesPerEpoch: loader.length, dumpedPerEpoch: perEpoch,
  files: { init: 'init.safetensors', epoch: epochFile(1).replace('001', 'NNN') },
};
const manifestPath = join(DIR, 'manifest.json');
if (existsSync(manifestPath)) {
  const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as typeof manifest & { epochs?: number };
  const same = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(old.options, manifest.options) || !same(old.model, manifest.model) || old.dumpedPerEpoch !== perEpoch || old.data !== DATA)
    throw new Error(`${DIR} holds a dump of other settings (manifest.json); use another --dir or delete it`);
}
const writeManifest = (epochs: number) => {
  writeFileSync(`${manifestPath}.tmp`, JSON.stringify({ ...manifest, epochs }, null, 1) + '\n');
  renameSync(`${manifestPath}.tmp`, manifestPath);
};

// The initial weights: the seeded model trainVolumes starts from, in the peer's state_dict format.
const initPath = join(DIR, 'init.safetensors');
if (!existsSync(initPath)) {
  const model = new SegModel(model3dConfig('unetpp'));
  exportPyTorch(initPath, model, { seed: String(config.seed), source: 'unetpp SegModel init (experiments/brats/setup.ts model3dConfig)' });
  const back = importPyTorch(initPath, { config: model3dConfig('unetpp') });
  for (const n of model.params.names())
    if (Buffer.compare(Buffer.from(back.params.get(n).data.buffer), Buffer.from(model.params.get(n).data.buffer)) !== 0) throw new Error(`init.safetensors: ${n} does not round-trip`);
  console.log(`init: ${model.params.count()} params -> ${initPath}`);
}

const seed = loader.getState().seed;
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  const path = join(DIR, epochFile(epoch));
  if (existsSync(path)) continue;
  const t0 = performance.now();
  // The trainer's epoch e (1-based) is the loader's epoch e - 1; entering it directly is what a resume does.
  loader.setState({ seed, epoch: epoch - 1, batch: 0 });
  const batches: DumpBatch[] = [];
  for await (const b of loader.epoch()) {
    batches.push(b);
    if (batches.length >= perEpoch) break;
  }
  const info = writePatchEpoch(path, epoch, batches, { seed: String(seed) });
  writeManifest(epoch);
  console.log(`epoch ${epoch}: ${batches.length} batches [${batches[0].n}, ${batches[0].c}, ${batches[0].d}, ${batches[0].h}, ${batches[0].w}] -> ${path} ` +
    `(${((performance.now() - t0) / 1000).toFixed(1)} s; first ${info[0].sha256.slice(0, 12)}, ${info[0].ids.join('+')}, fg ${info[0].foreground.join(',')})`);
}
writeManifest(EPOCHS);

if (process.argv.includes('--verify')) {
  const fresh = volumePatchLoader(data.train, PATCH_TRAINING);
  const checked = await verifyDump(DIR, EPOCHS, (e, b) => fresh.makeBatch(e, b));
  console.log(`verify: ${checked} batches of ${EPOCHS} epochs equal a fresh loader's (no prefetch, entered by position) byte for byte`);
}

if (process.argv.includes('--check-trainer')) {
  // What trainVolumes' loader yields to the training loop, batch by batch.
  const { seen, restore } = recordTrainerBatches();
  const out = join(tmpdir(), `brats-check-trainer-${process.pid}`);
  const small = new SegModel({ ...model3dConfig('unetpp'), filters: [4, 8, 16, 32, 64] });
  const t0 = performance.now();
  await trainVolumes(small, { train: data.train, val: data.val }, {
    ...PATCH_TRAINING, outDir: out, epochs: 1, backend: getBackend('auto'), optimizer: OPTIMIZER, patience: false, progress: false, plot: false, monitor: 'dice',
  });
  restore();
  rmSync(out, { recursive: true, force: true });
  const dumped = readPatchEpoch(join(DIR, epochFile(1))).batches.map((b) => b.info.sha256);
  if (seen.length !== loader.length) throw new Error(`check-trainer: the trainer took ${seen.length} batches, expected ${loader.length}`);
  dumped.forEach((d, i) => { if (seen[i] !== d) throw new Error(`check-trainer: epoch 1 batch ${i}: the trainer got ${seen[i].slice(0, 12)}, the dump has ${d.slice(0, 12)}`); });
  console.log(`check-trainer: trainVolumes' epoch 1 (${seen.length} batches, ${((performance.now() - t0) / 1000).toFixed(0)} s) yields the dumped batches (${dumped.length} compared): first ${seen[0].slice(0, 16)}`);
}
