// The PyTorch peer's input for the Hippocampus time-to-accuracy run: the training batches of
// `unetpp train -d DATA --plan PLAN` (the loader trainVolumes builds, volumePatchLoader with the
// options the command resolves from the plan, seeded; augmentation applied), one file per epoch
// (../common/patch-dump.ts: x float32, targets as uint8 class indices), plus the run's initial
// weights as a PyTorch state_dict (init.safetensors) and manifest.json (plan, loader, loss,
// optimiser, model). Resumable: finished epoch files are kept.
//   npm run build && node dist/experiments/hippocampus-peer/dump-patches.js [--patches DIR] [--plan PLAN]
//     [--max-steps 10000 | --epochs N] [--steps N] [--verify] [--check-trainer]
//     --max-steps: dump the epochs that hold this many batches (default 10000: more than either engine's hour)
//     --steps N: only the first N batches of each epoch (smoke tests; a prefix of the same stream)
//     --verify: re-derive every dumped batch from a fresh loader (no prefetch, each epoch entered
//               directly as a resume does) and compare checksums
//     --check-trainer: train epoch 1 with trainVolumes and the command's options (a small model of
//               the same input and classes; the stream does not depend on it) and compare the
//               batches its loader yields with epoch-001's checksums
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { SegModel } from '../../src/models/model.js';
import { exportPyTorch, importPyTorch } from '../../src/io/pytorch.js';
import { trainVolumes, volumePatchLoader } from '../../src/train/volumes.js';
import { epochFile, readPatchEpoch, recordTrainerBatches, verifyDump, writePatchEpoch, type DumpBatch } from '../common/patch-dump.js';
import { DATA, PATCHES, PLAN, arg, planRun } from './setup.js';

const STEPS = arg('--steps') === undefined ? undefined : Number(arg('--steps'));
if (!existsSync(join(DATA, 'dataset.json'))) {
  console.log(`dump-patches: ${DATA} is absent (the shared data folder); nothing to do`);
  process.exit(0);
}
mkdirSync(PATCHES, { recursive: true });

const { model, data, options } = await planRun(PATCHES);
const loader = volumePatchLoader(data.train, options);
const perEpoch = STEPS === undefined ? loader.length : Math.min(STEPS, loader.length);
const EPOCHS = arg('--epochs') !== undefined ? Number(arg('--epochs'))
  : Math.ceil(Number(arg('--max-steps') ?? 10000) / loader.length);
const cfg = model.config;
const plan = JSON.parse(readFileSync(PLAN, 'utf8'));
// what the peer must reproduce (it refuses a manifest it cannot follow)
const { patch, batchSize, samplesPerEpoch, seed, foregroundFraction, augment3d, labels } = options;
const { loss, optimizer, schedule, clipNorm } = options;
const manifest = {
  format: 'unetpp-patch-dump', data: DATA, plan: { path: PLAN, created: plan.created, timeBudget: plan.created?.timeBudget },
  train: Array.from({ length: data.train.length }, (_, i) => data.train.nameOf(i)),
  options: { patch, batchSize, samplesPerEpoch, seed, foregroundFraction, augment3d, labels },
  loss, optimizer, schedule: schedule ?? { kind: 'constant' }, clipNorm: clipNorm ?? null, model: cfg,
  batchesPerEpoch: loader.length, dumpedPerEpoch: perEpoch, target: 'index',
  files: { init: 'init.safetensors', epoch: epochFile(1).replace('001', 'NNN') },
};
const manifestPath = join(PATCHES, 'manifest.json');
if (existsSync(manifestPath)) {
  const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as typeof manifest;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(old.options, manifest.options) || !same(old.model, manifest.model) || !same(old.loss, manifest.loss) ||
      old.dumpedPerEpoch !== perEpoch || old.data !== DATA || !same(old.plan.created, manifest.plan.created))
    throw new Error(`${PATCHES} holds a dump of other settings (manifest.json); use another --patches or delete it`);
}
const writeManifest = (epochs: number) => {
  writeFileSync(`${manifestPath}.tmp`, `${JSON.stringify({ ...manifest, epochs }, null, 1)}\n`);
  renameSync(`${manifestPath}.tmp`, manifestPath);
};

