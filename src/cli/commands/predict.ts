// `unetpp predict`: masks (and overlays) for images, folders and NIfTI volumes.
import { Command, InvalidArgumentError, Option } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { resolveBackend } from '../backend.js';
import { float, int, memorySize, oneOf, size } from '../parse.js';
import { createPredictor, describeTiling, type Predictor, type Tiling } from '../../infer/predict.js';
import { predictCase } from '../../infer/volume-files.js';
import type { VolumePipeline } from '../../data/volume-dataset.js';
import { createEnsemble } from '../../infer/ensemble.js';
import { loadEnsembleSource } from '../ensemble-source.js';
import { predictPaths, predictVolume, type FilePredictOptions, type PredictedFile } from '../../infer/files.js';
import type { Normalize } from '../../data/transforms.js';

/** The predictor flags, shared with eval. */
export function addPredictorOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--mode <mode>', 'accurate: mean of the heads; fast: one head').argParser(oneOf('accurate', 'fast')).default('accurate'))
    .option('--head <n>', 'head read in fast mode (default the deepest)', int(1, 6))
    .option('--level <d>', 'prune to UNet++ L^d before predicting (needs deep supervision)', int(1, 6))
    .option('--tile <size>', 'sliding-window size N, HxW or DxHxW (multiples of 2^level); default the whole image (memory permitting), for 3D models the training patch', tileSize)
    .option('--overlap <f>', 'fraction of a window shared with its neighbour', float(0, 1, true), 0.25)
    .addOption(new Option('--blend <kind>', 'weights of overlapping windows').argParser(oneOf('gaussian', 'linear')).default('gaussian'))
    .option('--tta', 'average over flips (identity, horizontal, vertical, both)')
    .option('--batch <n>', 'windows per network run (at most; fewer where memory is short)', int(1, 4096), 4)
    .option('--max-memory <size>', 'memory inference may use, e.g. 4G or 512M (default: half of what is available); without --tile, images that do not fit run in sliding windows', memorySize)
    .option('--threshold <t>', 'probability threshold of the masks', float(0, 1), 0.5)
    .option('--resize <size>', 'predict at N or HxW and resize probabilities back (models trained on resized images)', size)
    .addOption(new Option('--normalize <kind>', 'input normalisation (default: what the checkpoint records, else none)').argParser(oneOf('none', 'zscore', 'minmax')));
}

/** "96" -> [96]; "96x128" -> [96, 128]; "32x96x96" -> [32, 96, 96]. */
function tileSize(v: string): number[] {
  if (!/^\d+(x\d+){0,2}$/.test(v.trim())) throw new InvalidArgumentError('expected N, HxW or DxHxW, e.g. 512 or 64x128x128');
  const p = v.trim().split('x').map(Number);
  if (p.some((x) => x < 1)) throw new InvalidArgumentError('sizes must be positive');
  return p;
}

export function predictorSettings(opts: Record<string, any>) {
  return {
    mode: opts.mode, head: opts.head, level: opts.level, tile: (opts.tile as number[] | undefined)?.length === 1 ? opts.tile[0] as number : opts.tile as number[] | undefined,
    overlap: opts.overlap, blend: opts.blend, tta: !!opts.tta, batch: opts.batch, maxMemory: opts.maxMemory as number | undefined,
    onTiling: (t: Tiling, sizes: number[]) => console.log(`tiling: ${describeTiling(t, ...sizes)}`),
  };
}

export function normalizeSetting(flag: string | undefined, recorded: Normalize | undefined): Normalize | undefined {
  return flag ? ({ kind: flag } as Normalize) : recorded;
}

/** 3D models: every input is a case (a NIfTI file or a DICOM series folder), or with --stack
 *  all inputs are the modalities of one case; prepared as the checkpoint's pipeline says. */
