// Prediction on files: an image, a folder of images, or a NIfTI volume (slice by slice).
// Masks are written as PNG 0/255 (one per class folder when there are several classes) or
// as a NIfTI label volume; every file is written atomically (tmp + rename).
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { readImage, writeMaskPng, writeImagePng, fileError, type Image } from '../data/read-image.js';
import { readNifti, writeNifti, volumeSlice, type Volume } from '../data/nifti.js';
import { normalize, resizeBilinear, type Normalize } from '../data/transforms.js';
import { labelMap, type Predictor, type ProbMap } from './predict.js';
import { makeOverlay } from './overlay.js';

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
  /** Names of the class folders when the model has several classes. Default class0..classK-1. */
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
const stemOf = (p: string) => basename(p).replace(/\.nii\.gz$/i, '').replace(/\.[^.]+$/, '');

/** The network's input for an image: the optional resize, then the normalisation (on a copy). */
export function prepareImage(img: Image, opts: FilePredictOptions = {}): Image {
  let { data, width: w, height: h } = img;
  const c = img.channels;
  if (opts.resize) {
    data = resizeBilinear(data, c, h, w, opts.resize.height, opts.resize.width);
    [w, h] = [opts.resize.width, opts.resize.height];
  } else {
    data = data.slice(); // normalize works in place
  }
  if (opts.normalize) normalize(data, c, w * h, opts.normalize);
  return { data, channels: c, height: h, width: w };
}

/** Probabilities back at the image's own size (undoes prepareImage's resize). */
export function restoreSize(p: ProbMap, img: Image, opts: FilePredictOptions = {}): ProbMap {
  if (!opts.resize) return p;
  const back = resizeBilinear(p.data, p.classes, p.height, p.width, img.height, img.width);
  return { data: back, classes: p.classes, height: img.height, width: img.width };
}

/** Probabilities for an image at its own size, with the optional resize and normalisation. */
export function predictImage(predictor: Predictor, img: Image, opts: FilePredictOptions = {}): ProbMap {
  return restoreSize(predictor.predict(prepareImage(img, opts)), img, opts);
}

/** One 0/1 plane per model output channel: thresholded (one class, sigmoid) or argmax (softmax). */
export function binaryMasks(p: ProbMap, multiclass: 'softmax' | 'sigmoid' = 'softmax', t = 0.5): Uint8Array {
  const plane = p.height * p.width;
  const out = new Uint8Array(p.classes * plane);
  if (p.classes > 1 && multiclass === 'softmax') {
    const labels = labelMap(p, 'softmax', t);
    for (let i = 0; i < plane; i++) out[labels[i] * plane + i] = 1;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = p.data[i] > t ? 1 : 0;
  }
  return out;
}

function classNames(k: number, opts: FilePredictOptions): string[] {
  const names = opts.classNames ?? Array.from({ length: k }, (_, i) => `class${i}`);
  if (names.length !== k) throw new Error(`classNames has ${names.length} names, the model has ${k} classes`);
  return names;
}

/** The mask files predict writes for an input (what a resumed batch checks for). */
export function maskPathsFor(input: string, outDir: string, classes: number, opts: FilePredictOptions = {}): string[] {
  if (isNifti(input)) return [join(outDir, `${stemOf(input)}.nii.gz`)];
  const stem = stemOf(input);
  if (classes === 1) return [join(outDir, `${stem}.png`)];
  return classNames(classes, opts).map((name) => join(outDir, name, `${stem}.png`));
}

