// `unetpp export`: a checkpoint to a PyTorch state_dict (safetensors) or ONNX (opset 17).
import { Command, Option } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { int, oneOf } from '../parse.js';
import { exportPyTorch } from '../../io/pytorch.js';
import { exportOnnx, type OnnxMode } from '../../io/onnx.js';

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('export a model as a PyTorch state_dict (.safetensors) or ONNX')
    .addOption(new Option('-f, --format <name>', 'pytorch: NestedUNet state_dict; onnx: probabilities graph, opset 17').argParser(oneOf('pytorch', 'onnx')).default('onnx'))
    .option('-o, --out <file>', 'output file (default: model.onnx or model.safetensors)')
    .addOption(new Option('--mode <mode>', 'onnx output: accurate (mean of heads) or fast (one head)').argParser(oneOf('accurate', 'fast')).default('accurate'))
    .option('--head <n>', 'onnx fast mode: head to read', int(1, 6))
    .option('--level <d>', 'export the pruned UNet++ L^d', int(1, 6))
    .option('--fixed-size <n>', 'onnx: fix H = W = n instead of dynamic sizes', int(1))
    .option('--fold-bn', 'onnx: fold batch norm into the convs')
    .option('--web <dir>', 'a browser bundle (ONNX + page): not available yet');
  addModelSource(cmd);
  addCommon(cmd, { backend: false });
  cmd.action(action(async (_args, opts) => {
    if (opts.web) throw new CliError('--web: the browser bundle is not available in this version; export --format onnx and use onnxruntime-web');
    const { model } = loadModelSource(opts);
    const out: string = opts.out ?? (opts.format === 'onnx' ? 'model.onnx' : 'model.safetensors');
    if (opts.format === 'pytorch') {
      exportPyTorch(out, opts.level !== undefined ? model.prune(opts.level) : model);
    } else {
      const mode: OnnxMode = opts.level !== undefined ? { kind: 'pruned', level: opts.level }
        : opts.mode === 'fast' ? { kind: 'fast', head: opts.head } : { kind: 'accurate' };
      exportOnnx(out, model, { mode, dynamicSize: opts.fixedSize === undefined, size: opts.fixedSize, foldBatchNorm: !!opts.foldBn });
    }
    console.log(`wrote ${out} (${opts.format}${opts.level !== undefined ? `, pruned L${opts.level}` : ''})`);
  }));
  return cmd;
}
