// A browser bundle: one ONNX file per way of running the model (accurate mode; fast mode at
// every pruning level L^d of a deep-supervision UNet++) and manifest.json, which tells the page
// (web/) how to feed the network as Node's prediction does: channels, normalisation, tile
// size and overlap, threshold, class names. The folder appears whole or not at all: it is
// written into a sibling staging folder, then swapped in by renames.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { SegModel } from '../models/model.js';
import { depthOf, sizeMultiple } from '../models/config.js';
import { describeModel } from '../models/info.js';
import type { Normalize } from '../data/images/transforms.js';
import { toOnnx } from './onnx.js';
import type { CtStats, VolumeNorm } from '../data/volumes/intensity.js';
import { defaultLabelSpec, planeCount, type LabelSpec } from '../data/labels.js';
import type { PostprocessRule } from './checkpoint-meta.js';
import { WEB_BUNDLE_FORMAT, type BlendKind, type WebManifest, type WebModelEntry, type WebVolumeSpec } from './web-manifest.js';

export { WEB_BUNDLE_FORMAT, type WebManifest, type WebModelEntry, type WebVolumeSpec };

/** How volumes are prepared for the model (a 3D model always has one; a 2D model when it is meant for volumes). */
export interface WebVolumeOptions {
  /** One name per input channel (default: image, or image1..imageC). */
  modalities?: string[];
  /** Per modality or one for all (default 'zscore'). */
  normalize?: VolumeNorm | VolumeNorm[];
  /** Per modality, the dataset CT statistics ('ct' needs them). */
  ct?: (CtStats | null | undefined)[];
  spacing?: [number, number, number];
  cropToNonzero?: boolean;
  /** Output planes -> label values in the page's masks (default: 1..K, softmax's background 0). */
  labels?: LabelSpec;
  /** The checkpoint's post-processing rules (label values of `labels`). */
  postprocess?: PostprocessRule[];
}

export interface WebBundleOptions {
  /** Window size (square or cubic: one size, or one per axis); multiples of 2^depth. Default
   *  256 rounded to one for images, 64 for 3D models. */
  tile?: number | number[];
  overlap?: number; // 0.25
  blend?: BlendKind; // gaussian
  /** Average over the flips of every subset of the axes (the checkpoint's default). */
  tta?: boolean;
  threshold?: number; // 0.5
  normalize?: Normalize; // none
  classNames?: string[];
  trainedSize?: [number, number];
  foldBatchNorm?: boolean; // true: fewer ops in the browser
  /** Volumes: required facts for 3D models come from here (defaults apply); given for a 2D
   *  model, the bundle is for volumes run slice by slice. */
  volume?: WebVolumeOptions;
}

function volumeSpec(dims: 2 | 3, channels: number, classes: number, softmax: boolean, v: WebVolumeOptions): WebVolumeSpec {
  const modalities = v.modalities ?? (channels === 1 ? ['image'] : Array.from({ length: channels }, (_, k) => `image${k + 1}`));
  if (modalities.length !== channels) bad('volume.modalities', `${modalities.length} names (${modalities.join(', ')}) for a model with ${channels} input channel(s)`);
  const n = v.normalize ?? 'zscore';
  const normalize = Array.isArray(n) ? n : modalities.map(() => n);
  if (normalize.length !== channels) bad('volume.normalize', `${normalize.length} kinds for ${channels} modalities`);
  const ct = modalities.map((_, k) => v.ct?.[k] ?? null);
  normalize.forEach((kind, k) => { if (kind === 'ct' && !ct[k]) bad('volume.ct', `modality ${modalities[k]} is normalised as 'ct' and needs the dataset's CT statistics`); });
  const labels = v.labels ?? defaultLabelSpec(classes, softmax);
  if (planeCount(labels) !== classes) bad('volume.labels', `${planeCount(labels)} planes for a model of ${classes} output classes`);
  if (softmax !== (labels.kind === 'classes' && !!labels.background)) bad('volume.labels', `a ${softmax ? 'softmax model needs classes with a background plane' : 'sigmoid model takes no background plane'}`);
  return { dims, modalities, normalize, ct, spacing: v.spacing ?? null, cropToNonzero: !!v.cropToNonzero, labels, ...(v.postprocess?.length ? { postprocess: v.postprocess } : {}) };
}

const bad = (opt: string, msg: string): never => { throw new Error(`web bundle option ${opt}: ${msg}`); };

/** One number when every axis has the same multiple (the manifests written before per-axis pooling), else one per axis. */
const manifestMultiple = (m: number[]) => (new Set(m).size === 1 ? m[0] : m);

