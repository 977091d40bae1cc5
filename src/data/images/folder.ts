// Folder datasets: DIR/images/<stem>.<ext> with DIR/masks/<stem>.png (binary) or
// DIR/masks/<class>/<stem>.png (one binary mask per class), optional DIR/split.csv
// (see split-csv.ts for the headers and split names accepted), else a seeded split; or one
// such folder per split (DIR/train/images, DIR/val/images, ...). Masks may be JPEG (thresholded,
// with a warning counting the ambiguous pixels). Every error names the file.
// NIfTI volumes (images/<stem>.nii[.gz] with masks/<stem>.nii[.gz]) load as 2D axial slices.
import { readdir, readFile, stat, mkdir } from 'node:fs/promises';
import { extname, join, basename } from 'node:path';
import { Rng } from '../rng.js';
import { fileError, readImage, readMaskRaw, writeImagePng, writeMaskPng, type Image } from './read-image.js';
import { resizeBilinear, resizeNearest } from './transforms.js';
import { readNifti, volumeSlice } from '../formats/nifti.js';
import { checkFiniteVoxels } from '../finite.js';
import { writeFileAtomic } from '../atomic.js';
import { normaliseSplit, parseSplitCsv, seededSplitSizes, type SplitName } from '../split-csv.js';

export type { SplitName } from '../split-csv.js';
const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.nii', '.nii.gz']);
const MASK_EXTS = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.nii', '.nii.gz']);
const isJpeg = (path: string) => /\.jpe?g$/i.test(path);

/** 'a.nii.gz' -> ['a', '.nii.gz']; other names split at their last dot. */
function splitName(name: string): [string, string] {
  if (name.toLowerCase().endsWith('.nii.gz')) return [name.slice(0, -7), '.nii.gz'];
  const ext = extname(name);
  return [basename(name, ext), ext.toLowerCase()];
}

const isVolume = (path: string) => /\.nii(\.gz)?$/i.test(path);

export interface FolderOptions {
  imagesDir?: string; // default 'images'
  masksDir?: string; // default 'masks'
  /** Per-class layout: class folder names under masksDir. Default: its subfolders if it has any. */
  classes?: string[];
  /** CSV with header id,split; false ignores it. Default 'split.csv' (used when present). */
  splitFile?: string | false;
  /** Seeded split when there is no split file: fractions of train, val, test. Default [0.8, 0.1, 0.1]. */
  splitFractions?: [number, number, number];
  seed?: number;
  /** A fixed split by id, used when there is no split file (e.g. isbiSplit). */
  splitOf?: (id: string) => SplitName;
  /** false allows images without masks (inference folders). Default true. */
  requireMasks?: boolean;
  /** Ignore masks altogether (e.g. isbi2012-em/test_images next to the training masks). */
  imagesOnly?: boolean;
}

export interface Sample {
  id: string;
  image: string;
  masks: string[]; // one per class; empty when the folder has no masks
  split: SplitName;
}

export interface FolderDataset {
  dir: string;
  classes: string[]; // ['foreground'] for the binary layout
  perClass: boolean;
  samples: Sample[];
  /** The seed of the split, when it was seeded (no split file, folders or fixed split). */
  seededSplit?: number;
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

async function listFiles(dir: string, exts: Set<string>): Promise<Map<string, string>> {
  const byStem = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const [stem, ext] = splitName(name);
    if (!exts.has(ext)) continue; // READMEs and the like are not data
    const prev = byStem.get(stem);
    if (prev) throw fileError(join(dir, name), `two files share the stem "${stem}" (also ${prev})`);
    byStem.set(stem, join(dir, name));
  }
  return byStem;
}

/** Suffixes that mask files commonly add to their image's stem (a_mask.png for a.png). */
const MASK_SUFFIXES = ['_mask', '_masks', '-mask', '_seg', '_segmentation', '_label', '_labels', '_gt', '_manual1'];

