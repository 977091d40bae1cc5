// `unetpp train`: a folder dataset (images/ + masks/, split.csv or a seeded split) -> a
// trained checkpoint (outDir/best.safetensors), through src/train's trainer.
import { Command, Option } from 'commander';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { addCommon, action, CliError } from '../common.js';
import { addModelOptions, modelConfigFrom, namingFlags } from '../model-options.js';
import { float, int, oneOf, size } from '../parse.js';
import { SegModel } from '../../models/model.js';
import { loadFolder, scanFolder } from '../../data/images/folder.js';
import { DEFAULT_AUGMENT } from '../../data/augmentation/augment.js';
import { train } from '../../train/trainer.js';
import type { TrainOptions } from '../../train/options.js';
import type { ScheduleOptions } from '../../optim/schedule.js';
import { imageRunMeta } from '../../train/run-meta.js';
import { isVolumeFolder } from '../../data/volumes/volume-layout.js';
import { trainVolumesCommand, patchSize, spacingList } from './train-volumes.js';
import { epochDraws } from '../epoch-draws.js';
import { fitTrainMemory, trainCrop, windowedValidation } from '../train-shape.js';
import { resolveBackend } from '../backend.js';
import { describeBackend } from '../../engine/backends/describe.js';
import { addPlanOptions, planForTraining } from '../plan-train.js';
import { describeLoss, lossFromFlags } from '../loss-flags.js';

/** Receives what `train` resolved (flags, --config and the plan) instead of training (trainSetup). */
type TakeOver = (dataDir: string, opts: Record<string, any>, common: TrainOptions, batchGiven: boolean) => Promise<void>;

/** What trainSetup resolves. */
export interface TrainSetup { dataDir: string; opts: Record<string, any>; common: TrainOptions; batchGiven: boolean }

/**
 * What `unetpp train ARGV` would train with, without training: the data folder, the options
 * after --config and the plan (the plan is read or made and saved in --out as train does), the
 * trainer's common options and whether --batch-size was given. With volumeTrainingSetup this
 * rebuilds a run's model, stores and loader exactly, e.g. to hand its patches to another engine.
 */
export async function trainSetup(argv: string[]): Promise<TrainSetup> {
  let got: TrainSetup | undefined;
  const cmd = trainCommand(async (dataDir, opts, common, batchGiven) => { got = { dataDir, opts, common, batchGiven }; });
  cmd.exitOverride();
  await cmd.parseAsync(argv, { from: 'user' });
  if (!got) throw new Error('trainSetup: the command did not run');
  return got;
}

