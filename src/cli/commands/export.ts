// `unetpp export`: a checkpoint to a PyTorch state_dict (safetensors) or ONNX (opset 17).
import { Command, Option } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { float, int, oneOf } from '../parse.js';
import { exportPyTorch } from '../../io/pytorch.js';
import { exportOnnx, type OnnxMode } from '../../io/onnx.js';
import { writeWebBundle, type WebVolumeOptions } from '../../io/web-bundle.js';
import type { VolumeNorm } from '../../data/volumes/intensity.js';
import type { CheckpointMeta } from '../../io/checkpoint-meta.js';

const NORMS: VolumeNorm[] = ['mri', 'ct', 'zscore', 'none'];

/** --web's volume facts: the checkpoint meta's volume input, labels and post-processing, overridden by flags. */
function webVolume(opts: Record<string, any>, meta: CheckpointMeta): WebVolumeOptions | undefined {
  const i = meta.input;
  let v: WebVolumeOptions = {};
  if (i.kind === 'volume') v = { modalities: i.modalities, normalize: i.normalize, ct: i.ct, spacing: i.spacing, cropToNonzero: i.cropToNonzero, labels: meta.labels };
  if (opts.modalities) v.modalities = String(opts.modalities).split(',').map((s) => s.trim()).filter(Boolean);
  if (opts.volumeNormalize) {
    const kinds = String(opts.volumeNormalize).split(',').map((s) => s.trim());
    for (const k of kinds) if (!NORMS.includes(k as VolumeNorm)) throw new CliError(`--volume-normalize: '${k}' is not one of ${NORMS.join(', ')}`);
    v.normalize = kinds.length === 1 ? (kinds[0] as VolumeNorm) : (kinds as VolumeNorm[]);
  }
  if (meta.postprocess?.length) v.postprocess = meta.postprocess;
  const asked = opts.volumes || opts.modalities || opts.volumeNormalize || i.kind === 'volume';
  return asked ? v : undefined;
}

/** --tile: N, or HxW / DxHxW. */
function tileSizes(v: string): number[] {
  if (!/^\d+(x\d+){0,2}$/i.test(v.trim())) throw new Error(`'${v}' is not N, HxW or DxHxW`);
  const parts = (v.match(/\d+/g) ?? []).map(Number);
  if (parts.some((n) => n < 1)) throw new Error(`'${v}' is not N, HxW or DxHxW`);
  return parts;
}

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('export a model as a PyTorch state_dict (.safetensors) or ONNX')
    .addOption(new Option('-f, --format <name>', 'pytorch: NestedUNet state_dict; onnx: probabilities graph, opset 17').argParser(oneOf('pytorch', 'onnx')).default('onnx'))
    .option('-o, --out <file>', 'output file (default: model.onnx or model.safetensors)')
    .addOption(new Option('--mode <mode>', 'onnx output: accurate (mean of heads) or fast (one head)').argParser(oneOf('accurate', 'fast')).default('accurate'))
    .option('--head <n>', 'onnx fast mode: head to read', int(1, 6))
    .option('--level <d>', 'export the pruned UNet++ L^d', int(1, 6))
    .option('--fixed-size <n>', 'onnx: fix every side to n (H = W, or D = H = W for volumes) instead of dynamic sizes', int(1))
    .option('--fold-bn', 'onnx: fold batch norm into the convs')
    .option('--web <dir>', 'browser bundle for web/: ONNX per pruning level + accurate, and manifest.json')
    .option('--tile <size>', '--web: sliding-window size the page uses: N, HxW or DxHxW (default 256; for 3D models the training patch, else 64)', tileSizes)
    .option('--volumes', '--web: a 2D model meant for volumes (the page runs it slice by slice); implied for 3D models')
    .option('--modalities <names>', '--web, volumes: input channel names in order, e.g. t1,t1ce,t2,flair')
    .option('--volume-normalize <kinds>', `--web, volumes: per modality or one for all: ${NORMS.join(', ')} (default zscore)`)
    .option('--overlap <f>', '--web: fraction of a window shared with its neighbour', float(0, 1, true), 0.25)
    .option('--threshold <t>', '--web: probability threshold of the masks', float(0, 1), 0.5);
  addModelSource(cmd);
  addCommon(cmd, { backend: false });
  cmd.action(action(async (_args, opts) => {
    const { models: [model], meta } = loadModelSource(opts);
    const input = meta.input;
    if (opts.web) {
      if (opts.level !== undefined || opts.out) throw new CliError('--web writes every level and names its files: drop --level and --out');
      let m;
      try {
        m = writeWebBundle(opts.web, model, {
          tile: opts.tile?.length === 1 ? opts.tile[0] : opts.tile ?? meta.window, overlap: opts.overlap, tta: meta.tta, threshold: opts.threshold,
          normalize: input.kind === 'image' ? input.normalize : undefined, classNames: meta.classNames,
          trainedSize: input.kind === 'image' ? input.resize : undefined, volume: webVolume(opts, meta),
        });
      } catch (e) { throw new CliError((e as Error).message); }
      console.log(`wrote ${opts.web}: manifest.json, ${m.models.map((x) => x.file).join(', ')}`);
      return;
    }
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
