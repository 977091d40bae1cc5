// `unetpp info`: architecture, parameters and cost of a checkpoint or of a configuration
// given by flags (preset, depth/filters, channels, classes, size).
import { Command } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelOptions, modelConfigFrom } from '../model-options.js';
import { loadModelSource } from '../model-source.js';
import { int } from '../parse.js';
import { describeModel, formatInfo } from '../../models/info.js';
import type { ModelConfig } from '../../models/config.js';

export function infoCommand(): Command {
  const cmd = new Command('info')
    .description('describe a model: blocks, parameters, FLOPs per image (volume, per voxel), pruned levels')
    .argument('[checkpoint]', 'unetpp checkpoint (same as --model); without one, the flags describe the model')
    .option('-m, --model <file>', 'unetpp checkpoint')
    .option('--pytorch <file>', 'PyTorch NestedUNet state_dict (.safetensors)')
    .option('--size <n>', 'input side for FLOPs (square image, cubic volume)', int(1), 96)
    .option('--level <d>', 'describe the pruned UNet++ L^d', int(1, 6))
    .option('--depth <L>', 'depth L (filters 32*2^i for i = 0..L unless --filters)', int(1, 6))
    .option('--json', 'print the description as JSON');
  addModelOptions(cmd, false);
  addCommon(cmd, { backend: false });
  cmd.action(action(async ([checkpoint], opts) => {
    if (checkpoint && (opts.model || opts.pytorch)) throw new CliError('give the checkpoint either as an argument or with --model/--pytorch, not both');
    let cfg: Partial<ModelConfig>;
    if (checkpoint || opts.model || opts.pytorch) {
      cfg = { ...loadModelSource({ model: checkpoint ?? opts.model, pytorch: opts.pytorch }).model.config };
    } else {
      cfg = modelConfigFrom(opts);
      if (opts.depth !== undefined) {
        if (opts.filters) throw new CliError('give --depth or --filters, not both');
        cfg.filters = Array.from({ length: opts.depth + 1 }, (_, i) => 32 * 2 ** i);
      }
    }
    if (opts.level !== undefined) cfg.level = opts.level;
    const info = describeModel(cfg, { size: opts.size });
    console.log(opts.json ? JSON.stringify(info, null, 2) : formatInfo(info));
  }));
  return cmd;
}