/** The image stem a mask belongs to: its own stem, or that stem without a usual mask suffix. */
function imageStemOf(maskStem: string, images: Map<string, string>): string | undefined {
  if (images.has(maskStem)) return maskStem;
  const suffix = MASK_SUFFIXES.find((x) => maskStem.toLowerCase().endsWith(x) && images.has(maskStem.slice(0, -x.length)));
  return suffix && maskStem.slice(0, -suffix.length);
}

/** Split subfolders (train/, training/, val/, valid/, ...) that hold an images folder. */
async function splitFolders(dir: string, imagesDir: string): Promise<[string, SplitName][]> {
  const out: [string, SplitName][] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const split = normaliseSplit(name);
    if (split && (await isDir(join(dir, name, imagesDir)))) out.push([name, split]);
  }
  return out;
}

/**
 * Lists and pairs files and assigns splits; decodes nothing. A folder without DIR/images but
 * with DIR/<split>/images (train, val, test, in any usual spelling) reads one folder per split;
 * ids are the stems, prefixed with the split folder ("train/a") only if a stem repeats across splits.
 */
export async function scanFolder(dir: string, opts: FolderOptions = {}): Promise<FolderDataset> {
  const perSplit = (await isDir(join(dir, opts.imagesDir ?? 'images'))) ? [] : await splitFolders(dir, opts.imagesDir ?? 'images');
  if (perSplit.length) {
    // a test split may come without masks (predict on it; it is not trained or validated on)
    const parts = await Promise.all(perSplit.map(([name, split]) => scanFolder(join(dir, name), {
      ...opts, splitFile: false, splitOf: () => split, requireMasks: split === 'test' ? false : opts.requireMasks,
    })));
    const labelled = parts.filter((p) => p.samples.some((s) => s.masks.length));
    const classes = (labelled[0] ?? parts[0]).classes;
    parts.forEach((p, i) => {
      if (labelled.includes(p) && p.classes.join() !== classes.join()) throw fileError(join(dir, perSplit[i][0]), `classes ${p.classes.join(',')} differ from the other splits' ${classes.join(',')}`);
    });
    const all = parts.flatMap((p, i) => p.samples.map((s) => ({ ...s, folder: perSplit[i][0] })));
    const clash = new Set(all.map((s) => s.id)).size < all.length; // a stem in two splits
    const samples = all.map(({ folder, ...s }) => (clash ? { ...s, id: `${folder}/${s.id}` } : s));
    return { dir, classes, perClass: (labelled[0] ?? parts[0]).perClass, samples };
  }
  const imagesDir = join(dir, opts.imagesDir ?? 'images');
  const masksDir = join(dir, opts.masksDir ?? 'masks');
  if (!(await isDir(imagesDir))) throw fileError(imagesDir, 'images folder not found (nor train/images, val/images, test/images)');
  const images = await listFiles(imagesDir, IMAGE_EXTS);
  if (!images.size) throw fileError(imagesDir, 'empty folder: no .png/.jpg/.tif images');

  const hasMasks = !opts.imagesOnly && (await isDir(masksDir));
  if (!hasMasks && !opts.imagesOnly && opts.requireMasks !== false) throw fileError(masksDir, 'masks folder not found');
  let classes = opts.classes;
  if (hasMasks && !classes) {
    const subdirs: string[] = [];
    for (const name of (await readdir(masksDir)).sort()) if (!name.startsWith('.') && (await isDir(join(masksDir, name)))) subdirs.push(name);
    if (subdirs.length) classes = subdirs;
  }
  const perClass = !!classes;
  const classDirs = perClass ? classes!.map((c) => join(masksDir, c)) : [masksDir];
  const maskMaps: Map<string, string>[] = [];
  if (hasMasks) {
    for (const cd of classDirs) {
      if (!(await isDir(cd))) throw fileError(cd, 'class mask folder not found');
      const m = new Map<string, string>();
      for (const [stem, p] of await listFiles(cd, MASK_EXTS)) {
        const id = imageStemOf(stem, images);
        if (id === undefined) throw fileError(p, 'mask without image');
        if (m.has(id)) throw fileError(p, `a second mask for image ${images.get(id)} (also ${m.get(id)})`);
        m.set(id, p);
      }
      maskMaps.push(m);
    }
  }
  const samples: Sample[] = [];
  for (const [id, image] of images) {
    const masks: string[] = [];
    for (let k = 0; k < maskMaps.length; k++) {
      const p = maskMaps[k].get(id);
      if (!p) {
        if (opts.requireMasks === false) continue;
        throw fileError(image, `missing mask ${join(classDirs[k], id + (isVolume(image) ? '.nii.gz' : '.png'))}`);
      }
      masks.push(p);
    }
    samples.push({ id, image, masks: masks.length === maskMaps.length ? masks : [], split: 'train' });
  }
  const seeded = await assignSplits(dir, samples, opts);
  return { dir, classes: classes ?? ['foreground'], perClass, samples, ...(seeded ? { seededSplit: opts.seed ?? 0 } : {}) };
}

