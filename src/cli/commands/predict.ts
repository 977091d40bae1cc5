// `unetpp predict`: masks (and overlays) for images, folders and NIfTI volumes.
import { Command, InvalidArgumentError, Option } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addModelSource, loadModelSource } from '../model-source.js';
import { checkTileFlag } from '../window.js';
import { predictBackend, describePredictBackend } from '../../infer/predict-backend.js';
import { float, int, memorySize, oneOf, size } from '../parse.js';
import { describeTiling, type Tiling } from '../../infer/predict.js';
import { loadEnsembleSource } from '../ensemble-source.js';
import { listInputs } from '../../infer/files.js';
import { PredictorCache, type PredictorSettings } from '../../infer/predictor-cache.js';
import { inputFromPaths, predictInput, type PredictInputOptions } from '../../infer/predict-input.js';
import { outputStem, writePrediction } from '../../infer/write-prediction.js';
import type { ModelEntry } from '../../infer/model-entry.js';
import { describeRule } from '../../infer/postprocess.js';

/** The predictor flags, shared with eval. */
export function addPredictorOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--mode <mode>', 'accurate: mean of the heads; fast: one head').argParser(oneOf('accurate', 'fast')).default('accurate'))
    .option('--head <n>', 'head read in fast mode (default the deepest)', int(1, 6))
    .option('--level <d>', 'prune to UNet++ L^d before predicting (needs deep supervision)', int(1, 6))
    .option('--tile <size>', 'sliding-window size N, HxW or DxHxW (multiples of 2^level); default the checkpoint\'s window (3D models: the training patch), else the whole image (memory permitting)', tileSize)
    .option('--overlap <f>', 'fraction of a window shared with its neighbour', float(0, 1, true), 0.25)
    .addOption(new Option('--blend <kind>', 'weights of overlapping windows').argParser(oneOf('gaussian', 'linear')).default('gaussian'))
    .option('--tta', 'average over the flips of every subset of the axes (4 for images, 8 for volumes); default: as the checkpoint records (train --tta)')
    .option('--no-tta', 'one pass, even where the checkpoint records flips')
    .option('--batch <n>', 'windows per network run (at most; fewer where memory is short)', int(1, 4096), 4)
    .option('--max-memory <size>', 'memory inference may use, e.g. 4G or 512M (default: half of what is available); without --tile, images that do not fit run in sliding windows', memorySize)
    .option('--threshold <t>', 'probability threshold of the masks', float(0, 1), 0.5)
    .option('--resize <size>', 'predict at N or HxW and resize probabilities back (default: the size the checkpoint was trained at, if any)', size)
    .addOption(new Option('--normalize <kind>', 'input normalisation (default: what the checkpoint records, else none)').argParser(oneOf('none', 'zscore', 'minmax')));
}

/** "96" -> [96]; "96x128" -> [96, 128]; "32x96x96" -> [32, 96, 96]. */
function tileSize(v: string): number[] {
  if (!/^\d+(x\d+){0,2}$/.test(v.trim())) throw new InvalidArgumentError('expected N, HxW or DxHxW, e.g. 512 or 64x128x128');
  const p = (v.match(/\d+/g) ?? []).map(Number);
  if (p.some((x) => x < 1)) throw new InvalidArgumentError('sizes must be positive');
  return p;
}

export function predictorSettings(opts: Record<string, any>): PredictorSettings {
  return {
    mode: opts.mode, head: opts.head, level: opts.level, tile: (opts.tile as number[] | undefined)?.length === 1 ? opts.tile[0] as number : opts.tile as number[] | undefined,
    overlap: opts.overlap, blend: opts.blend, tta: opts.tta as boolean | undefined, batch: opts.batch, maxMemory: opts.maxMemory as number | undefined,
    onTiling: (t: Tiling, sizes: number[]) => console.log(`tiling: ${describeTiling(t, ...sizes)}`),
  };
}

/** The flags that change how an input is prepared and read out (predict, eval). */
export function inputSettings(opts: Record<string, any>): Pick<PredictInputOptions, 'threshold' | 'normalize' | 'resize'> {
  return { threshold: opts.threshold, normalize: opts.normalize ? { kind: opts.normalize } : undefined, resize: opts.resize };
}