// The initial weights: the seeded model the command trains, in the peer's state_dict format.
const initPath = join(PATCHES, 'init.safetensors');
if (!existsSync(initPath)) {
  const source = 'unetpp train --plan: the seeded SegModel (experiments/hippocampus-peer)';
  exportPyTorch(initPath, model, { seed: String(cfg.seed), source });
  const back = importPyTorch(initPath, { config: cfg });
  for (const n of model.params.names())
    if (Buffer.compare(Buffer.from(back.params.get(n).data.buffer), Buffer.from(model.params.get(n).data.buffer)) !== 0)
      throw new Error(`init.safetensors: ${n} does not round-trip`);
  console.log(`init: ${model.params.count()} params -> ${initPath}`);
}

const seed0 = loader.getState().seed;
let bytes = 0;
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  const path = join(PATCHES, epochFile(epoch));
  if (existsSync(path)) continue;
  const t0 = performance.now();
  // The trainer's epoch e (1-based) is the loader's epoch e - 1; entering it directly is what a resume does.
  loader.setState({ seed: seed0, epoch: epoch - 1, batch: 0 });
  const batches: DumpBatch[] = [];
  for await (const b of loader.epoch()) {
    batches.push(b);
    if (batches.length >= perEpoch) break;
  }
  const info = writePatchEpoch(path, epoch, batches, { seed: String(seed0) }, 'index');
  writeManifest(epoch);
  bytes = readFileSync(path).byteLength;
  const b0 = batches[0];
  const took = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`epoch ${epoch}/${EPOCHS}: ${batches.length} batches [${b0.n}, ${b0.c}, ${b0.d}, ${b0.h}, ${b0.w}] -> ${path} ` +
    `(${(bytes / 2 ** 20).toFixed(1)} MiB, ${took} s; first ${info[0].sha256.slice(0, 12)}, ${info[0].ids.join('+')})`);
}
writeManifest(EPOCHS);

if (process.argv.includes('--verify')) {
  const fresh = volumePatchLoader(data.train, options);
  const checked = await verifyDump(PATCHES, EPOCHS, (e, b) => fresh.makeBatch(e, b));
  console.log(`verify: ${checked} batches of ${EPOCHS} epochs equal a fresh loader's (no prefetch, entered by position)`);
}

if (process.argv.includes('--check-trainer')) {
  // What trainVolumes' loader yields to the training loop, batch by batch.
  const { seen, restore } = recordTrainerBatches();
  const out = join(tmpdir(), `hippo-check-trainer-${process.pid}`);
  const small = new SegModel({ ...cfg, filters: cfg.filters.map(() => 4) });
  const t0 = performance.now();
  await trainVolumes(small, data, {
    ...options, outDir: out, epochs: 1, timeLimitSeconds: undefined, fitEpochsToTime: false, progress: false, plot: false,
    resume: false, log: null,
  });
  restore();
  rmSync(out, { recursive: true, force: true });
  const dumped = readPatchEpoch(join(PATCHES, epochFile(1))).batches.map((b) => b.info.sha256);
  if (seen.length !== loader.length)
    throw new Error(`check-trainer: the trainer took ${seen.length} batches, expected ${loader.length}`);
  dumped.forEach((d, i) => {
    if (seen[i] !== d)
      throw new Error(`check-trainer: epoch 1 batch ${i}: the trainer got ${seen[i].slice(0, 12)}, the dump has ${d.slice(0, 12)}`);
  });
  const took = ((performance.now() - t0) / 1000).toFixed(0);
  console.log(`check-trainer: trainVolumes' epoch 1 (${seen.length} batches, ${took} s) yields the dumped batches ` +
    `(${dumped.length} compared)`);
}
const size = bytes ? ` (~${(bytes / 2 ** 20).toFixed(1)} MiB an epoch)` : '';
console.log(`dump: ${EPOCHS} epochs of ${perEpoch} batches in ${PATCHES}${size}`);