/** Assigns splits; true when they were seeded. */
async function assignSplits(dir: string, samples: Sample[], opts: FolderOptions): Promise<boolean> {
  const file = opts.splitFile === false ? null : join(dir, opts.splitFile ?? 'split.csv');
  const text = file ? await readFile(file, 'utf8').catch(() => null) : null;
  if (file && text !== null) {
    const byId = new Map(samples.map((s) => [s.id, s]));
    const seen = new Set<string>();
    for (const { id, split, line } of parseSplitCsv(text, file)) {
      const s = byId.get(id);
      if (!s) throw fileError(file, `line ${line}: no image for id "${id}"`);
      if (seen.has(id)) throw fileError(file, `line ${line}: id "${id}" listed twice`);
      seen.add(id);
      s.split = split;
    }
    const missing = samples.find((s) => !seen.has(s.id));
    if (missing) throw fileError(file, `image ${missing.image} is not listed`);
    return false;
  }
  if (opts.splitOf) {
    for (const s of samples) s.split = opts.splitOf(s.id);
    return false;
  }
  const { train: nTrain, val: nVal } = seededSplitSizes(samples.length, opts.splitFractions ?? [0.8, 0.1, 0.1]);
  const order = new Rng(opts.seed ?? 0).shuffle(samples.map((_, i) => i)); // samples are sorted by id already
  order.forEach((idx, r) => (samples[idx].split = r < nTrain ? 'train' : r < nTrain + nVal ? 'val' : 'test'));
  return true;
}

/** The ISBI 2012 fixed split: em_00..19 train, em_20..23 val, em_24..29 test. */
export function isbiSplit(id: string): SplitName {
  const n = Number(/(\d+)$/.exec(id)?.[1] ?? NaN);
  if (!Number.isFinite(n)) throw new Error(`isbiSplit: no number in id "${id}"`);
  return n < 20 ? 'train' : n < 24 ? 'val' : 'test';
}

export interface LoadOptions {
  /** Working size: images resized by sharp (linear, anti-aliased), masks by nearest neighbour. */
  size?: { width: number; height: number };
  /** Convert every image to 1 or 3 channels; without it, mixed grey/RGB is an error. */
  channels?: 1 | 3;
  /** Swap 0 and 1 in masks (ISBI 2012 labels cell interior; the target is the membrane). */
  invertMasks?: boolean;
  /** Accept masks with other values than {0,1}/{0,255}: above half of full scale is 1. */
  thresholdMasks?: boolean;
  /** Files decoded at once (sharp decodes on libuv's pool). Default 4. */
  concurrency?: number;
  /** Where warnings go (JPEG masks thresholded); default console.warn. */
  onWarning?: (message: string) => void;
}

/** JPEG masks seen while loading: files, pixels, and pixels far from both 0 and full scale. */
interface JpegTally { files: number; pixels: number; ambiguous: number; worst?: { path: string; n: number } }

/** A decoded sample at working size: mask has one 0/1 plane per class. */
export interface LoadedSample {
  id: string;
  split?: SplitName;
  image: Image;
  mask: Image;
}

/**
 * Decodes one mask file to a 0/1 plane at the image's size, checking its values. JPEG masks
 * are lossy (ringing at edges), so they are always thresholded at half scale; pixels between a
 * quarter and three quarters of full scale are counted as ambiguous for the caller's warning.
 */
