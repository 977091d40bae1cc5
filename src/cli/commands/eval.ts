// `unetpp eval`: per-image IoU, Dice, precision, recall, HD95 on a folder dataset (or a
// split), with mean and std, written as CSV and Markdown.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { checkTileFlag } from '../window.js';
import { predictBackend, describePredictBackend } from '../../infer/predict-backend.js';
import { int, oneOf } from '../parse.js';
import { addPredictorOptions, addPostprocessFlag, predictorSettings, inputSettings, postprocessSetting } from './predict.js';
import { PredictorCache } from '../../infer/predictor-cache.js';
import { evaluateFolder } from '../../infer/evaluate.js';
import { evaluateVolumes } from '../../infer/evaluate-volumes.js';
import { summaryToMarkdown } from '../../metrics/index.js';

export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description('evaluate a model on a folder dataset: per-image metrics and their mean/std as CSV and Markdown')
    .requiredOption('-d, --data <dir>', 'dataset folder (DIR/images, DIR/masks[/<class>], optional DIR/split.csv)')
    .addOption(new Option('--split <name>', 'split to score (from split.csv, else the seeded split)').argParser(oneOf('train', 'val', 'test', 'all')).default('all'))
    .option('--seed <n>', 'seed of the split when there is no split.csv (as in train)', int(0), 0)
    .option('-o, --out <dir>', 'writes metrics.csv, summary.csv, metrics.md there', 'eval')
    .option('--no-hd95', 'skip HD95 (the slow metric)')
    .option('--invert-masks', 'swap 0 and 1 in masks (as in train)')
    .option('--threshold-masks', 'accept any mask values: above half scale is foreground');
  addModelSource(cmd);
  addPredictorOptions(cmd);
  addPostprocessFlag(cmd);
  addCommon(cmd, { onnx: true });
  cmd.action(action(async (_args, opts) => {
    if (!existsSync(opts.data)) throw new CliError(`--data ${opts.data}: no such folder`);
    const entry = loadModelSource(opts);
    const backend = await predictBackend(opts.backend, opts.precision, entry.meta.model.dims);
    if (opts.verbose) console.log(`backend: ${await describePredictBackend(backend)}`);
    const cache = new PredictorCache(backend);
    const settings = predictorSettings(opts);
    checkTileFlag(opts.tile, entry.meta.model, opts.level);
    cache.get(entry, settings); // bad options fail before any case is read
    const t0 = performance.now();
    if (entry.meta.model.dims === 3) {
      const postprocess = postprocessSetting(opts, entry);
      const ev = await evaluateVolumes(entry, cache, opts.data, {
        settings, split: opts.split === 'all' ? 'test' : opts.split, seed: opts.seed, outDir: opts.out, threshold: opts.threshold,
        hd95: opts.hd95 !== false, postprocess,
        onCase: opts.verbose ? (r, i, n) => console.log(`[${i + 1}/${n}] ${r.id} dice ${r.values.dice?.toFixed(4)}`) : undefined,
      });
      console.log(summaryToMarkdown(ev.summary).trimEnd());
      console.log(`${ev.rows.length} volumes in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${backend.name} (${backend.precision}); wrote ${ev.files.join(', ')}`);
      return;
    }
    const ev = await evaluateFolder(entry, cache, opts.data, {
      settings, ...inputSettings(opts), split: opts.split, folder: { seed: opts.seed },
      load: { invertMasks: !!opts.invertMasks, thresholdMasks: !!opts.thresholdMasks }, hd95: opts.hd95 !== false, outDir: opts.out,
      onImage: opts.verbose ? (r, i, n) => console.log(`[${i + 1}/${n}] ${r.id} dice ${r.values.dice?.toFixed(4)} iou ${r.values.iou?.toFixed(4)}`) : undefined,
    });
    console.log(summaryToMarkdown(ev.summary).trimEnd());
    console.log(`${ev.rows.length} images in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${backend.name} (${backend.precision}); wrote ${ev.files.join(', ')}`);
  }));
  return cmd;
}
