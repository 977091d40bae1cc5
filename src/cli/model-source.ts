// Where a command's model comes from: our checkpoint (--model: its meta is inside) or PyTorch
// weights (--pytorch), whose meta comes from a JSON sidecar (--meta) and flags (--labels,
// --class-names) over what the weights' shapes imply.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { checkpointEntry, type ModelEntry } from '../infer/model-entry.js';
import { CliError } from './common.js';

/** The flags that describe PyTorch weights (serve adds them without -m/--pytorch). */
export function addPyTorchMetaOptions(cmd: Command): Command {
  return cmd
    .option('--meta <file.json>', 'with --pytorch: the weights\' metadata, a partial meta (input, labels, classNames, window)')
    .option('--labels <spec>', 'with --pytorch: label values of the outputs, e.g. 1,2,4, brats or wt=1+2+3+4,tc=1+3+4,et=4')
    .option('--class-names <names>', 'with --pytorch: names of the output planes, comma-separated');
}

export function addModelSource(cmd: Command): Command {
  cmd
    .option('-m, --model <file>', 'unetpp checkpoint (.safetensors written by train)')
    .option('--pytorch <file>', 'PyTorch NestedUNet state_dict (.safetensors) instead of --model');
  return addPyTorchMetaOptions(cmd);
}

export { pyTorchEntry, type PyTorchMetaFlags } from '../infer/model-entry.js';
import { pyTorchEntry, type PyTorchMetaFlags } from '../infer/model-entry.js';

export const hasMetaFlags = (o: PyTorchMetaFlags) => o.meta !== undefined || o.labels !== undefined || o.classNames !== undefined;
export const ONLY_PYTORCH = '--meta, --labels and --class-names describe --pytorch weights; a checkpoint carries its own meta';

export function loadModelSource(opts: { model?: string; pytorch?: string } & PyTorchMetaFlags): ModelEntry {
  if (!opts.model === !opts.pytorch) throw new CliError('give exactly one of --model <checkpoint> or --pytorch <state_dict>');
  if (opts.pytorch) return pyTorchEntry(opts.pytorch, opts);
  if (hasMetaFlags(opts)) throw new CliError(ONLY_PYTORCH);
  if (!existsSync(opts.model!)) throw new CliError(`--model ${opts.model}: no such file`);
  return checkpointEntry(opts.model!);
}
