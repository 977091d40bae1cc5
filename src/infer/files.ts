// File functions over a bare Predictor (library use; the CLI, the service and the worker use
// predictInput with a model entry): an image, a folder of images, or a NIfTI volume slice by
// slice, written as `unetpp predict` writes them. The options stand in for a checkpoint's meta.
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileError } from '../data/images/read-image.js';
import type { Normalize } from '../data/images/transforms.js';
import type { ModelConfig } from '../models/config.js';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import { completeMeta } from '../io/meta-defaults.js';
import { validateMeta } from '../io/meta-validate.js';
import type { Predictor } from './predict.js';
import { predictWith, type ImagePrediction, type VolumePrediction } from './predict-input.js';
import { outputStem, writePrediction } from './write-prediction.js';

export { prepareImage, restoreSize, predictImage, binaryMasks } from './image-prep.js';

export interface FilePredictOptions {
  /** Applied to the image (values in [0, 1]) before the network, as in training. */
  normalize?: Normalize;
  /** Predict at this size and resize the probabilities back (for models trained on resized images). */
  resize?: { width: number; height: number };
  threshold?: number;
  /** Also write <stem>_overlay.png. */
  overlay?: boolean;
  /** Also write probabilities as 16-bit PNG <stem>_prob.png (first foreground channel). */
  probabilities?: boolean;
  /** Names of the class folders when the model has several classes. Default: the label spec's. */
  classNames?: string[];
  multiclass?: 'softmax' | 'sigmoid';
}

export interface PredictedFile {
  input: string;
  outputs: string[];
  width: number;
  height: number;
  /** Fraction of pixels predicted foreground (any class but background). */
  foreground: number;
  ms: number;
}

const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff']);
const isNifti = (p: string) => /\.nii(\.gz)?$/i.test(p);

/** The meta a 2D model's options amount to. */
function metaOf(cfg: ModelConfig, o: FilePredictOptions): CheckpointMeta {
  const model = o.multiclass && o.multiclass !== cfg.multiclass ? { ...cfg, multiclass: o.multiclass } : cfg;
  const resize: [number, number] | undefined = o.resize && [o.resize.height, o.resize.width];
  const normalize = o.normalize ?? { kind: 'none' as const };
  const input = cfg.dims === 2 ? { kind: 'image' as const, normalize, ...(resize ? { resize } : {}) } : undefined;
  return validateMeta(completeMeta(model, { input, classNames: o.classNames }, 'train'), 'predict options');
}

/** Predicts one image file; writes <out>/<stem>.png (or <out>/<class>/<stem>.png) and extras. */
export async function predictImageFile(predictor: Predictor, input: string, outDir: string,
                                       opts: FilePredictOptions = {}): Promise<PredictedFile> {
  const t0 = performance.now();
  const meta = metaOf(predictor.model.config, opts);
  const run = { threshold: opts.threshold, encode: false };
  const p = await predictWith(predictor, meta, { kind: 'image-file', path: input }, run) as ImagePrediction;
  const outputs = await writePrediction(p, outDir, outputStem(input, 2), meta, opts);
  return { input, outputs, width: p.width, height: p.height, foreground: p.foreground, ms: performance.now() - t0 };
}

/**
 * Predicts a NIfTI volume slice by slice (axial z). Several paths are the modalities of one
 * case, stacked as channels. Writes <out>/<stem>.nii.gz with labels (0/1, or class ids).
 */
export async function predictVolume(predictor: Predictor, inputs: string[], outDir: string,
                                    opts: FilePredictOptions = {}): Promise<PredictedFile> {
  const t0 = performance.now();
  const meta = metaOf(predictor.model.config, opts);
  const run = { threshold: opts.threshold, encode: false };
  const p = await predictWith(predictor, meta, { kind: 'volume-files', paths: inputs }, run) as VolumePrediction;
  const outputs = await writePrediction(p, outDir, outputStem(inputs[0], 2), meta, opts);
  return { input: inputs[0], outputs, width: p.dims[0], height: p.dims[1], foreground: p.foreground, ms: performance.now() - t0 };
}

/** Lists the image (or NIfTI) files of a folder, sorted; a file path lists itself. */
export async function listInputs(path: string): Promise<string[]> {
  const s = await stat(path).catch(() => null);
  if (!s) throw fileError(path, 'no such file or folder');
  if (!s.isDirectory()) return [path];
  const names = (await readdir(path)).sort().filter((n) => !n.startsWith('.') && (IMAGE_EXTS.has(extname(n).toLowerCase()) || isNifti(n)));
  if (!names.length) throw fileError(path, 'no .png/.jpg/.tif/.nii(.gz) files in this folder');
  return names.map((n) => join(path, n));
}

/** Predicts files and folders (NIfTI volumes slice by slice); calls onFile after each. */
export async function predictPaths(predictor: Predictor, paths: string[], outDir: string, opts: FilePredictOptions = {},
                                   onFile?: (r: PredictedFile, i: number, n: number) => void): Promise<PredictedFile[]> {
  const files: string[] = [];
  for (const p of paths) files.push(...(await listInputs(p)));
  const results: PredictedFile[] = [];
  for (const [i, f] of files.entries()) {
    const r = isNifti(f) ? await predictVolume(predictor, [f], outDir, opts) : await predictImageFile(predictor, f, outDir, opts);
    results.push(r);
    onFile?.(r, i, files.length);
  }
  return results;
}
