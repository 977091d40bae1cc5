// The one prediction entry: a model entry (model + meta), a predictor cache and an input (an
// image file or its bytes, decoded pixels, NIfTI files or bytes, a DICOM series folder, a
// volume already prepared) -> labels, probabilities and the encoded output (PNG for images,
// NIfTI for volumes). It dispatches on the model and the input: images; a 2D model on a volume,
// slice by slice; a 3D model on a volume prepared as its meta says (modalities, spacing,
// normalisation), its labels post-processed by the meta's rules and put back on the file's grid.
// The CLI, the service, the queue worker and evaluation all come through here, so that they give
// the same bytes.
import { statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readImage, readImageBytes, labelPng, maskPng, fileError, type Image } from '../data/images/read-image.js';
import { readVolumeFile } from '../data/volumes/volume-load.js';
import type { LoadedVolume } from '../data/volumes/volume-load.js';
import { loadForPrediction, toSourceGrid, type VolumePipeline } from '../data/volumes/volume-dataset.js';
import { encodeNifti } from '../data/formats/nifti-encode.js';
import type { ChannelVolume } from '../data/formats/nifti.js';
import { expandPlanes, labelsFromPlanes } from '../data/labels.js';
import type { Normalize } from '../data/images/transforms.js';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import { applyPostprocess } from './postprocess.js';
import type { Predictor, ProbMap } from './predict.js';
import { imageField, type Field } from './grid.js';
import { prepareImage, restoreSize, binaryMasks, type ImagePrep } from './image-prep.js';
import { PredictorCache, PredictorOptionError, type PredictorSettings } from './predictor-cache.js';
import type { ModelEntry } from './model-entry.js';
import type { StopSignal } from '../util/stop.js';

export type PredictInput =
  | { kind: 'image-file'; path: string }
  | { kind: 'image-bytes'; bytes: Uint8Array; name: string }
  /** Pixels already decoded (CHW in [0, 1], the model's channel count), e.g. a dataset's image. */
  | { kind: 'image'; image: Image; name: string }
  /** The modalities of one case (one file each), a 4D NIfTI, or a DICOM series folder. */
  | { kind: 'volume-files'; paths: string[] }
  /** A .nii or .nii.gz file's bytes. */
  | { kind: 'volume-bytes'; bytes: Uint8Array; name: string }
  /** A 3D model's case prepared already (e.g. by a dataset store): labels come back on its grid. */
  | { kind: 'prepared-volume'; volume: LoadedVolume };

const isNifti = (p: string) => /\.nii(\.gz)?$/i.test(p);
const isFolder = (p: string) => { try { return statSync(p).isDirectory(); } catch { return false; } };

/** Paths as an input: NIfTI files or a folder (DICOM) are a volume, anything else an image. */
export function inputFromPaths(paths: string[]): PredictInput {
  if (paths.length === 1 && !isNifti(paths[0]) && !isFolder(paths[0])) return { kind: 'image-file', path: paths[0] };
  return { kind: 'volume-files', paths };
}

/** One network run: the service puts it through its micro-batcher; by default it runs at once. */
export interface NetworkJob {
  predictor: Predictor;
  /** The predictor's cache key (the same key: the same model and options). */
  key: string;
  input: Field;
  /** Images may share a run with others of their size; slices and volumes run alone. */
  batchable: boolean;
}

export interface PredictInputOptions {
  settings?: PredictorSettings;
  threshold?: number;
  /** Images: instead of the meta's normalisation. */
  normalize?: Normalize;
  /** Images: predict at [height, width] and resize back, instead of the meta's size. */
  resize?: [number, number];
  /** Also encode the output (PNG or NIfTI .nii.gz bytes). Default true. */
  encode?: boolean;
  /** false: the labels as the network gives them, without the meta's post-processing rules. Default true. */
  postprocess?: boolean;
  /** How the network runs (default: the predictor, now). Its errors pass through unwrapped. */
  network?: (job: NetworkJob) => Promise<ProbMap>;
  /** Images: the decoder refuses more pixels than this (sharp's limitInputPixels). */
  maxPixels?: number;
  /** Told the input's size once decoded; may throw to refuse it (limits). */
  onDecoded?: (size: { width: number; height: number; depth?: number }) => void;
  /** Checked before every network run (a slice), between its windows and between the network's layers:
   *  once aborted, the prediction throws the signal's reason (an AbortSignal, or a SharedStop set by another thread). */
  signal?: StopSignal;
}

