// Issue 17 part 8: on ../shared/data/brats2015-6cases (2 train / 2 val / 2 test by name; FLAIR
// and T1c), 3D UNet++ vs 3D U-Net vs 2D UNet++ slice by slice, each with the same wall-clock
// training budget, scored per test case and per BraTS region (whole tumour, tumour core,
// enhancing) with Dice and HD95 in mm. The 3D models train the same fixed schedule (--epochs of
// 16 patches of 64^3, batch 2, validated every 8 epochs; the best validation Dice is scored), the
// 2D model a wall-clock budget (--seconds, default 900). Resumable: each model's run keeps last.safetensors
// and resumes from it; a finished model's scores go to results/<name>.json and it is skipped then.
// unetpp3d-peer (not in the default --only): the same run trained by the PyTorch peer
// (dump-patches.ts, peer_train.py), validated and scored here by our code (README.md).
//   npm run build && node dist/experiments/brats/run.js [--epochs 24] [--only unetpp3d,unet3d,unetpp2d,unetpp3d-peer] [--out DIR]
//   --out DIR (or $BRATS_OUT): runs/ and results/ under DIR instead of this folder (smoke tests)
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { volumeToSlices } from '../../src/data/volumes/volume-slices.js';
import type { LoadedVolume } from '../../src/data/volumes/volume-load.js';
import { SegModel } from '../../src/models/model.js';
import { createPredictor, type ProbMap } from '../../src/infer/predict.js';
import { scoredClassNames } from '../../src/metrics/volume.js';
import { trainVolumes, validateVolumes } from '../../src/train/volumes.js';
import { train } from '../../src/train/trainer.js';
import { EarlyStopping } from '../../src/train/early-stop.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { PlanCache } from '../../src/train/plans.js';
import { epochFile, readPatchEpoch } from '../common/patch-dump.js';
import { DATA, OUT, OPTIMIZER, PATCH, PATCH_TRAINING, arg, model3dConfig, openBrats, spec, testRows, volumePredictor as volumePredictorFor } from './setup.js';

const EPOCHS = Number(arg('--epochs') ?? 24);
const ONLY = (arg('--only') ?? 'unetpp3d,unet3d,unetpp2d').split(',');

const splits = await openBrats();
if (!splits) { console.log(`brats: ${DATA} is absent (the shared data folder); nothing to do`); process.exit(0); }
const results = join(OUT, 'results');
mkdirSync(results, { recursive: true });
const backend = getBackend('auto');
const { train: trainStore, val: valStore, test: testStore } = splits;

/** Training facts kept beside the scores; seconds sum the epochs' own times, so a resumed run counts them all. */
const facts = (r: { history: { epoch: number; trainLoss: number; dice: number; seconds: number }[]; bestEpoch: number; epochs: number; stepMs: number }) =>
  ({ trainSeconds: r.history.reduce((t, e) => t + e.seconds, 0), epochsRun: r.epochs, bestEpoch: r.bestEpoch, stepMs: r.stepMs,
    history: r.history.map(({ epoch, trainLoss, dice, seconds }) => ({ epoch, trainLoss, valDice: Number.isFinite(dice) ? dice : null, seconds })) });

async function score(name: string, predictVolume: (v: LoadedVolume) => ProbMap, train: ReturnType<typeof facts> & Record<string, unknown>): Promise<void> {
  const rows = await testRows(name, testStore!, predictVolume);
  const out = join(results, `${name}.json`);
  writeFileSync(`${out}.tmp`, JSON.stringify({ name, classes: scoredClassNames(spec), patch: PATCH, epochs: EPOCHS, ...train, backend: backend.name, date: new Date().toISOString(), rows }, null, 1) + '\n');
  renameSync(`${out}.tmp`, out);
}

const volumePredictor = (m: SegModel) => volumePredictorFor(m, backend);

const done = (name: string) => existsSync(join(results, `${name}.json`));
const runDir = (name: string) => join(OUT, 'runs', name);
const common = (name: string) => ({
  outDir: runDir(name), epochs: EPOCHS, backend, seed: 0, optimizer: OPTIMIZER, patience: false as const,
  resume: existsSync(join(runDir(name), 'last.safetensors')), progress: false, plot: false, log: console.log, monitor: 'dice' as const,
});

for (const arch of ['unetpp', 'unet'] as const) {
  const name = `${arch}3d`;
  if (!ONLY.includes(name) || done(name)) continue;
  const model = new SegModel(model3dConfig(arch));
  const r = await trainVolumes(model, { train: trainStore, val: valStore }, { ...common(name), ...PATCH_TRAINING });
  await score(name, volumePredictor(loadModel(r.bestPath)), facts(r));
}

