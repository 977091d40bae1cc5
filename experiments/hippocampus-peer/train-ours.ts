// Our side of the Hippocampus time-to-accuracy run: `unetpp train -d DATA --plan PLAN
// --precision P` as the command builds it (setup.ts planRun: the same model, loader, loss,
// optimiser), run for --minutes of training time with no validation inside the run, saving the
// weights every --save-every epochs with the run's cumulative training seconds (snapshots.jsonl);
// validate.ts validates the snapshots afterwards, as it does the peer's, so that validation is
// outside both engines' time. Resumable: the trainer's last.safetensors (--resume).
//   npm run build && node dist/experiments/hippocampus-peer/train-ours.js --precision fp32|bf16 [--minutes 65]
//     [--save-every 1] [--plan PLAN] [--patches DIR] [--out DIR] [--epochs N (smoke tests)]
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { saveModel } from '../../src/io/checkpoint.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { trainVolumes } from '../../src/train/volumes.js';
import { PATCHES, arg, planRun, readJsonl, runDir, type Snapshot } from './setup.js';

const precision = arg('--precision') ?? 'fp32';
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision ${precision}: fp32 or bf16`);
const minutes = Number(arg('--minutes') ?? 65);
const every = Number(arg('--save-every') ?? 1);
const dir = runDir(`ours-${precision}`);
mkdirSync(dir, { recursive: true });
const resume = existsSync(join(dir, 'last.safetensors'));
// the command's own stopping flags: a time limit and no validation inside the run (validate.ts does it)
const never = '1000000';
const flags = ['--precision', precision, '--time-limit', String(minutes * 60), '--epochs', arg('--epochs') ?? never,
  '--val-every', never, '--no-postprocess', ...(resume ? ['--resume'] : [])];
const { model, data, options } = await planRun(dir, flags);

// The same initial weights as the peer's (the dump's init.safetensors), when the dump is there.
const init = join(PATCHES, 'init.safetensors');
if (!resume && existsSync(init)) {
  const peerInit = importPyTorch(init, { config: model.config });
  for (const n of model.params.names())
    if (Buffer.compare(Buffer.from(peerInit.params.get(n).data.buffer), Buffer.from(model.params.get(n).data.buffer)) !== 0)
      throw new Error(`${init}: ${n} differs from this run's initial weights: the dump was made with another plan or seed`);
  console.log(`initial weights: equal to ${init}`);
}

const snapshots = join(dir, 'snapshots.jsonl');
const log = join(dir, 'log.jsonl');
type Epoch = { epoch: number; seconds: number; steps: number; trainLoss: number };
/** Saves the model as epoch `e`'s snapshot, with the cumulative training seconds and steps of the trainer's log. */
function snapshot(e: number): void {
  // every epoch's own time in the trainer's log (a resumed run counts them all)
  const history = readJsonl<Epoch>(log).filter((h) => h.epoch <= e);
  const file = `epoch-${String(e).padStart(3, '0')}.safetensors`;
  saveModel(join(dir, file), model, options.meta!);
  const snap: Snapshot = {
    epoch: e, steps: history.reduce((t, h) => t + h.steps, 0), seconds: history.reduce((t, h) => t + h.seconds, 0),
    trainLoss: history[history.length - 1].trainLoss, file,
  };
  appendFileSync(snapshots, `${JSON.stringify(snap)}\n`);
}
const r = await trainVolumes(model, data, { ...options, onEpoch: (rec) => { if (rec.epoch % every === 0) snapshot(rec.epoch); } });
// the last epoch too, as the peer does (the model is that epoch's: the run has just ended)
if (r.epochs > 0 && !readJsonl<Snapshot>(snapshots).some((s) => s.epoch === r.epochs)) snapshot(r.epochs);
const saved = readJsonl<Snapshot>(snapshots);
console.log(`ours-${precision}: ${r.epochs} epochs (${r.stoppedBy}), ${r.stepMs.toFixed(0)} ms a step (${r.backend}, ${r.precision}); ` +
  `${saved.length} snapshots in ${dir}`);