export function trainCommand(takeOver?: TakeOver): Command {
  const cmd = new Command('train')
    .description('train a model on a folder dataset (DIR/images, DIR/masks[/<class>], optional DIR/split.csv)')
    .requiredOption('-d, --data <dir>', 'dataset folder')
    .option('-o, --out <dir>', 'output folder: best.safetensors, last.safetensors, logs, curves.png', 'runs/unetpp')
    .option('--epochs <n>', 'maximum epochs', int(1), 100)
    .option('--batch-size <n>', 'images (volumes: patches) per step (default 8; 2 for volumes)', int(1))
    .option('--lr <x>', 'learning rate', float(0), 3e-4)
    .addOption(new Option('--optimizer <name>', 'optimiser').argParser(oneOf('adam', 'adamw', 'sgd')).default('adam'))
    .option('--weight-decay <x>', 'weight decay', float(0), 0)
    .option('--momentum <x>', 'SGD momentum', float(0, 1), 0.9)
    .option('--no-nesterov', 'SGD: plain momentum instead of Nesterov\'s')
    .addOption(new Option('--schedule <name>', 'learning-rate schedule (poly: nnU-Net\'s (1 - t/T)^0.9)').argParser(oneOf('constant', 'cosine', 'poly', 'plateau')).default('constant'))
    .option('--warmup-steps <n>', 'cosine: linear warmup steps', int(0))
    .option('--cosine-hold <fraction>', 'cosine: fraction of the run at the base lr before the decay starts', float(0, 1, true), 0)
    .addOption(new Option('--loss <kind>', 'loss (bce_dice: the paper\'s)').argParser(oneOf('bce_dice', 'bce', 'dice', 'ce_dice', 'ce')))
    .option('--bce-weight <x>', 'weight of BCE in bce_dice', float(0), 0.5)
    .addOption(new Option('--dice-classes <which>', 'ce_dice: classes the Dice term averages over (foreground: ' +
      'without the background, nnU-Net\'s; default all)').argParser(oneOf('all', 'foreground')))
    .option('--batch-dice', 'Dice per class over the whole batch, not per image (nnU-Net\'s batch Dice)')
    .option('--no-batch-dice', 'Dice per image (the default; overrides a plan\'s batch Dice)')
    .option('--clip-norm <x>', 'clip gradients to this global L2 norm', float(0))
    .addOption(new Option('--monitor <metric>', 'metric for early stopping and the best checkpoint').argParser(oneOf('iou', 'dice', 'loss')).default('iou'))
    .option('--patience <n>', 'early-stopping patience in epochs (0 with --no-early-stop to disable)', int(0), 10)
    .option('--val-every <n>', 'validate every n epochs and after the last (patience then counts validations)', int(1), 1)
    .option('--no-early-stop', 'never stop early')
    .option('--size <size>', 'resize images (and masks, nearest) to N or HxW while loading', size)
    .option('--crop <size>', 'random training crops N or HxW', size)
    .option('--samples-per-epoch <n>', 'training draws per epoch (default: the training set size); with --crop, random patches of a few large images', int(1))
    .option('--no-augment', 'no augmentation (default: flips, affine, elastic, intensity)')
    .option('--tta', 'record flip averaging as the model\'s default for predict, eval, serve, the queue and the page')
    .option('--no-tta', 'record one pass as the model\'s default')
    .addOption(new Option('--normalize <kind>', 'input normalisation').argParser(oneOf('none', 'zscore', 'minmax')).default('none'))
    .addOption(new Option('--channels <n>', 'convert images to 1 or 3 channels').argParser(oneOf('1', '3')))
    .option('--invert-masks', 'swap 0 and 1 in masks (ISBI 2012: the target is the membrane)')
    .option('--threshold-masks', 'accept any mask values: above half scale is foreground')
    .option('--seed <n>', 'seed of the data order, split and augmentation', int(0), 0)
    .option('--resume', 'continue from OUT/last.safetensors')
    .option('--time-limit <s>', 'stop after the epoch during which this many seconds of training passed (counted across --resume)', float(0))
    .option('--check-finite', 'check every op for NaN/Inf (slow; names the node)')
    .option('--no-progress', 'no progress bar')
    .option('--no-plot', 'do not write curves.png')
    .option('--patch <size>', 'volumes: training patch N or DxHxW (default 64; multiples of 2^depth; ' +
      'smaller cases are padded)', patchSize)
    .option('--labels <spec>', 'volumes: label values -> classes, e.g. 1,2,4 (softmax, after a background class), ' +
      'brats or wt=1+2+3+4,tc=1+3+4,et=4 (overlapping sigmoid regions); default dataset.json\'s labels, else binary')
    .addOption(new Option('--other <what>', 'volumes: label values --labels does not list: background, or ignore ' +
      '(left out of the loss and the metrics); default an error').argParser(oneOf('background', 'ignore')))
    .option('--spacing <x,y,z>', 'volumes: resample every case to this spacing in mm', spacingList)
    .option('--no-postprocess', 'volumes: do not choose post-processing on the validation cases after training');
  addModelOptions(cmd);
  addPlanOptions(cmd);
  addCommon(cmd);
  cmd.action(action(async (_args, flags, command) => {
    const dataDir: string = flags.data;
    if (!existsSync(dataDir)) throw new CliError(`--data ${dataDir}: no such folder`);
    const opts = await planForTraining(dataDir, flags, command); // the plan's items for the flags not given
    // --batch-size on the command line (or --config), not the plan's: only that one is kept against fewer draws
    const batchGiven = !['default', undefined].includes(command.getOptionValueSource('batchSize'));
    if (takeOver) return takeOver(dataDir, opts, commonOptions(opts), batchGiven);
    if (opts.dims === '3' || (opts.dims === undefined && (await isVolumeFolder(dataDir))))
      return trainVolumesCommand(dataDir, opts, commonOptions(opts), batchGiven);
    if (opts.patch || opts.labels || opts.other || opts.spacing)
      throw new CliError('--patch, --labels, --other and --spacing are for volume datasets (--dims 3)');
    const sz = opts.size as [number, number] | undefined;
    const load = {
      size: sz && { height: sz[0], width: sz[1] }, channels: opts.channels ? (Number(opts.channels) as 1 | 3) : undefined,
      invertMasks: !!opts.invertMasks, thresholdMasks: !!opts.thresholdMasks, seed: opts.seed,
    };
    const ds = await scanFolder(dataDir, { seed: opts.seed });
    const { samples: trainSet } = await loadFolder(dataDir, { ...load, split: 'train' });
    let { samples: valSet } = await loadFolder(dataDir, { ...load, split: 'val' });
    if (!trainSet.length) throw new CliError(`--data ${dataDir}: no training samples in the split`);
    if (ds.seededSplit !== undefined) {
      const count = (s: string) => ds.samples.filter((x) => x.split === s).length;
      console.log(`split: seeded (--seed ${ds.seededSplit}, no split.csv): ${count('train')} train / ` +
        `${count('val')} val / ${count('test')} test`);
    }
    if (!valSet.length) {
      if (ds.seededSplit === undefined)
        throw new CliError(`--data ${dataDir}: no validation images: mark some as val in split.csv (or a val/ folder)`);
      console.log(`validating on the training images: ${trainSet.length}, too few to hold one out`);
      valSet = trainSet;
    }
    const draws = epochDraws(opts, 8, trainSet.length, batchGiven);
    const samplesPerEpoch = draws.samplesPerEpoch;
    const cfg = {
      inChannels: trainSet[0].image.channels, classes: ds.classes.length, deepSupervision: (opts.arch ?? 'unetpp') === 'unetpp',
      ...modelConfigFrom(opts),
    };
    const model = namingFlags(() => new SegModel(cfg));
    const softmax = model.config.classes > 1 && model.config.multiclass === 'softmax';
    const loss = lossFromFlags(opts, softmax);
    const backend = await resolveBackend(opts.backend, opts.precision);
    console.log(`backend: ${describeBackend(backend)}`);
    const size: [number, number] = [trainSet[0].image.height, trainSet[0].image.width];
    const want = { batchSize: draws.batchSize, crop: trainCrop(opts, trainSet, model.config) };
    const explicit = { batch: opts.batchSize !== undefined, crop: !!opts.crop };
    const { batchSize, crop } = fitTrainMemory(model, backend, loss, size, want, explicit);
    const options: TrainOptions = {
      ...commonOptions(opts), batchSize, loss,
      augment: opts.augment === false ? null : DEFAULT_AUGMENT,
      crop: crop && { height: crop[0], width: crop[1] }, samplesPerEpoch,
      normalize: { kind: opts.normalize }, validate: windowedValidation(valSet, crop, backend, { kind: opts.normalize }),
      // what predict/eval need to reproduce training's input pipeline, in every checkpoint
      meta: { ...imageRunMeta(model.config, { source: 'train', dataset: dataDir, command: process.argv.slice(1), normalize: { kind: opts.normalize }, resize: sz, classNames: ds.classes }),
        ...(opts.tta !== undefined ? { tta: opts.tta } : {}),
        ...(opts.datasetPlan ? { plan: opts.datasetPlan } : {}) },
    };
    console.log(`training ${model.config.arch} (${model.config.preset}, filters ${model.config.filters.join(',')}, ` +
      `${model.params.count().toLocaleString('en')} params) on ${trainSet.length} train / ${valSet.length} val images from ${dataDir}; ` +
      describeLoss(loss));
    const r = await train(model, { train: trainSet, val: valSet }, options);
    console.log(`done: ${r.epochs} epochs (${r.stoppedBy}), best ${opts.monitor} ${r.best?.toFixed(4) ?? '-'} at epoch ${r.bestEpoch}, ` +
      `${r.stepMs.toFixed(0)} ms/step (${r.backend}, ${r.precision}); best model ${r.bestPath ?? join(opts.out, 'best.safetensors')}`);
  }));
  return cmd;
}