async function loadMask(path: string, w: number, h: number, opts: LoadOptions, jpeg: JpegTally): Promise<Float32Array> {
  const m = await readMaskRaw(path);
  if (m.width !== w || m.height !== h) throw fileError(path, `mask is ${m.width}x${m.height} but its image is ${w}x${h}`);
  const out = new Float32Array(m.width * m.height);
  const half = m.max / 2;
  if (isJpeg(path)) {
    let amb = 0;
    for (let i = 0; i < out.length; i++) {
      const v = m.values[i];
      out[i] = v > half ? 1 : 0;
      if (v > m.max / 4 && v < (3 * m.max) / 4) amb++;
    }
    jpeg.files++;
    jpeg.pixels += out.length;
    jpeg.ambiguous += amb;
    if (amb > (jpeg.worst?.n ?? 0)) jpeg.worst = { path, n: amb };
    if (opts.invertMasks) for (let i = 0; i < out.length; i++) out[i] = 1 - out[i];
    return out;
  }
  let sawOne = false;
  let sawMax = false;
  for (let i = 0; i < out.length; i++) {
    const v = m.values[i];
    if (v === 0) continue;
    if (v === 1) sawOne = true;
    else if (v === m.max) sawMax = true;
    else if (!opts.thresholdMasks) throw fileError(path, `mask value ${v} at (${i % w},${Math.floor(i / w)}): masks must be {0,1} or {0,${m.max}} (or set thresholdMasks)`);
    out[i] = opts.thresholdMasks ? (v > half ? 1 : 0) : 1;
  }
  if (sawOne && sawMax && !opts.thresholdMasks) throw fileError(path, `mask mixes values 1 and ${m.max}`);
  if (opts.invertMasks) for (let i = 0; i < out.length; i++) out[i] = 1 - out[i];
  return out;
}

/**
 * A NIfTI volume and its label volume as 2D axial slices (ids <stem>_z<k>): any non-zero label
 * is foreground; slices are resized like images (bilinear) and masks (nearest).
 */
async function loadVolume(s: Sample, opts: LoadOptions): Promise<LoadedSample[]> {
  const vol = await readNifti(s.image);
  checkFiniteVoxels(vol.data, vol.dims, s.image);
  const [w0, h0, depth] = vol.dims;
  const labels = s.masks.length ? await readNifti(s.masks[0]) : null;
  if (s.masks.length > 1) throw fileError(s.image, 'volumes take one label volume (masks/<stem>.nii.gz), not per-class folders');
  if (labels && labels.dims.join('x') !== vol.dims.join('x'))
    throw fileError(s.masks[0], `label volume is ${labels.dims.join('x')} but its image is ${vol.dims.join('x')}`);
  const w = opts.size?.width ?? w0, h = opts.size?.height ?? h0;
  const out: LoadedSample[] = [];
  for (let z = 0; z < depth; z++) {
    const img = volumeSlice(vol, z);
    const data = opts.size ? resizeBilinear(img.data, 1, h0, w0, h, w) : img.data;
    let mask = new Float32Array(0);
    if (labels) {
      const lab = volumeSlice(labels, z).data.map((v) => (v !== 0 ? 1 : 0));
      if (opts.invertMasks) for (let i = 0; i < lab.length; i++) lab[i] = 1 - lab[i];
      mask = opts.size ? resizeNearest(lab, 1, h0, w0, h, w) : lab;
    }
    out.push({ id: `${s.id}_z${z}`, split: s.split, image: { width: w, height: h, channels: 1, data },
      mask: { width: w, height: h, channels: labels ? 1 : 0, data: mask } });
  }
  return out;
}

