// `unetpp demo`: trains a small UNet++ on synthetic nuclei in a few minutes and writes
// curves and overlays (src/train/demo.ts).
import { Command } from 'commander';
import { addCommon, action } from '../common.js';
import { float, int } from '../parse.js';
import { runDemo } from '../../train/demo.js';

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('train a small UNet++ on synthetic nuclei (about 3 minutes) and write curves and overlays')
    .option('-o, --out <dir>', 'output folder', 'runs/demo')
    .option('--minutes <m>', 'training time budget', float(0.05), 3)
    .option('--seed <n>', 'seed of data and weights', int(0), 0)
    .option('--no-progress', 'no progress bar');
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const r = await runDemo({ outDir: opts.out, minutes: opts.minutes, seed: opts.seed, backend: opts.backend, progress: opts.progress === false ? false : undefined });
    console.log(`demo done: IoU ${r.iou.toFixed(4)}, Dice ${r.dice.toFixed(4)} in ${r.seconds.toFixed(0)} s (${r.epochs} epochs); see ${opts.out}`);
  }));
  return cmd;
}
