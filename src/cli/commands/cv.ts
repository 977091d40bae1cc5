// `unetpp cv`: k-fold cross-validation of a folder dataset, folds trained here one after
// another or as queue jobs (--redis) on any number of workers; per-fold and mean metrics.
import { Command, Option } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { addCommon, action, CliError } from '../common.js';
import { addModelOptions, modelConfigFrom } from '../model-options.js';
import { float, int, oneOf, size } from '../parse.js';
import { makeFolds, readFolds, writeFolds, FOLDS_FILE } from '../../cv/folds.js';
import { runFold, type FoldSpec, type FoldResult } from '../../cv/fold.js';
import { summarize, summaryMarkdown, writeSummary } from '../../cv/summary.js';

export function cvCommand(): Command {
  const cmd = new Command('cv')
    .description('k-fold cross-validation (seeded folds stratified by foreground): OUT/fold<k>/best.safetensors, OUT/summary.md; predict --ensemble OUT averages the folds')
    .requiredOption('-d, --data <dir>', 'dataset folder (images/, masks/; split.csv test images are left out of the folds)')
    .option('-o, --out <dir>', 'cross-validation folder', 'runs/cv')
    .option('--folds <k>', 'number of folds', int(2, 100), 5)
    .option('--redis <url>', 'train the folds as queue jobs on workers (unetpp worker) instead of here')
    .option('--epochs <n>', 'maximum epochs per fold', int(1), 100)
    .option('--batch-size <n>', 'images per step', int(1), 8)
    .option('--lr <x>', 'learning rate (Adam)', float(0), 3e-4)
    .option('--patience <n>', 'early-stopping patience in epochs', int(0), 10)
    .option('--size <size>', 'resize images (and masks, nearest) to N or HxW while loading', size)
    .option('--no-augment', 'no augmentation')
    .addOption(new Option('--normalize <kind>', 'input normalisation').argParser(oneOf('none', 'zscore', 'minmax')).default('none'))
    .addOption(new Option('--channels <n>', 'convert images to 1 or 3 channels').argParser(oneOf('1', '3')))
    .option('--seed <n>', 'seed of the folds, data order and augmentation', int(0), 0)
    .option('--time-limit <s>', 'per fold: stop after the epoch during which this many seconds passed', float(0));
  addModelOptions(cmd);
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const data = resolve(opts.data);
    const out = resolve(opts.out);
    if (!existsSync(data)) throw new CliError(`--data ${opts.data}: no such folder`);
    mkdirSync(out, { recursive: true });
    let folds;
    if (existsSync(resolve(out, FOLDS_FILE))) {
      folds = await readFolds(out);
      if (folds.data !== data || folds.folds.length !== opts.folds)
        throw new CliError(`--out ${opts.out}: holds ${folds.folds.length} folds of ${folds.data}; use another folder for ${opts.folds} folds of ${data}`);
      console.log(`cv: resuming the folds in ${out}`);
    } else {
      folds = await makeFolds(data, opts.folds, opts.seed);
      await writeFolds(out, folds);
    }
    console.log(`cv: ${opts.folds} folds of ${folds.folds.map((f) => f.length).join('/')} images (${folds.foreground.length} with foreground)` +
      `${folds.heldOut.length ? `, ${folds.heldOut.length} test images left out` : ''}`);
    const sz = opts.size as [number, number] | undefined;
    const specs: FoldSpec[] = folds.folds.map((_, fold) => ({
      cvDir: out, fold, model: modelConfigFrom(opts),
      load: { size: sz && { height: sz[0], width: sz[1] }, channels: opts.channels ? (Number(opts.channels) as 1 | 3) : undefined },
      train: { epochs: opts.epochs, batchSize: opts.batchSize, lr: opts.lr, patience: opts.patience, seed: opts.seed, timeLimitSeconds: opts.timeLimit, augment: opts.augment !== false, normalize: opts.normalize },
    }));
    const results: FoldResult[] = [];
    const report = (r: FoldResult) => console.log(`cv: fold ${r.fold}: IoU ${r.metrics.iou.toFixed(4)} Dice ${r.metrics.dice.toFixed(4)} (best epoch ${r.bestEpoch} of ${r.epochs}) -> ${r.checkpoint}`);
    if (opts.redis) {
      const { submitFolds } = await import('../../queue/cv-submit.js');
      const failed: string[] = [];
      console.log(`cv: ${specs.length} fold jobs queued on ${opts.redis}; waiting for workers (unetpp worker --redis ${opts.redis})`);
      await submitFolds(specs, opts.redis, (spec, r) => {
        if (r instanceof Error) { failed.push(`fold ${spec.fold}: ${r.message}`); console.log(`cv: fold ${spec.fold} failed: ${r.message}`); } else { results.push(r); report(r); }
      });
      if (failed.length) throw new CliError(`${failed.length} fold(s) failed: ${failed.join('; ')}`);
    } else {
      for (const spec of specs) {
        const r = await runFold(spec, { log: (s) => console.log(`fold ${spec.fold}: ${s}`), backend: opts.backend, precision: opts.precision });
        results.push(r);
        report(r);
      }
    }
    const s = summarize(results);
    await writeSummary(out, s);
    process.stdout.write(summaryMarkdown(s));
    console.log(`cv: mean IoU ${s.mean.iou.toFixed(4)} ± ${s.sd.iou.toFixed(4)}, Dice ${s.mean.dice.toFixed(4)} ± ${s.sd.dice.toFixed(4)}; ${out}/summary.md; predict --ensemble ${opts.out}`);
  }));
  return cmd;
}
