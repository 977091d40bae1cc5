// Model architecture flags (train, info, export of a fresh model), mapped to ModelConfig.
import { Command, Option } from 'commander';
import type { ModelConfig } from '../models/config.js';
import { CliError } from './common.js';
import { float, int, intList, kernelList, oneOf, poolList } from './parse.js';

export function addModelOptions(cmd: Command, defaults = true): Command {
  return cmd
    .addOption(new Option('--preset <name>', 'bn: PyTorch NestedUNet (conv+BN+ReLU); paper: official Keras (dropout, transpose-conv)').argParser(oneOf('bn', 'paper')))
    .addOption(new Option('--arch <name>', 'network').argParser(oneOf('unetpp', 'unet')))
    .option('--filters <list>', 'filters per level, top to bottom; depth = count - 1 (default 32,64,128,256,512)', intList)
    .option('--pools <list>', 'volumes: pooling factors per level, DxHxW of 1 or 2 each, top to bottom (e.g. 1x2x2,2x2x2 ' +
      'for thick slices); default 2 on every axis', poolList)
    .option('--kernels <list>', 'volumes: conv kernel per level (one per filter), DxHxW of 1 or 3 each, top to bottom ' +
      '(e.g. 1x3x3,1x3x3,3x3x3 for thick slices); default 3 on every axis', kernelList)
    .option('--in-channels <n>', `input channels${defaults ? ' (default: the images\')' : ''}`, int(1, 64))
    .option('--classes <n>', `output maps${defaults ? ' (default: the dataset\'s classes)' : ''}`, int(1, 255))
    .option('--deep-supervision', 'a head on every top node X(0,1..L) (needed for fast mode and pruning)')
    .addOption(new Option('--upsample <kind>', 'up-sampling (default: bilinear for bn, transpose for paper)').argParser(oneOf('bilinear', 'nearest', 'transpose')))
    .addOption(new Option('--multiclass <kind>', 'several classes: softmax over classes or a sigmoid each').argParser(oneOf('softmax', 'sigmoid')))
    .option('--dropout <p>', 'dropout after each conv (paper preset default 0.5)', float(0, 1, true))
    .option('--model-seed <n>', 'seed of the initial weights and dropout masks', int(0, 2 ** 32 - 1))
    .addOption(new Option('--dims <n>', '2: images (3x3 convs); 3: volumes (3x3x3 convs unless --kernels)').argParser(oneOf('2', '3')))
    .addOption(new Option('--norm <kind>', 'bn preset normalisation (default: batch for 2D, instance for 3D)').argParser(oneOf('batch', 'instance')));
}

/** The config fields given on the command line (or --config); the rest stay the model's defaults. */
export function modelConfigFrom(opts: Record<string, any>): Partial<ModelConfig> {
  const cfg: Partial<ModelConfig> = {
    preset: opts.preset, arch: opts.arch, filters: opts.filters, inChannels: opts.inChannels, classes: opts.classes,
    deepSupervision: opts.deepSupervision, upsample: opts.upsample, multiclass: opts.multiclass, dropout: opts.dropout,
    seed: opts.modelSeed, dims: opts.dims === undefined ? undefined : (Number(opts.dims) as 2 | 3), norm: opts.norm,
    pools: opts.pools, kernels: opts.kernels,
  };
  return Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined));
}

/** make() (a model or its description from the command line's config); a config error about a per-level list
 *  names its flag (--pools, --kernels) rather than the model option. */
export function namingFlags<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    const m = /^model option (pools|kernels): (.*)$/s.exec((e as Error).message);
    if (m) throw new CliError(`--${m[1]}: ${m[2]}`);
    throw e;
  }
}