/** Predicts one image file; writes <out>/<stem>.png (or <out>/<class>/<stem>.png) and extras. */
export async function predictImageFile(predictor: Predictor, input: string, outDir: string, opts: FilePredictOptions = {}): Promise<PredictedFile> {
  const t0 = performance.now();
  const want = predictor.model.config.inChannels;
  if (want !== 1 && want !== 3) throw fileError(input, `the model takes ${want} channels; image files give 1 or 3`);
  const img = await readImage(input, { channels: want });
  let p: ProbMap;
  try { p = predictImage(predictor, img, opts); } catch (e) { throw fileError(input, 'prediction failed', e); }
  const masks = binaryMasks(p, opts.multiclass ?? predictor.model.config.multiclass, opts.threshold);
  const { width: W, height: H } = img;
  const plane = W * H;
  const stem = stemOf(input);
  const outputs: string[] = [];
  await mkdir(outDir, { recursive: true });
  const names = p.classes > 1 ? classNames(p.classes, opts) : [''];
  for (let k = 0; k < p.classes; k++) {
    const dir = names[k] ? join(outDir, names[k]) : outDir;
    if (names[k]) await mkdir(dir, { recursive: true });
    const path = join(dir, `${stem}.png`);
    await writeMaskPng(path, masks.subarray(k * plane, (k + 1) * plane), W, H);
    outputs.push(path);
  }
  if (opts.overlay) {
    const path = join(outDir, `${stem}_overlay.png`);
    const soft = p.classes > 1 && (opts.multiclass ?? predictor.model.config.multiclass) === 'softmax';
    // softmax channel 0 is background: not drawn
    await writeImagePng(path, makeOverlay(img, soft ? masks.subarray(plane) : masks, soft ? p.classes - 1 : p.classes));
    outputs.push(path);
  }
  if (opts.probabilities) {
    const path = join(outDir, `${stem}_prob.png`);
    const ch = p.classes > 1 ? 1 : 0;
    await writeImagePng(path, { width: W, height: H, channels: 1, data: p.data.subarray(ch * plane, (ch + 1) * plane) }, 16);
    outputs.push(path);
  }
  return { input, outputs, width: W, height: H, foreground: foregroundFraction(masks, p), ms: performance.now() - t0 };
}

function foregroundFraction(masks: Uint8Array, p: ProbMap): number {
  const plane = p.width * p.height;
  const first = p.classes > 1 && masks.length === p.classes * plane ? 1 : 0;
  let n = 0;
  for (let i = 0; i < plane; i++) {
    for (let k = first; k < p.classes; k++) if (masks[k * plane + i]) { n++; break; }
  }
  return n / plane;
}

/**
 * Predicts a NIfTI volume slice by slice (axial z). Several paths are the modalities of one
 * case, stacked as channels. Writes <out>/<stem>.nii.gz with labels (0/1, or class ids).
 */
export async function predictVolume(predictor: Predictor, inputs: string[], outDir: string, opts: FilePredictOptions = {}): Promise<PredictedFile> {
  const t0 = performance.now();
  const C = predictor.model.config.inChannels;
  if (inputs.length !== C) throw fileError(inputs[0], `the model takes ${C} channels; give ${C} volume(s) (modalities), got ${inputs.length}`);
  const vols: Volume[] = [];
  for (const path of inputs) vols.push(await readNifti(path));
  const [X, Y, Z] = vols[0].dims;
  vols.forEach((v, i) => {
    if (v.dims.some((d, j) => d !== vols[0].dims[j])) throw fileError(inputs[i], `dims ${v.dims.join('x')} differ from ${inputs[0]} (${X}x${Y}x${Z})`);
  });
  const plane = X * Y;
  const labels = new Float32Array(plane * Z);
  const mc = opts.multiclass ?? predictor.model.config.multiclass;
  let fg = 0;
  for (let z = 0; z < Z; z++) {
    const data = new Float32Array(C * plane);
    vols.forEach((v, c) => data.set(volumeSlice(v, z).data, c * plane));
    let p: ProbMap;
    try { p = predictImage(predictor, { width: X, height: Y, channels: C, data }, opts); } catch (e) { throw fileError(inputs[0], `slice ${z}: prediction failed`, e); }
    const l = labelMap(p, mc, opts.threshold);
    for (let i = 0; i < plane; i++) { labels[z * plane + i] = l[i]; if (l[i]) fg++; }
    await new Promise((r) => setImmediate(r)); // let timers and I/O run between slices (services)
  }
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, `${stemOf(inputs[0])}.nii.gz`);
  await writeNifti(path, { dims: [X, Y, Z], spacing: vols[0].spacing, affine: vols[0].affine, data: labels }, { datatype: 'uint8' });
  return { input: inputs[0], outputs: [path], width: X, height: Y, foreground: fg / labels.length, ms: performance.now() - t0 };
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