async function predictVolumes(predictor: Predictor, inputs: string[], opts: Record<string, any>, metadata: Record<string, string>): Promise<void> {
  if (!metadata.volumePipeline) throw new CliError('this 3D checkpoint records no volume pipeline (train it with unetpp train on a volume dataset)');
  const pipeline = JSON.parse(metadata.volumePipeline) as VolumePipeline;
  const cases = opts.stack ? [inputs] : inputs.map((p) => [p]);
  const t0 = performance.now();
  for (const [i, images] of cases.entries()) {
    const r = await predictCase(predictor, images, opts.out, pipeline, { threshold: opts.threshold, probabilities: !!opts.probabilities });
    console.log(`[${i + 1}/${cases.length}] ${r.input} -> ${r.outputs.join(', ')} (${r.dims.join('x')}, foreground ${(100 * r.foreground).toFixed(1)}%, ${r.ms.toFixed(0)} ms)`);
  }
  console.log(`${cases.length} case(s) in ${((performance.now() - t0) / 1000).toFixed(2)} s; labels in ${opts.out}`);
}

export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description('predict masks for image files, folders of images, or volumes (3D models; 2D models slice by slice)')
    .argument('<inputs...>', 'image files (.png .jpg .tif), folders of them, .nii/.nii.gz volumes or (3D models) DICOM series folders')
    .option('-o, --out <dir>', 'output folder for masks (PNG 0/255; NIfTI labels for volumes)', 'predictions')
    .option('--overlay', 'also write <stem>_overlay.png')
    .option('--probabilities', 'also write <stem>_prob.png (16-bit probabilities)')
    .option('--stack', 'treat the NIfTI inputs as the modalities (channels) of one case')
    .option('--ensemble <cv_dir>', 'average the probabilities of the folds of unetpp cv (instead of --model)');
  addModelSource(cmd);
  addPredictorOptions(cmd);
  addCommon(cmd);
  cmd.action(action(async ([inputs], opts) => {
    const members = opts.ensemble ? loadEnsembleSource(opts) : [loadModelSource(opts)];
    const src = members[0];
    const backend = await resolveBackend(opts.backend, opts.precision, 'infer', src.model.config.dims);
    const settings = predictorSettings(opts);
    // 3D models normalise per window (instance norm): by default they see windows of their training patch.
    if (src.model.config.dims === 3 && settings.tile === undefined && src.metadata.patch) settings.tile = src.metadata.patch.split('x').map(Number);
    const predictors = members.map((m) => createPredictor(m.model, { backend, ...settings }));
    const predictor = predictors.length === 1 ? predictors[0] : createEnsemble(predictors);
    if (src.model.config.dims === 3) return predictVolumes(predictor, inputs, opts, src.metadata);
    const fileOpts: FilePredictOptions = {
      normalize: normalizeSetting(opts.normalize, src.normalize), classNames: src.classNames, threshold: opts.threshold,
      overlay: !!opts.overlay, probabilities: !!opts.probabilities,
      resize: opts.resize && { height: opts.resize[0], width: opts.resize[1] },
    };
    const t0 = performance.now();
    const report = (r: PredictedFile, i: number, n: number) =>
      console.log(`[${i + 1}/${n}] ${r.input} -> ${r.outputs[0]} (${r.width}x${r.height}, foreground ${(100 * r.foreground).toFixed(1)}%, ${r.ms.toFixed(0)} ms)`);
    let results: PredictedFile[];
    if (opts.stack) {
      if (!(inputs as string[]).every((p) => /\.nii(\.gz)?$/i.test(p))) throw new CliError('--stack: every input must be a .nii or .nii.gz volume');
      results = [await predictVolume(predictor, inputs, opts.out, fileOpts)];
      report(results[0], 0, 1);
    } else {
      results = await predictPaths(predictor, inputs, opts.out, fileOpts, report);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`${results.length} file(s) in ${s.toFixed(2)} s on ${backend.name} (${backend.precision}); masks in ${opts.out}`);
  }));
  return cmd;
}
