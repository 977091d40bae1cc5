// The PyTorch twin compared epoch for epoch on the test cases. run.ts scores each run's best
// validation checkpoint, and the two runs may pick different epochs (ours 40, the peer's 48):
// this scores both engines' weights at the same epochs (ours: best.safetensors at its best
// epoch and last.safetensors at the last; the peer's saved epochs), so that the test Dice
// compares engines, not checkpoint choices. Writes results/same-epoch.json (resumable per entry).
//   npm run build && node dist/experiments/brats/same-epoch.js   (after run.js --only unetpp3d-peer)
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/io/checkpoint.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { OUT, model3dConfig, openBrats, testRows, volumePredictor, type TestRow } from './setup.js';

const splits = await openBrats();
if (!splits) { console.log('brats: the shared data folder is absent; nothing to do'); process.exit(0); }
const backend = getBackend('auto');
const results = join(OUT, 'results');
const ours = JSON.parse(readFileSync(join(results, 'unetpp3d.json'), 'utf8')) as { bestEpoch: number; epochsRun: number };
const peerDir = join(OUT, 'runs', 'unetpp3d-peer');
const peerLog = readFileSync(join(peerDir, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { epoch: number; saved: string | null });
const oursAt: Record<number, string> = { [ours.bestEpoch]: join(OUT, 'runs', 'unetpp3d', 'best.safetensors'), [ours.epochsRun]: join(OUT, 'runs', 'unetpp3d', 'last.safetensors') };
const out = join(results, 'same-epoch.json');
const done: { epoch: number; ours: TestRow[]; peer: TestRow[] }[] = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).epochs : [];
for (const epoch of Object.keys(oursAt).map(Number)) {
  if (done.some((e) => e.epoch === epoch)) continue;
  const saved = peerLog.find((e) => e.epoch === epoch)?.saved;
  if (!saved) throw new Error(`the peer saved no weights at epoch ${epoch}: rerun peer_train.py with a --save-every that covers it`);
  const row = {
    epoch,
    ours: await testRows(`unetpp3d@${epoch}`, splits.test, volumePredictor(loadModel(oursAt[epoch]), backend)),
    peer: await testRows(`unetpp3d-peer@${epoch}`, splits.test, volumePredictor(importPyTorch(join(peerDir, saved), { config: model3dConfig('unetpp') }), backend)),
  };
  done.push(row);
  done.sort((a, b) => a.epoch - b.epoch);
  writeFileSync(`${out}.tmp`, JSON.stringify({ about: 'test scores of unetpp3d and its PyTorch twin at the same epochs', epochs: done }, null, 1) + '\n');
  renameSync(`${out}.tmp`, out);
}
for (const e of done) {
  const mean = (rows: TestRow[]) => rows.reduce((t, r) => t + r.meanDice, 0) / rows.length;
  console.log(`epoch ${e.epoch}: test mean Dice ours ${mean(e.ours).toFixed(3)}, the peer's ${mean(e.peer).toFixed(3)}`);
}
