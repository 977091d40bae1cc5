// `unetpp postprocess`: chooses post-processing on the validation cases of a volume dataset (as
// nnU-Net: keep the largest component, of the whole foreground then per class, or drop small
// components, only where validation Dice rises), prints what was tried and records the rules in
// the checkpoint's meta, where every prediction (predict, eval, serve, the worker) and the browser
// bundle read them.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { resolveBackend } from '../backend.js';
import { int, oneOf } from '../parse.js';
import { addPredictorOptions, predictorSettings } from './predict.js';
import { PredictorCache } from '../../infer/predictor-cache.js';
import { choosePostprocessOnSplit } from '../../infer/postprocess-validation.js';
import { describeRule } from '../../infer/postprocess.js';
import type { PostprocessChoice } from '../../infer/postprocess-choice.js';
import { updateMeta } from '../../io/checkpoint.js';
import { planeValues, type LabelSpec } from '../../data/labels.js';

/** What was tried and what was kept, then the Dice per class without and with the rules. */
export function choiceTable(c: PostprocessChoice, labels: LabelSpec): string {
  const classes = planeValues(labels);
  const key = (v: readonly number[]) => [...v].sort((a, b) => a - b).join(',');
  const names = new Map(classes.map((cl) => [key(cl.values), cl.name]));
  if (classes.length > 1) names.set(key([...new Set(classes.flatMap((cl) => cl.values))]), 'foreground');
  const f = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(4));
  // gains below the table's 4 decimals still decide: show them
  const change = (a = 0, b = 0) => {
    const d = Math.abs(b - a);
    return `${b >= a ? '+' : '-'}${d < 1e-4 && d !== 0 ? d.toExponential(1) : d.toFixed(4)}`;
  };
  const lines = ['| rule | Dice before | Dice after | change | kept |', '|---|---|---|---|---|'];
  for (const t of c.tried) {
    const { diceBefore: a, diceAfter: b } = t.rule;
    const rule = describeRule(t.rule, names.get(key(t.rule.values)));
    lines.push(`| ${rule} | ${f(a)} | ${f(b)} | ${change(a, b)} | ${t.kept ? 'yes' : 'no'} |`);
  }
  lines.push('', '| class | Dice without | Dice with the rules |', '|---|---|---|');
  classes.forEach((cl, k) => lines.push(`| ${cl.name} | ${f(c.before.perClass[k])} | ${f(c.after.perClass[k])} |`));
  lines.push(`| mean | ${f(c.before.mean)} | ${f(c.after.mean)} |`);
  return lines.join('\n');
}

export function postprocessCommand(): Command {
  const cmd = new Command('postprocess')
    .description('choose post-processing (largest component / minimum size per class) on the validation cases of a volume dataset ' +
      'and record it in the checkpoint')
    .requiredOption('-d, --data <dir>', 'the volume dataset the model was trained on')
    .addOption(new Option('--split <name>', 'split to choose on (never the test split you report)')
      .argParser(oneOf('train', 'val', 'test')).default('val'))
    .option('--seed <n>', 'seed of the train/val split where the dataset gives none (as in train)', int(0), 0)
    .option('--no-min-size', 'try keeping the largest component only, not minimum component sizes')
    .option('--dry-run', 'print the choice, leave the checkpoint as it is');
  addModelSource(cmd);
  addPredictorOptions(cmd);
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    if (!existsSync(opts.data)) throw new CliError(`--data ${opts.data}: no such folder`);
    if (opts.pytorch) throw new CliError('--pytorch: post-processing is recorded in a unetpp checkpoint; give --model');
    const entry = loadModelSource(opts);
    if (entry.meta.model.dims !== 3 || entry.meta.input.kind !== 'volume')
      throw new CliError('post-processing is chosen for volume models: give a 3D checkpoint written by unetpp train on a volume dataset');
    const cache = new PredictorCache(await resolveBackend(opts.backend, opts.precision, 'infer', 3));
    const settings = predictorSettings(opts);
    cache.get(entry, settings); // bad options fail before any case is read
    const t0 = performance.now();
    const choice = await choosePostprocessOnSplit(entry, cache, opts.data, {
      split: opts.split, seed: opts.seed, settings, threshold: opts.threshold, minSize: opts.minSize !== false,
      onCase: opts.verbose ? (id, i, n) => console.log(`[${i + 1}/${n}] ${id}`) : undefined,
    });
    console.log(choiceTable(choice, entry.meta.labels));
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    if (opts.dryRun) return void console.log(`${choice.rules.length} rule(s) kept (${s} s); --dry-run: ${opts.model} unchanged`);
    updateMeta(opts.model, (meta) => ({ ...meta, postprocess: choice.rules }));
    console.log(`${choice.rules.length} rule(s) kept (${s} s), written to ${opts.model}`);
  }));
  return cmd;
}