async function loadOne(s: Sample, opts: LoadOptions, jpeg: JpegTally): Promise<LoadedSample> {
  const resize = opts.size && { ...opts.size, kernel: 'linear' as const };
  const img = await readImage(s.image, { resize, channels: opts.channels });
  const w = opts.size?.width ?? img.width;
  const h = opts.size?.height ?? img.height;
  const k = s.masks.length;
  const data = new Float32Array(k * w * h);
  for (let c = 0; c < k; c++) {
    const full = await loadMask(s.masks[c], img.sourceWidth, img.sourceHeight, opts, jpeg);
    data.set(opts.size ? resizeNearest(full, 1, img.sourceHeight, img.sourceWidth, h, w) : full, c * w * h);
  }
  const image: Image = { width: img.width, height: img.height, channels: img.channels, data: img.data };
  return { id: s.id, split: s.split, image, mask: { width: w, height: h, channels: k, data } };
}

/** Decodes samples (in order) with bounded concurrency, then checks grey/RGB consistency. */
export async function loadSamples(samples: Sample[], opts: LoadOptions = {}): Promise<LoadedSample[]> {
  const loaded: LoadedSample[][] = new Array(samples.length);
  const jpeg: JpegTally = { files: 0, pixels: 0, ambiguous: 0 };
  let next = 0;
  const worker = async () => {
    while (next < samples.length) {
      const i = next++;
      loaded[i] = isVolume(samples[i].image) ? await loadVolume(samples[i], opts) : [await loadOne(samples[i], opts, jpeg)];
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, samples.length) }, worker));
  if (jpeg.files) {
    const pct = ((100 * jpeg.ambiguous) / jpeg.pixels).toFixed(3);
    (opts.onWarning ?? console.warn)(`warning: ${jpeg.files} JPEG mask${jpeg.files > 1 ? 's' : ''} thresholded at half scale; ${jpeg.ambiguous} of ${jpeg.pixels} pixels (${pct}%) were ambiguous (between 25% and 75% of full scale)` +
      (jpeg.worst ? `, most in ${jpeg.worst.path} (${jpeg.worst.n})` : '') + '. JPEG is lossy: save masks as PNG to keep them exact.');
  }
  const out = loaded.flat();
  const first = out[0];
  const odd = out.findIndex((o) => o.image.channels !== first?.image.channels);
  if (odd >= 0) {
    const name = (c: number) => (c === 1 ? 'grey' : 'RGB');
    const file = (i: number) => samples.find((s) => out[i].id === s.id || out[i].id.startsWith(s.id + '_z'))?.image ?? out[i].id;
    throw fileError(file(odd), `is ${name(out[odd].image.channels)} but ${file(0)} is ${name(first.image.channels)}: mixed inputs (set channels: 1 or 3 to convert)`);
  }
  return out;
}

/** scanFolder + loadSamples, optionally for one split only. */
export async function loadFolder(dir: string, opts: FolderOptions & LoadOptions & { split?: SplitName } = {}): Promise<{ dataset: FolderDataset; samples: LoadedSample[] }> {
  const dataset = await scanFolder(dir, opts);
  const chosen = opts.split ? dataset.samples.filter((s) => s.split === opts.split) : dataset.samples;
  return { dataset, samples: await loadSamples(chosen, opts) };
}

/** Writes samples in the folder layout (PNG images and 0/255 masks), plus split.csv when splits are set. */
export async function writeFolder(dir: string, samples: LoadedSample[], opts: { classes?: string[] } = {}): Promise<void> {
  const perClass = !!opts.classes;
  await mkdir(join(dir, 'images'), { recursive: true });
  for (const c of opts.classes ?? ['']) await mkdir(join(dir, 'masks', c), { recursive: true });
  for (const s of samples) {
    const { width: w, height: h } = s.mask;
    await writeImagePng(join(dir, 'images', s.id + '.png'), s.image);
    for (let k = 0; k < s.mask.channels; k++) {
      const sub = perClass ? join('masks', opts.classes![k]) : 'masks';
      await writeMaskPng(join(dir, sub, s.id + '.png'), s.mask.data.subarray(k * w * h, (k + 1) * w * h), w, h);
    }
  }
  if (samples.every((s) => s.split)) {
    await writeFileAtomic(join(dir, 'split.csv'), 'id,split\n' + samples.map((s) => `${s.id},${s.split}`).join('\n') + '\n');
  }
}
