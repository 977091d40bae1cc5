// `unetpp eval`: per-image IoU, Dice, precision, recall, HD95 on a folder dataset (or a
// split), with mean and std, written as CSV and Markdown.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { resolveBackend } from '../backend.js';
import { int, oneOf } from '../parse.js';
import { addPredictorOptions, predictorSettings, normalizeSetting } from './predict.js';
import { createPredictor } from '../../infer/predict.js';
import { evaluateFolder } from '../../infer/evaluate.js';
import { evaluateVolumes } from '../../infer/evaluate-volumes.js';
import type { VolumePipeline } from '../../data/volume-dataset.js';
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
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    if (!existsSync(opts.data)) throw new CliError(`--data ${opts.data}: no such folder`);
    const src = loadModelSource(opts);
    const backend = await resolveBackend(opts.backend, opts.precision, 'infer', src.model.config.dims);
    const settings = predictorSettings(opts);
    const t0 = performance.now();
    if (src.model.config.dims === 3) {
      if (!src.metadata.volumePipeline) throw new CliError('this 3D checkpoint records no volume pipeline (train it with unetpp train on a volume dataset)');
      if (settings.tile === undefined && src.metadata.patch) settings.tile = src.metadata.patch.split('x').map(Number);
      const ev = await evaluateVolumes(createPredictor(src.model, { backend, ...settings }), opts.data, JSON.parse(src.metadata.volumePipeline) as VolumePipeline, {
        split: opts.split === 'all' ? 'test' : opts.split, outDir: opts.out, threshold: opts.threshold, hd95: opts.hd95 !== false,
        onCase: opts.verbose ? (r, i, n) => console.log(`[${i + 1}/${n}] ${r.id} dice ${r.values.dice?.toFixed(4)}`) : undefined,
      });
      console.log(summaryToMarkdown(ev.summary).trimEnd());
      console.log(`${ev.rows.length} volumes in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${backend.name} (${backend.precision}); wrote ${ev.files.join(', ')}`);
      return;
    }
    const predictor = createPredictor(src.model, { backend, ...settings });
    const ev = await evaluateFolder(predictor, opts.data, {
      split: opts.split, folder: { seed: opts.seed }, load: { invertMasks: !!opts.invertMasks, thresholdMasks: !!opts.thresholdMasks },
      normalize: normalizeSetting(opts.normalize, src.normalize), threshold: opts.threshold, hd95: opts.hd95 !== false,
      resize: opts.resize && { height: opts.resize[0], width: opts.resize[1] }, outDir: opts.out,
      onImage: opts.verbose ? (r, i, n) => console.log(`[${i + 1}/${n}] ${r.id} dice ${r.values.dice?.toFixed(4)} iou ${r.values.iou?.toFixed(4)}`) : undefined,
    });
    console.log(summaryToMarkdown(ev.summary).trimEnd());
    console.log(`${ev.rows.length} images in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${backend.name} (${backend.precision}); wrote ${ev.files.join(', ')}`);
  }));
  return cmd;
}