/** The input cannot be predicted as given: a bad option, an unreadable file, or one that does not fit the model. */
export class InputError extends Error {
  constructor(message: string, readonly reason: 'options' | 'decode' | 'mismatch', options?: ErrorOptions) {
    super(message, options);
  }
}

interface Common {
  /** One label per pixel (voxel) in the dataset's values (meta.labels), post-processed. */
  labels: Uint8Array;
  /** The network's probabilities: at the image's size; for volumes on the grid the model ran. */
  probs: ProbMap;
  /** Fraction of pixels (voxels) with a label other than 0. */
  foreground: number;
  /** PNG (images: a 0/255 mask for one class, else the label map) or .nii.gz (volumes: labels, uint8). */
  encoded?: Buffer;
  ms: number;
}

export interface ImagePrediction extends Common {
  kind: 'image';
  /** The image as read (overlays draw on it). */
  image: Image;
  width: number;
  height: number;
  /** [K, H, W] 0/1: the labels' planes (per-class sigmoids: each plane thresholded, they may overlap). */
  masks: Uint8Array;
}

export interface VolumePrediction extends Common {
  kind: 'volume';
  /** The grid of the labels: the files' own (prepared volumes: theirs). NIfTI order [X, Y, Z]. */
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: number[][];
  /** How it ran: a 2D model slice by slice, or a 3D model. */
  model: 2 | 3;
  /** Probabilities on the labels' grid, [K, Z, Y, X] (resampled back where the model ran elsewhere). */
  sourceProbabilities(): Float32Array;
}

export type Prediction = ImagePrediction | VolumePrediction;

interface Ctx {
  meta: CheckpointMeta;
  predictor: Predictor;
  key: string;
  o: PredictInputOptions;
  t0: number;
  /** Runs the network; errors of the default runner name the input. */
  run(input: Field, batchable: boolean, label: string, what?: string): Promise<ProbMap>;
}

export async function predictInput(entry: ModelEntry, cache: PredictorCache, input: PredictInput,
                                   o: PredictInputOptions = {}): Promise<Prediction> {
  let got;
  try {
    got = cache.get(entry, o.settings ?? {});
  } catch (e) {
    throw e instanceof PredictorOptionError ? new InputError(e.message, 'options', { cause: e }) : e;
  }
  return predictWith(got.predictor, entry.meta, input, o, got.key);
}

/** predictInput's dispatch for a caller that holds its predictor (library functions over a Predictor, tests). */
export async function predictWith(predictor: Predictor, meta: CheckpointMeta, input: PredictInput,
                                  o: PredictInputOptions = {}, key = ''): Promise<Prediction> {
  const t0 = performance.now();
  const { signal } = o;
  const run: Ctx['run'] = async (x, batchable, label, what = 'prediction failed') => {
    signal?.throwIfAborted();
    if (o.network) return o.network({ predictor, key, input: x, batchable });
    try {
      return await predictor.predictAsync(x, { signal });
    } catch (e) {
      throw signal?.aborted ? e : fileError(label, what, e); // a stop is not the file's fault
    }
  };
  const ctx: Ctx = { meta, predictor, key, o, t0, run };
  switch (input.kind) {
    case 'image-file': case 'image-bytes': case 'image': return predictImageInput(ctx, input);
    case 'volume-files': return predictVolumeFiles(ctx, input.paths);
    case 'volume-bytes': return withTempVolume(input.bytes, input.name, (path) => predictVolumeFiles(ctx, [path]));
    case 'prepared-volume': return predict3d(ctx, input.volume, false);
  }
}

/**
 * The one place label maps are post-processed: the meta's rules (connected components, chosen
 * on validation) in order, in place, unless the caller asks for none. dims x first ([width,
 * height] or [x, y, z]); volumes of 3D models: the grid the model ran on, where the rules were
 * chosen (and where the browser's worker applies them), before the labels go back to the files'.
 */
function postprocessLabels(ctx: Ctx, labels: Uint8Array, dims: readonly number[]): Uint8Array {
  return ctx.o.postprocess === false ? labels : applyPostprocess(labels, dims, ctx.meta.postprocess);
}

const foregroundOf = (labels: Uint8Array) => {
  let n = 0;
  for (const l of labels) if (l) n++;
  return n / labels.length;
};

interface Grid { dims: readonly number[]; spacing: readonly number[]; affine: number[][] }

/** A label map as .nii.gz bytes (uint8), on the given grid. */
export const niftiLabels = (labels: Uint8Array, g: Grid) =>
  gzipSync(encodeNifti({ dims: g.dims, spacing: g.spacing, affine: g.affine, data: labels }, 'uint8'));