/** --no-postprocess, for predict and eval. */
export const addPostprocessFlag = (cmd: Command) =>
  cmd.option('--no-postprocess', 'skip the post-processing rules the checkpoint records (unetpp postprocess)');

/** Says which rules of the meta run (none with --no-postprocess); the setting for predictInput. */
export function postprocessSetting(opts: Record<string, any>, entry: ModelEntry): boolean {
  const rules = entry.meta.postprocess ?? [];
  if (opts.postprocess !== false && rules.length) console.log(`post-processing: ${rules.map((r) => describeRule(r)).join('; ')}`);
  return opts.postprocess !== false;
}

/** What the command runs on: 3D models take cases (a file per input, or --stack: all inputs are
 *  the modalities of one case); 2D models take images and folders of them, NIfTI slice by slice. */
async function casesOf(entry: ModelEntry, inputs: string[], stack: boolean): Promise<string[][]> {
  if (entry.meta.model.dims === 3) return stack ? [inputs] : inputs.map((p) => [p]);
  if (stack) {
    if (!inputs.every((p) => /\.nii(\.gz)?$/i.test(p))) throw new CliError('--stack: every input must be a .nii or .nii.gz volume');
    return [inputs];
  }
  const files: string[] = [];
  for (const p of inputs) files.push(...(await listInputs(p)));
  return files.map((f) => [f]);
}

export function predictCommand(): Command {
  const cmd = new Command('predict')
    .description('predict masks for image files, folders of images, or volumes (3D models; 2D models slice by slice)')
    .argument('<inputs...>', 'image files (.png .jpg .tif), folders of them, .nii/.nii.gz volumes or (3D models) DICOM series folders')
    .option('-o, --out <dir>', 'output folder for masks (PNG 0/255; NIfTI labels for volumes)', 'predictions')
    .option('--overlay', 'also write <stem>_overlay.png')
    .option('--probabilities', 'also write <stem>_prob.png (16-bit probabilities) or <stem>_prob.nii.gz')
    .option('--stack', 'treat the NIfTI inputs as the modalities (channels) of one case')
    .option('--ensemble <cv_dir>', 'average the probabilities of the folds of unetpp cv (instead of --model)');
  addModelSource(cmd);
  addPredictorOptions(cmd);
  addPostprocessFlag(cmd);
  addCommon(cmd, { onnx: true });
  cmd.action(action(async ([inputs], opts) => {
    const entry = opts.ensemble ? loadEnsembleSource(opts) : loadModelSource(opts);
    const { dims } = entry.meta.model;
    const backend = await predictBackend(opts.backend, opts.precision, dims);
    console.log(`backend: ${await describePredictBackend(backend)}`);
    const cache = new PredictorCache(backend);
    const settings = predictorSettings(opts);
    checkTileFlag(opts.tile, entry.meta.model, opts.level);
    cache.get(entry, settings); // bad options fail before any input is read
    const postprocess = postprocessSetting(opts, entry); // an ensemble's entry has no rules
    const run: PredictInputOptions = { settings, ...inputSettings(opts), postprocess, encode: false }; // writePrediction encodes
    const cases = await casesOf(entry, inputs, !!opts.stack);
    const t0 = performance.now();
    for (const [i, paths] of cases.entries()) {
      const p = await predictInput(entry, cache, inputFromPaths(paths), run);
      const outputs = await writePrediction(p, opts.out, outputStem(paths[0], dims), entry.meta, { overlay: !!opts.overlay, probabilities: !!opts.probabilities });
      const size = p.kind === 'image' ? `${p.width}x${p.height}` : dims === 3 ? p.dims.join('x') : `${p.dims[0]}x${p.dims[1]}`;
      const shown = dims === 3 ? outputs.join(', ') : outputs[0];
      console.log(`[${i + 1}/${cases.length}] ${paths[0]} -> ${shown} (${size}, foreground ${(100 * p.foreground).toFixed(1)}%, ${p.ms.toFixed(0)} ms)`);
    }
    const s = ((performance.now() - t0) / 1000).toFixed(2);
    if (dims === 3) console.log(`${cases.length} case(s) in ${s} s; labels in ${opts.out}`);
    else console.log(`${cases.length} file(s) in ${s} s on ${backend.name} (${backend.precision}); masks in ${opts.out}`);
  }));
  return cmd;
}