// The PyTorch twin of unetpp3d (peer_train.py: the same patches, initial weights, optimiser and
// loss, trained by PyTorch): each saved epoch's weights imported into our model and validated by
// trainVolumes' own validation, the best validation Dice scored on the test cases as above.
const PEER = 'unetpp3d-peer';
if (ONLY.includes(PEER) && !done(PEER)) {
  const dir = runDir(PEER);
  const logPath = join(dir, 'log.jsonl');
  if (!existsSync(logPath)) throw new Error(`${PEER}: ${logPath} is missing: run experiments/brats/peer_train.py first (README.md)`);
  type PeerEpoch = { epoch: number; train_loss: number; seconds: number; steps: number; step_s_median: number; step_s: number[]; losses: number[]; saved: string | null };
  const log = readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as PeerEpoch);
  const peerRun = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { epochs: number; [k: string]: unknown };
  const finished = log.length ? log[log.length - 1].epoch : 0;
  if (finished !== peerRun.epochs) throw new Error(`${PEER}: the peer run has finished ${finished} of its ${peerRun.epochs} epochs: resume peer_train.py first`);
  if (peerRun.epochs !== EPOCHS) console.log(`${PEER}: note: the peer trained ${peerRun.epochs} epochs, --epochs is ${EPOCHS}`);
  // The epochs to validate: those our unetpp3d run validated (its log, when there), else the
  // trainer's rule (every validateEvery and the last); the best is chosen among them as the trainer does.
  const oursLog = join(runDir('unetpp3d'), 'log.jsonl');
  const candidates = existsSync(oursLog)
    ? readFileSync(oursLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { epoch: number; dice: number | null }).filter((e) => e.dice !== null).map((e) => e.epoch)
    : Array.from({ length: finished }, (_, i) => i + 1).filter((e) => e % PATCH_TRAINING.validateEvery === 0 || e === finished);
  const candidatesFrom = existsSync(oursLog) ? oursLog : `every ${PATCH_TRAINING.validateEvery} epochs and the last`;
  const unsaved = candidates.filter((e) => !log.find((x) => x.epoch === e)?.saved);
  if (!candidates.length || unsaved.length) throw new Error(`${PEER}: the peer saved no weights at epoch(s) ${unsaved.join(', ') || '(none to validate)'} (validated: ${candidatesFrom}); rerun peer_train.py with a --save-every that covers them`);
  console.log(`${PEER}: validating epochs ${candidates.join(', ')} (as ${candidatesFrom})`);
  const cfg = new SegModel(model3dConfig('unetpp')).config;
  const sorted = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b))));
  const load = (epoch: number) => {
    const m = importPyTorch(join(dir, log.find((e) => e.epoch === epoch)!.saved!), { config: model3dConfig('unetpp') });
    if (sorted(m.config) !== sorted(cfg)) throw new Error(`${PEER} epoch ${epoch}: imported config ${sorted(m.config)} is not unetpp3d's ${sorted(cfg)}`);
    return m;
  };
  // validation as trainVolumes validates (kept in val.json, so an interrupted scoring resumes)
  const valPath = join(dir, 'val.json');
  const vals: Record<string, { dice: number; iou: number; valLoss: number; seconds: number }> = existsSync(valPath) ? JSON.parse(readFileSync(valPath, 'utf8')) : {};
  const best = new EarlyStopping({ mode: 'max', patience: 0 }); // the trainer's rule for the best checkpoint: strictly better than every earlier epoch
  for (const epoch of candidates) {
    if (!vals[epoch]) {
      const t0 = performance.now();
      const v = await validateVolumes(load(epoch), valStore, { backend, patch: PATCH, labels: spec });
      vals[epoch] = { dice: v.dice, iou: v.iou, valLoss: v.valLoss, seconds: (performance.now() - t0) / 1000 };
      writeFileSync(`${valPath}.tmp`, JSON.stringify(vals, null, 1) + '\n');
      renameSync(`${valPath}.tmp`, valPath);
    }
    const improved = best.update(epoch, vals[epoch].dice);
    console.log(`${PEER} epoch ${epoch}: val dice ${vals[epoch].dice.toFixed(4)} iou ${vals[epoch].iou.toFixed(4)}${improved ? ' *' : ''} (${vals[epoch].seconds.toFixed(0)} s)`);
  }
  // Step 1 of both runs starts from the same weights on the same batch: the losses must agree up
  // to float32 rounding (a check of the set-up: initial weights, batch, loss and its reduction).
  let firstStepLoss: { ours: number; peer: number } | null = null;
  const patches = String(peerRun.patches);
  if (existsSync(join(patches, 'init.safetensors')) && existsSync(join(patches, epochFile(1)))) {
    const m0 = importPyTorch(join(patches, 'init.safetensors'), { config: model3dConfig('unetpp') });
    const b = readPatchEpoch(join(patches, epochFile(1))).batches[0];
    const tp = new PlanCache(m0, backend, { ...PATCH_TRAINING.loss }, false).trainPlan(b.xShape, b.yShape);
    firstStepLoss = { ours: tp.plan.run({ x: b.x, target: b.y })[0].data[0], peer: log[0].losses[0] };
    console.log(`${PEER}: step 1 loss, same weights and batch: ours ${firstStepLoss.ours}, the peer's ${firstStepLoss.peer}`);
  }
  const steps = log.flatMap((e) => e.step_s).sort((a, b) => a - b);
  await score(PEER, volumePredictor(load(best.bestEpoch)), {
    // the peer's own training time (validation runs here, not in its epochs as in ours)
    trainSeconds: log.reduce((t, e) => t + e.seconds, 0), epochsRun: finished, bestEpoch: best.bestEpoch,
    stepMs: steps.length ? 1000 * steps[Math.floor(steps.length / 2)] : NaN,
    history: log.map((e) => ({ epoch: e.epoch, trainLoss: e.train_loss, valDice: vals[e.epoch]?.dice ?? null, seconds: e.seconds, stepSeconds: e.step_s_median })),
    validatedEpochs: candidates, validatedAs: candidatesFrom, firstStepLoss, trainedBy: { engine: 'pytorch', ...peerRun }, scoredBy: 'unetpp (validateVolumes and the predictor, as unetpp3d)',
  });
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
      const p = predictor.predict({ data: img, channels: 2, sizes: [Y, X] });
      for (let k = 0; k < 3; k++) out.set(p.data.subarray(k * plane, (k + 1) * plane), k * Z * plane + z * plane);
    }
    return { data: out, channels: 3, sizes: [Z, Y, X] };
  }, facts(r));
}
console.log('brats: results in', results);
