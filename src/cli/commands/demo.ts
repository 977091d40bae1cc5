// `unetpp demo`: trains a small UNet++ on synthetic nuclei in a few minutes and writes
// curves and overlays (src/train/demo.ts).
import { Command } from 'commander';
import { addCommon, action } from '../common.js';
import { float, int } from '../parse.js';
import { runDemo } from '../../train/demo.js';
import { runVolumeDemo } from '../../train/demo-volumes.js';
import { resolveBackend } from '../backend.js';
import { describeBackend } from '../../engine/backends/describe.js';

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('train a small UNet++ on synthetic nuclei (about 3 minutes) and write curves and overlays; --dims 3: a 3D UNet++ on synthetic volumes')
    .option('-o, --out <dir>', 'output folder (default runs/demo, runs/demo3d for --dims 3)')
    .option('--dims <n>', '2: images (default); 3: volumes', int(2, 3), 2)
    .option('--minutes <m>', 'training time budget (default 3; 2 for volumes)', float(0.05))
    .option('--epochs <n>', 'images: at most n epochs (a quick check; default as many as --minutes allow, at least 15)', int(1))
    .option('--seed <n>', 'seed of data and weights', int(0), 0)
    .option('--no-progress', 'no progress bar');
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const common = { minutes: opts.minutes, seed: opts.seed, backend: opts.backend, precision: opts.precision, progress: opts.progress === false ? false : undefined };
    if (opts.dims === 3) {
      const out = opts.out ?? 'runs/demo3d';
      const r = await runVolumeDemo({ outDir: out, ...common });
      console.log(`demo done: test Dice ${r.dice.toFixed(4)}, IoU ${r.iou.toFixed(4)} in ${r.seconds.toFixed(0)} s (${r.epochs} epochs); see ${out}`);
      return;
    }
    opts.out ??= 'runs/demo';
    const backend = await resolveBackend(opts.backend, opts.precision);
    console.log(`backend: ${describeBackend(backend)}`);
    const r = await runDemo({ outDir: opts.out, ...common, backend, epochs: opts.epochs });
    console.log(`demo done: IoU ${r.iou.toFixed(4)}, Dice ${r.dice.toFixed(4)} in ${r.seconds.toFixed(0)} s (${r.epochs} epochs); see ${opts.out}`);
  }));
  return cmd;
}