/** The manifest and ONNX bytes of every model, without touching the disk. */
export function buildWebBundle(model: SegModel, o: WebBundleOptions = {}): { manifest: WebManifest; files: Map<string, Uint8Array> } {
  const cfg = model.config;
  if (cfg.level !== undefined) bad('model', 'is pruned already; export the full model (the bundle holds every level)');
  const depth = depthOf(cfg);
  const ms = sizeMultiple(cfg), multiple = manifestMultiple(ms);
  const dims = cfg.dims === 3 ? 3 : 2;
  const given = o.tile ?? ms.map((m) => Math.max(m, Math.round((dims === 3 ? 64 : 256) / m) * m));
  const tile = Array.isArray(given) ? given : new Array<number>(dims).fill(given);
  if (tile.length !== dims) bad('tile', `${tile.length} sizes for a ${dims}D model`);
  for (const [k, t] of tile.entries())
    if (!Number.isInteger(t) || t < ms[k] || t % ms[k]) bad('tile', `${t} is not a positive multiple of ${cfg.pools ? ms[k] : `2^${depth} = ${ms[k]}`}`);
  const overlap = o.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) bad('overlap', `must be in [0, 1), got ${overlap}`);
  const threshold = o.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) bad('threshold', `must be in [0, 1], got ${threshold}`);
  const classNames = o.classNames ?? (cfg.classes === 1 ? ['foreground'] : Array.from({ length: cfg.classes }, (_, k) => `class${k}`));
  if (classNames.length !== cfg.classes) bad('classNames', `${classNames.length} names for ${cfg.classes} classes`);
  // GFLOP per window (exact for any window shape)
  const info = describeModel(cfg, { size: tile });
  const fold = o.foldBatchNorm ?? true;
  const files = new Map<string, Uint8Array>();
  const models: WebModelEntry[] = [];
  const add = (id: string, mode: WebModelEntry['mode'], level: number, bytes: Uint8Array, params: number, gflops: number) => {
    const file = `${id.toLowerCase()}.onnx`;
    files.set(file, bytes);
    models.push({ id, mode, level, multiple: manifestMultiple(sizeMultiple(cfg, level)), file, params, gflops: Number(gflops.toFixed(4)), bytes: bytes.length });
  };
  add('accurate', 'accurate', depth, toOnnx(model, { mode: { kind: 'accurate' }, foldBatchNorm: fold }), model.params.count(), info.gflops);
  // Fast mode at level d = the pruned L^d (head d, and only the nodes it reads).
  if (cfg.arch === 'unetpp' && cfg.deepSupervision) {
    for (const l of info.levels) {
      add(`L${l.level}`, 'fast', l.level, toOnnx(model, { mode: { kind: 'pruned', level: l.level }, foldBatchNorm: fold }), model.prune(l.level).params.count(), l.gflops);
    }
  }
  const manifest: WebManifest = {
    format: WEB_BUNDLE_FORMAT,
    version: 1,
    model: {
      arch: cfg.arch, preset: cfg.preset, filters: [...cfg.filters], depth, deepSupervision: cfg.deepSupervision, dims, norm: cfg.norm,
      ...(cfg.pools ? { pools: cfg.pools } : {}), ...(cfg.kernels ? { kernels: cfg.kernels } : {}),
    },
    input: {
      name: 'input', layout: dims === 3 ? 'NCDHW' : 'NCHW', channels: cfg.inChannels, multiple, normalize: o.normalize ?? { kind: 'none' },
      tile, overlap, blend: o.blend ?? 'gaussian', ...(o.tta ? { tta: true } : {}), trainedSize: o.trainedSize ?? null,
    },
    output: {
      name: 'output', kind: 'probabilities', activation: cfg.classes > 1 && cfg.multiclass === 'softmax' ? 'softmax' : 'sigmoid',
      classes: cfg.classes, classNames, threshold,
    },
    models,
    ...(dims === 3 || o.volume ? { volume: volumeSpec(dims, cfg.inChannels, cfg.classes, cfg.classes > 1 && cfg.multiclass === 'softmax', o.volume ?? {}) } : {}),
  };
  return { manifest, files };
}

/** Writes the bundle into dir (created; a previous bundle there is replaced whole). */
export function writeWebBundle(dir: string, model: SegModel, o: WebBundleOptions = {}): WebManifest {
  const target = resolve(dir);
  if (existsSync(target)) {
    const names = readdirSync(target);
    if (names.length && !names.includes('manifest.json'))
      throw new Error(`--web ${dir}: the folder exists and is not a web bundle (no manifest.json); choose a new or empty folder`);
  }
  const { manifest, files } = buildWebBundle(model, o);
  mkdirSync(dirname(target), { recursive: true });
  const stage = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    mkdirSync(stage);
    for (const [name, bytes] of files) writeFileSync(join(stage, name), bytes);
    writeFileSync(join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    if (existsSync(target)) renameSync(target, old);
    renameSync(stage, target);
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    if (existsSync(old) && !existsSync(target)) renameSync(old, target);
    throw e;
  }
  rmSync(old, { recursive: true, force: true });
  return manifest;
}
