// One volume case decoded for training or inference: modalities read and checked against each
// other and the label (dims, spacing, affine: errors name the file and the fix), optionally
// resampled to a target spacing, normalised per modality; the label kept as a byte map with
// foreground locations for patch sampling. Tensor order is [C, D, H, W] = [C, Z, Y, X]: NIfTI's
// own order (x fastest), so no transpose is needed.
import { stat } from 'node:fs/promises';
import { readNiftiChannels, type ChannelVolume } from '../formats/nifti.js';
import { readDicomFolder } from '../formats/dicom.js';
import { alignToGrid } from './reorient.js';
import type { Box } from './crop-box.js';
import { prepareVolume, type Geometry, type PrepareOptions } from './volume-prepare.js';
import { fileError } from '../images/read-image.js';
import { checkFiniteVoxels } from '../finite.js';
import { foregroundLocations, toLabelMap, type LabelSpec } from '../labels.js';
import { ctStatistics, foregroundIntensities, type CtStats, type VolumeNorm } from './intensity.js';
import type { VolumeCase } from './volume-layout.js';
import type { SplitName } from '../split-csv.js';

export type { Geometry };

export interface LoadedVolume extends Geometry {
  id: string;
  split: SplitName;
  channels: number;
  /** [C, Z, Y, X], normalised. */
  image: Float32Array;
  /** [Z, Y, X] label values (0 = background), when the case has a label. */
  labels?: Uint8Array;
  /** Per foreground class of the spec: voxel indices (for foreground-centred patches). */
  foreground: Int32Array[];
  /** The geometry in the files, before any cropping or resampling (predictions are written back onto it). */
  source: Geometry;
  /** The box of the files' grid that was kept (cropToNonzero). */
  crop?: Box;
}

/** Crop, spacing, normalisation and tolerance: PrepareOptions (volume-prepare.ts). */
export interface VolumeLoadOptions extends PrepareOptions {
  /** Input channels expected per case (the dataset's modality count); checked against 4D files. */
  modalities?: number;
  /** How label values become target planes; default binary (any non-zero). */
  labels?: LabelSpec;
}

const fmt = (v: readonly number[]) => v.map((x) => +x.toFixed(4)).join('x');

/** Throws (naming `path`) when b's grid is not a's: dims, spacing, affine. */
export function checkSameGrid(a: Geometry, aPath: string, b: Geometry, bPath: string, tol = 1e-3): void {
  const fix = 'resample it onto the image grid (same dims, spacing and orientation), or fix its header';
  if (a.dims.join() !== b.dims.join()) throw fileError(bPath, `dims ${b.dims.join('x')} differ from ${aPath} (${a.dims.join('x')}): ${fix}`);
  if (a.spacing.some((s, i) => Math.abs(s - b.spacing[i]) > tol)) throw fileError(bPath, `spacing ${fmt(b.spacing)} mm differs from ${aPath} (${fmt(a.spacing)}): ${fix}`);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++)
      if (Math.abs(a.affine[r][c] - b.affine[r][c]) > tol * Math.max(1, Math.abs(a.affine[r][c])))
        throw fileError(bPath, `affine (orientation/origin) differs from ${aPath}: row ${r} is [${b.affine[r].map((x) => +x.toFixed(3))}] vs [${a.affine[r].map((x) => +x.toFixed(3))}]: ${fix}`);
}

/**
 * A label or mask volume's data on the image grid: as it is when the grids match, reordered
 * when they differ only by axis flips/permutations (e.g. dcm2niix's flipped rows), else the
 * grid error naming the file.
 */
export function onImageGrid(v: ChannelVolume, path: string, image: Geometry, imagePath: string, tol = 1e-3): Float32Array {
  try {
    checkSameGrid(image, imagePath, v, path, tol);
    return v.data;
  } catch (e) {
    const aligned = alignToGrid(v.data, v, image, tol);
    if (aligned && v.spacing.every((s) => image.spacing.some((t) => Math.abs(s - t) <= tol))) return aligned;
    throw e;
  }
}

/** A NIfTI file (no NaN or Inf voxel: an error naming it), or a folder holding one DICOM series,
 *  as a volume with channels. */
export async function readVolumeFile(path: string): Promise<ChannelVolume> {
  if (!(await stat(path).then((s) => s.isDirectory(), () => false))) {
    const v = await readNiftiChannels(path);
    checkFiniteVoxels(v.data, v.dims, path); // NaN/Inf would spread through normalisation
    return v;
  }
  const series = await readDicomFolder(path);
  if (series.length > 1) throw fileError(path, `holds ${series.length} DICOM series (${series.map((s) => `${s.seriesUid} "${s.description}"`).join(', ')}): give each case a folder with one series`);
  const { dims, spacing, data, affine } = series[0];
  return { dims, spacing, data, affine, channels: 1 };
}