type ImageInputs = Extract<PredictInput, { kind: 'image-file' | 'image-bytes' | 'image' }>;

async function predictImageInput(ctx: Ctx, input: ImageInputs): Promise<ImagePrediction> {
  const { meta, o } = ctx;
  const cfg = meta.model, C = cfg.inChannels;
  const label = input.kind === 'image-file' ? input.path : input.name;
  const mismatch = (why: string) => new InputError(`${label}: ${why}`, 'mismatch');
  if (cfg.dims === 3) throw mismatch('the model is 3D and the input is an image: give a volume (NIfTI, or a DICOM series folder)');
  let img: Image;
  if (input.kind === 'image') {
    img = input.image;
    if (img.channels !== C) throw mismatch(`the image has ${img.channels} channels, the model takes ${C}`);
  } else {
    if (C !== 1 && C !== 3) throw mismatch(`the model takes ${C} channels; image files give 1 or 3`);
    try {
      const read = { channels: C as 1 | 3, maxPixels: o.maxPixels };
      img = input.kind === 'image-file' ? await readImage(input.path, read)
        : await readImageBytes(Buffer.isBuffer(input.bytes) ? input.bytes : Buffer.from(input.bytes), input.name, read);
    } catch (e) {
      throw new InputError((e as Error).message, 'decode', { cause: e });
    }
  }
  o.onDecoded?.({ width: img.width, height: img.height });
  const prep = imagePrep(meta, o);
  const probs = restoreSize(await ctx.run(imageField(prepareImage(img, prep)), true, label), img, prep);
  const t = o.threshold ?? 0.5;
  const { width: W, height: H } = img;
  const labels = postprocessLabels(ctx, labelsFromPlanes(probs, meta.labels, t), [W, H]);
  // per-class sigmoids may overlap: their planes come from the probabilities, the others' from the labels
  const masks = cfg.classes > 1 && cfg.multiclass === 'sigmoid' ? binaryMasks(probs, 'sigmoid', t)
    : Uint8Array.from(expandPlanes(labels, meta.labels));
  const encoded = o.encode === false ? undefined : cfg.classes === 1 ? await maskPng(masks, W, H) : await labelPng(labels, W, H);
  const ms = performance.now() - ctx.t0;
  return { kind: 'image', image: img, width: W, height: H, probs, labels, masks, foreground: foregroundOf(labels), encoded, ms };
}

/** The option, else the meta's: normalisation and the size training resized to. */
function imagePrep(meta: CheckpointMeta, o: PredictInputOptions): ImagePrep {
  const input = meta.input.kind === 'image' ? meta.input : undefined;
  const size = o.resize ?? input?.resize;
  return { normalize: o.normalize ?? input?.normalize, resize: size && { height: size[0], width: size[1] } };
}

async function predictVolumeFiles(ctx: Ctx, paths: string[]): Promise<VolumePrediction> {
  if (!paths.length) throw new InputError('no volume given', 'mismatch');
  if (ctx.meta.model.dims === 2) return predictSlices(ctx, paths);
  let v: LoadedVolume;
  try {
    v = await loadForPrediction(paths, pipelineOf(ctx.meta), basename(paths[0]).replace(/\.nii(\.gz)?$/i, ''));
  } catch (e) {
    throw new InputError((e as Error).message, 'decode', { cause: e });
  }
  return predict3d(ctx, v, true, paths[0]);
}

/** What data/ prepares a case with, from the meta. */
function pipelineOf(meta: CheckpointMeta): VolumePipeline {
  if (meta.input.kind !== 'volume') throw new InputError('the meta of this 3D model describes no volume input', 'mismatch');
  const { modalities, normalize, ct, spacing, cropToNonzero } = meta.input;
  return { modalities, normalize, ct, spacing, cropToNonzero, labels: meta.labels, classNames: meta.classNames };
}

