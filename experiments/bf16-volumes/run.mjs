// Issue 17 part 3, "bf16 too": does bf16 volume training reach fp32's accuracy? The 3D demo's
// task (synthetic volumes, 3D UNet++ 8,16,32, instance norm, deep supervision; runVolumeDemo)
// trained to its end (40 epochs or early stopping: no time limit, so the machine's load does
// not change the result) in fp32 and in bf16, for seeds 0, 1, 2; test Dice of the best
// checkpoint. Each run's result goes to results.json when it ends; a re-run skips those there.
//   npm run build && node experiments/bf16-volumes/run.mjs
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVolumeDemo } from '../../dist/src/train/demo-volumes.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'results.json');
const results = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : [];
for (const seed of [0, 1, 2]) for (const precision of ['fp32', 'bf16']) {
  if (results.some((r) => r.seed === seed && r.precision === precision)) continue;
  const r = await runVolumeDemo({ outDir: join(process.env.BF16_VOLUMES_TMP ?? '/tmp/unetpp-bf16-volumes', `${precision}-${seed}`), seed, precision, minutes: 1e6, log: null, progress: false });
  results.push({ seed, precision: r.train.precision, dice: +r.dice.toFixed(4), iou: +r.iou.toFixed(4), bestEpoch: r.train.bestEpoch, epochs: r.epochs, stoppedBy: r.train.stoppedBy, stepMs: Math.round(r.stepMs), date: new Date().toISOString() });
  writeFileSync(out + '.tmp', JSON.stringify(results, null, 1) + '\n');
  renameSync(out + '.tmp', out);
  console.log(`seed ${seed} ${precision}: test Dice ${r.dice.toFixed(4)} (best epoch ${r.train.bestEpoch} of ${r.epochs}, ${r.train.stoppedBy})`);
}
