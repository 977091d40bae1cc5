// Validates every saved snapshot of the four runs (ours and the peer's, fp32 and bf16) with the
// function our trainer validates with (validateVolumes: the plan's patch as sliding windows over
// each validation case, Dice per class without background, mean over cases), the peer's weights
// imported into our model; a run's pair is validated with the same backend and precision (the
// run's). Resumable (runs/<run>/val.json). Writes results/<run>.json (the curve: training
// seconds, steps, train loss, validation Dice) and results/step1.json: both engines' loss at
// step 1 (the initial weights, epoch 1's batch 0), which must agree.
//   npm run build && node dist/experiments/hippocampus-peer/validate.js [--runs ours-fp32,peer-fp32,ours-bf16,peer-bf16]
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/io/checkpoint.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { resolveBackend } from '../../src/train/backend.js';
import { validateVolumes } from '../../src/train/volumes.js';
import { PlanCache } from '../../src/train/plans.js';
import { epochFile, readPatchEpoch } from '../common/patch-dump.js';
import { OUT, PATCHES, RUNS, arg, planRun, readJsonl, runDir, type Snapshot } from './setup.js';

const runs = (arg('--runs') ?? RUNS.join(',')).split(',');
const results = join(OUT, 'results');
mkdirSync(results, { recursive: true });
const writeJson = (path: string, v: unknown) => {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(v, null, 1)}\n`);
  renameSync(`${path}.tmp`, path);
};
type Val = { dice: number; iou: number; seconds: number };
const { model: init, data, options } = await planRun(join(OUT, 'runs', 'validate-setup'));
const cfg = init.config;

for (const name of runs) {
  const dir = runDir(name);
  const snaps = readJsonl<Snapshot>(join(dir, 'snapshots.jsonl'));
  if (!snaps.length) { console.log(`${name}: no snapshots in ${dir}; skipped`); continue; }
  const peer = name.startsWith('peer');
  const precision = name.endsWith('bf16') ? 'bf16' : 'fp32';
  const backend = await resolveBackend('auto', precision, 3);
  const valPath = join(dir, 'val.json');
  const vals: Record<string, Val> = existsSync(valPath) ? JSON.parse(readFileSync(valPath, 'utf8')) : {};
  for (const s of snaps) {
    if (vals[s.epoch]) continue;
    const t0 = performance.now();
    const m = peer ? importPyTorch(join(dir, s.file), { config: cfg }) : loadModel(join(dir, s.file));
    const v = await validateVolumes(m, data.val, { backend, patch: options.patch, labels: options.labels! });
    vals[s.epoch] = { dice: v.dice, iou: v.iou, seconds: (performance.now() - t0) / 1000 };
    writeJson(valPath, vals);
    const took = vals[s.epoch].seconds.toFixed(0);
    console.log(`${name} epoch ${s.epoch} (${(s.seconds / 60).toFixed(1)} min): val Dice ${v.dice.toFixed(4)} (${took} s)`);
  }
  const run = peer && existsSync(join(dir, 'run.json')) ? JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) : null;
  writeJson(join(results, `${name}.json`), {
    name, engine: peer ? 'pytorch' : 'unetpp', precision, backend: backend.name, backendPrecision: backend.precision,
    trainedBy: run, validatedBy: 'unetpp validateVolumes (the trainer\'s validation)', date: new Date().toISOString(),
    curve: snaps.map((s) => ({
      epoch: s.epoch, steps: s.steps, seconds: s.seconds, trainLoss: s.trainLoss, dice: vals[s.epoch].dice, iou: vals[s.epoch].iou,
    })),
  });
}

// Step 1 of both engines: the same initial weights and batch give the same loss (up to rounding).
const initPath = join(PATCHES, 'init.safetensors'), first = join(PATCHES, epochFile(1));
if (existsSync(initPath) && existsSync(first)) {
  const b = readPatchEpoch(first).batches[0];
  const step1: Record<string, { ours: number; peer: number | null }> = {};
  for (const precision of ['fp32', 'bf16'] as const) {
    const m0 = importPyTorch(initPath, { config: cfg });
    const backend = await resolveBackend('auto', precision, 3);
    const loss = { ...options.loss, kind: options.loss?.kind ?? 'ce_dice', bceWeight: options.loss?.bceWeight ?? 0.5 };
    const tp = new PlanCache(m0, backend, loss, false).trainPlan(b.xShape, b.yShape);
    const ours = tp.plan.run({ x: b.x, target: b.y })[0].data[0];
    const peerLog = readJsonl<{ losses: number[] }>(join(runDir(`peer-${precision}`), 'log.jsonl'));
    step1[precision] = { ours, peer: peerLog[0]?.losses[0] ?? null };
    console.log(`step 1 (${precision}, ${backend.precision}): ours ${ours}, the peer's ${step1[precision].peer ?? '(not run)'}`);
  }
  writeJson(join(results, 'step1.json'), { batch: b.info.sha256, losses: step1 });
}