/** A 3D model on a prepared case; onSource: labels back on the files' grid (else on the case's). */
async function predict3d(ctx: Ctx, v: LoadedVolume, onSource: boolean, label = v.id): Promise<VolumePrediction> {
  const { meta, o } = ctx;
  const C = meta.model.inChannels;
  const mismatch = (why: string) => new InputError(`${label}: ${why}`, 'mismatch');
  if (meta.model.dims !== 3) throw mismatch('a prepared volume is for 3D models; this one is 2D (give the files)');
  if (v.channels !== C) throw mismatch(`the volume has ${v.channels} channel(s), the model takes ${C}`);
  const [X, Y, Z] = v.dims;
  o.onDecoded?.({ width: X, height: Y, depth: Z });
  const probs = await ctx.run({ data: v.image, channels: v.channels, sizes: [Z, Y, X] }, false, label);
  const onGrid = postprocessLabels(ctx, labelsFromPlanes(probs, meta.labels, o.threshold ?? 0.5), v.dims);
  const grid = onSource ? v.source : { dims: v.dims, spacing: v.spacing, affine: v.affine };
  const labels = onSource ? toSourceGrid(onGrid, 1, v, 'nearest') : onGrid;
  return {
    kind: 'volume', model: 3, dims: grid.dims, spacing: grid.spacing, affine: grid.affine, labels, probs,
    foreground: foregroundOf(labels), encoded: o.encode === false ? undefined : niftiLabels(labels, grid),
    sourceProbabilities: () => (onSource ? toSourceGrid(probs.data, probs.channels, v, 'linear') : probs.data),
    ms: performance.now() - ctx.t0,
  };
}

/** A 2D model on a volume: axial (z) slices as images; the modalities (files, or a 4D file's volumes) as channels. */
async function predictSlices(ctx: Ctx, paths: string[]): Promise<VolumePrediction> {
  const { meta, o } = ctx;
  const C = meta.model.inChannels;
  const vols: ChannelVolume[] = [];
  for (const p of paths) {
    try {
      vols.push(await readVolumeFile(p));
    } catch (e) {
      throw new InputError((e as Error).message, 'decode', { cause: e });
    }
  }
  const channels = vols.reduce((s, v) => s + v.channels, 0);
  const mismatch = (path: string, why: string) => new InputError(`${path}: ${why}`, 'mismatch');
  if (channels !== C || (vols.length > 1 && vols.some((v) => v.channels > 1)))
    throw mismatch(paths[0], `the model takes ${C} channels; give ${C} volume(s) (modalities), got ${channels}`);
  const [X, Y, Z] = vols[0].dims;
  vols.forEach((v, i) => {
    if (v.dims.some((d, j) => d !== vols[0].dims[j]))
      throw mismatch(paths[i], `dims ${v.dims.join('x')} differ from ${paths[0]} (${X}x${Y}x${Z})`);
  });
  o.onDecoded?.({ width: X, height: Y, depth: Z });
  const plane = X * Y, n = plane * Z, K = meta.model.classes;
  const planes = vols.flatMap((v) => Array.from({ length: v.channels }, (_, c) => v.data.subarray(c * n, (c + 1) * n)));
  const onGrid = new Uint8Array(n);
  const probs = new Float32Array(K * n);
  const prep = imagePrep(meta, o);
  const t = o.threshold ?? 0.5;
  for (let z = 0; z < Z; z++) {
    const data = new Float32Array(C * plane);
    planes.forEach((p, c) => data.set(p.subarray(z * plane, (z + 1) * plane), c * plane));
    const img: Image = { width: X, height: Y, channels: C, data };
    const slice = imageField(prepareImage(img, prep));
    const p = restoreSize(await ctx.run(slice, false, paths[0], `slice ${z}: prediction failed`), img, prep);
    onGrid.set(labelsFromPlanes(p, meta.labels, t), z * plane);
    for (let k = 0; k < K; k++) probs.set(p.data.subarray(k * plane, (k + 1) * plane), k * n + z * plane);
    await new Promise((r) => setImmediate(r)); // let timers and I/O run between slices (services)
  }
  const grid = { dims: [X, Y, Z] as [number, number, number], spacing: vols[0].spacing, affine: vols[0].affine };
  const labels = postprocessLabels(ctx, onGrid, grid.dims);
  return {
    kind: 'volume', model: 2, ...grid, labels, probs: { data: probs, channels: K, sizes: [Z, Y, X] },
    foreground: foregroundOf(labels), encoded: o.encode === false ? undefined : niftiLabels(labels, grid),
    sourceProbabilities: () => probs, ms: performance.now() - ctx.t0,
  };
}

/** Bytes through a temporary file (the readers take paths); errors name the input, not the file. */
async function withTempVolume<T>(bytes: Uint8Array, name: string, run: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-input-'));
  const gz = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  const path = join(dir, gz ? 'volume.nii.gz' : 'volume.nii');
  try {
    await writeFile(path, bytes);
    return await run(path);
  } catch (e) {
    if (e instanceof Error) e.message = e.message.replaceAll(path, name);
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
