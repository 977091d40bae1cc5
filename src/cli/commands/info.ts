// `unetpp info`: architecture, parameters and cost of a checkpoint or of a configuration
// given by flags (preset, depth/filters, channels, classes, size).
import { Command } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelOptions, modelConfigFrom, namingFlags } from '../model-options.js';
import { addPyTorchMetaOptions, loadModelSource } from '../model-source.js';
import { int } from '../parse.js';
import { describeModel, formatInfo } from '../../models/info.js';
import type { ModelConfig } from '../../models/config.js';
import type { CheckpointMeta } from '../../io/checkpoint-meta.js';

/** A checkpoint's meta in a few lines: input, outputs, window, training, origin. */
function formatMeta(m: CheckpointMeta): string {
  const i = m.input;
  const input = i.kind === 'image'
    ? `image, normalize ${i.normalize.kind}${i.resize ? `, resized to ${i.resize.join('x')}` : ''}`
    : `volume, modalities ${i.modalities.map((n, k) => `${n} (${i.normalize[k]})`).join(', ')}${i.spacing ? `, spacing ${i.spacing.join('x')} mm` : ''}${i.cropToNonzero ? ', cropped to non-zero' : ''}`;
  const t = m.training;
  const lines = [
    `input: ${input}`,
    `outputs: ${m.classNames.join(', ')} (labels ${JSON.stringify(m.labels)})`,
    ...(m.window ? [`window: ${m.window.join('x')}`] : []),
    ...(m.postprocess?.length ? [`post-processing: ${m.postprocess.length} rule(s)`] : []),
    ...(t ? [`training: ${t.status} at epoch ${t.epoch}${t.epochs ? ` of ${t.epochs}` : ''}${t.value !== undefined ? `, ${t.monitor} ${t.value.toFixed(4)}` : ''}${t.stoppedBy ? ` (stopped by ${t.stoppedBy})` : ''}`] : []),
    `from: ${m.provenance.source}${m.provenance.dataset ? ` on ${m.provenance.dataset}` : ''}, ${m.provenance.createdAt}${m.provenance.unetpp ? `, unetpp ${m.provenance.unetpp}` : ''}`,
  ];
  return lines.join('\n');
}

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
  addPyTorchMetaOptions(cmd);
  addCommon(cmd, { backend: false });
  cmd.action(action(async ([checkpoint], opts) => {
    if (checkpoint && (opts.model || opts.pytorch)) throw new CliError('give the checkpoint either as an argument or with --model/--pytorch, not both');
    let cfg: Partial<ModelConfig>;
    let meta: CheckpointMeta | undefined;
    if (checkpoint || opts.model || opts.pytorch) {
      meta = loadModelSource({ ...opts, model: checkpoint ?? opts.model }).meta;
      cfg = { ...meta.model };
    } else {
      cfg = modelConfigFrom(opts);
      if (opts.depth !== undefined) {
        if (opts.filters) throw new CliError('give --depth or --filters, not both');
        cfg.filters = Array.from({ length: opts.depth + 1 }, (_, i) => 32 * 2 ** i);
      }
    }
    if (opts.level !== undefined) cfg.level = opts.level;
    const info = namingFlags(() => describeModel(cfg, { size: opts.size }));
    if (opts.json) console.log(JSON.stringify(meta ? { ...info, meta } : info, null, 2));
    else {
      console.log(meta ? `${formatInfo(info).trimEnd()}\n${formatMeta(meta)}` : formatInfo(info));
      const { describeBackends } = await import('../../infer/predict-backend.js'); // loads the addon: text output only
      for (const line of await describeBackends()) console.log(line);
    }
  }));
  return cmd;
}