/** Reads a case's modalities into one [C, Z, Y, X] array, checking count and geometry. */
export async function readCaseImage(c: VolumeCase, modalities?: number): Promise<ChannelVolume> {
  // every file read, then the first failure in modality order: the same error on every run
  const read = await Promise.allSettled(c.images.map((p) => readVolumeFile(p)));
  const failed = read.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const vols = read.map((r) => (r as PromiseFulfilledResult<ChannelVolume>).value);
  vols.forEach((v, i) => {
    if (c.images.length > 1 && v.channels > 1) throw fileError(c.images[i], `is 4D with ${v.channels} channels, but the case has one file per modality: expected a 3D volume`);
    if (i > 0) checkSameGrid(vols[0], c.images[0], v, c.images[i]);
  });
  const channels = vols.reduce((s, v) => s + v.channels, 0);
  if (modalities !== undefined && channels !== modalities) {
    const what = c.images.length === 1 ? `has ${channels} volume${channels > 1 ? 's' : ''} along its 4th axis` : `has ${channels} modality files`;
    throw fileError(c.images[0], `${what}, but the dataset has ${modalities} modalities: give every case all ${modalities} (in one 4D file or as _0000.._${String(modalities - 1).padStart(4, '0')})`);
  }
  const n = vols[0].data.length / vols[0].channels;
  const data = new Float32Array(channels * n);
  let off = 0;
  for (const v of vols) { data.set(v.data, off); off += v.data.length; }
  return { ...vols[0], channels, data };
}

/** Decodes one case: read, check, resample, normalise; labels and foreground locations. */
export async function loadCase(c: VolumeCase, o: VolumeLoadOptions = {}): Promise<LoadedVolume> {
  const img = await readCaseImage(c, o.modalities);
  const tol = o.tolerance ?? 1e-3;
  const source: Geometry = { dims: img.dims, spacing: img.spacing, affine: img.affine };
  let labels: Uint8Array | undefined;
  if (c.label) {
    const lab = await readNiftiChannels(c.label);
    if (lab.channels > 1) throw fileError(c.label, `is 4D (${lab.channels} volumes): a label volume is one 3D map of class ids`);
    labels = toLabelMap(onImageGrid(lab, c.label, source, c.images[0], tol), c.label, source.dims, o.labels);
  }
  let mask: Uint8Array | undefined;
  if (c.mask) {
    const m = await readNiftiChannels(c.mask);
    const md = onImageGrid(m, c.mask, source, c.images[0], tol);
    mask = new Uint8Array(md.length); // a plain loop: TypedArray.from with a map function is slow on 10M voxels
    for (let i = 0; i < md.length; i++) mask[i] = md[i] !== 0 ? 1 : 0;
  }
  const prepared = prepareVolume(img.data, img.channels, source, o, { labels, mask });
  const { data, dims, spacing, affine, crop } = prepared;
  labels = prepared.labels;
  const foreground = labels ? foregroundLocations(labels, o.labels ?? { kind: 'binary' }) : [];
  return { id: c.id, split: c.split, channels: img.channels, dims, spacing, affine, image: data, labels, foreground, source, crop };
}

/**
 * CT statistics per modality from the training cases' labelled voxels (raw intensities on the
 * files' grid: resampling hardly moves percentiles of a strided sample). undefined for non-CT modalities.
 */
export async function datasetCtStats(cases: VolumeCase[], norms: VolumeNorm[], modalities?: number): Promise<(CtStats | undefined)[]> {
  if (!norms.includes('ct')) return norms.map(() => undefined);
  const pools: number[][] = norms.map(() => []);
  for (const c of cases) {
    if (!c.label) continue;
    const img = await readCaseImage(c, modalities);
    const lab = await readNiftiChannels(c.label);
    const labels = toLabelMap(onImageGrid(lab, c.label, img, c.images[0]), c.label, img.dims);
    const n = labels.length;
    norms.forEach((k, ch) => { if (k === 'ct') for (const v of foregroundIntensities(img.data.subarray(ch * n, (ch + 1) * n), labels)) pools[ch].push(v); });
  }
  return norms.map((k, ch) => (k === 'ct' ? ctStatistics(pools[ch]) : undefined));
}