/** The options images and volumes share: optimiser, schedule, stopping, resume, output. */
function commonOptions(opts: Record<string, any>): TrainOptions {
  const lr: number = opts.lr;
  const schedule: ScheduleOptions = opts.schedule === 'cosine' ? { kind: 'cosine', warmupSteps: opts.warmupSteps, holdFraction: opts.cosineHold }
    : opts.schedule === 'poly' ? { kind: 'poly' } : opts.schedule === 'plateau' ? { kind: 'plateau' } : { kind: 'constant' };
  const held = schedule.kind === 'cosine' && schedule.holdFraction ? ` after ${Math.round(schedule.holdFraction * 100)}% of the run` : '';
  console.log(`optimiser ${opts.optimizer}, lr ${lr}, ${schedule.kind} schedule${held}` +
    (opts.optimizer === 'sgd' ? `, momentum ${opts.momentum}` : '') + (opts.weightDecay ? `, weight decay ${opts.weightDecay}` : ''));
  return {
    outDir: opts.out, epochs: opts.epochs, batchSize: opts.batchSize ?? 8, backend: opts.backend, precision: opts.precision,
    optimizer: opts.optimizer === 'sgd' ? { kind: 'sgd', lr, momentum: opts.momentum, nesterov: opts.nesterov !== false, weightDecay: opts.weightDecay }
      : { kind: 'adam', lr, weightDecay: opts.weightDecay, decoupled: opts.optimizer === 'adamw' },
    schedule, clipNorm: opts.clipNorm, monitor: opts.monitor, patience: opts.earlyStop === false ? false : opts.patience,
    seed: opts.seed, resume: !!opts.resume, checkFinite: !!opts.checkFinite, validateEvery: opts.valEvery,
    progress: opts.progress === false ? false : undefined, plot: opts.plot !== false, timeLimitSeconds: opts.timeLimit,
    fitEpochsToTime: !!opts.fitEpochsToTime,
  };
}
