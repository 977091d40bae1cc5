// A browser bundle: one ONNX file per way of running the model (accurate mode; fast mode at
// every pruning level L^d of a deep-supervision UNet++) and manifest.json, which tells the page
// (web/) how to feed the network as Node's prediction does: channels, normalisation, tile
// size and overlap, threshold, class names. The folder appears whole or not at all: it is
// written into a sibling staging folder, then swapped in by renames.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { SegModel } from '../models/model.js';
import { depthOf, levelOf } from '../models/config.js';
import { describeModel } from '../models/info.js';
import type { Normalize } from '../data/transforms.js';
import type { BlendKind } from '../infer/tiles.js';
import { toOnnx } from './onnx.js';
import { WEB_BUNDLE_FORMAT, type WebManifest, type WebModelEntry } from './web-manifest.js';

export { WEB_BUNDLE_FORMAT, type WebManifest, type WebModelEntry };

export interface WebBundleOptions {
  /** Window size (square); a multiple of 2^depth. Default 256 rounded to one. */
  tile?: number;
  overlap?: number; // 0.25
  blend?: BlendKind; // gaussian
  threshold?: number; // 0.5
  normalize?: Normalize; // none
  classNames?: string[];
  trainedSize?: [number, number];
  foldBatchNorm?: boolean; // true: fewer ops in the browser
}

const bad = (opt: string, msg: string): never => { throw new Error(`web bundle option ${opt}: ${msg}`); };

/** The manifest and ONNX bytes of every model, without touching the disk. */
export function buildWebBundle(model: SegModel, o: WebBundleOptions = {}): { manifest: WebManifest; files: Map<string, Uint8Array> } {
  const cfg = model.config;
  if (cfg.level !== undefined) bad('model', 'is pruned already; export the full model (the bundle holds every level)');
  if (cfg.dims === 3) bad('model', 'is a volume model (dims 3); the browser page segments images only (export -f onnx for volumes)');
  const depth = depthOf(cfg);
  const multiple = 2 ** levelOf(cfg);
  const tile = o.tile ?? Math.max(multiple, Math.round(256 / multiple) * multiple);
  if (!Number.isInteger(tile) || tile < multiple || tile % multiple) bad('tile', `${tile} is not a positive multiple of 2^${depth} = ${multiple}`);
  const overlap = o.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) bad('overlap', `must be in [0, 1), got ${overlap}`);
  const threshold = o.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) bad('threshold', `must be in [0, 1], got ${threshold}`);
  const classNames = o.classNames ?? (cfg.classes === 1 ? ['foreground'] : Array.from({ length: cfg.classes }, (_, k) => `class${k}`));
  if (classNames.length !== cfg.classes) bad('classNames', `${classNames.length} names for ${cfg.classes} classes`);
  const info = describeModel(cfg, { size: tile });
  const fold = o.foldBatchNorm ?? true;
  const files = new Map<string, Uint8Array>();
  const models: WebModelEntry[] = [];
  const add = (id: string, mode: WebModelEntry['mode'], level: number, bytes: Uint8Array, params: number, gflops: number) => {
    const file = `${id.toLowerCase()}.onnx`;
    files.set(file, bytes);
    models.push({ id, mode, level, multiple: 2 ** level, file, params, gflops: Number(gflops.toFixed(4)), bytes: bytes.length });
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
    model: { arch: cfg.arch, preset: cfg.preset, filters: [...cfg.filters], depth, deepSupervision: cfg.deepSupervision },
    input: {
      name: 'input', layout: 'NCHW', channels: cfg.inChannels, multiple, normalize: o.normalize ?? { kind: 'none' },
      tile: [tile, tile], overlap, blend: o.blend ?? 'gaussian', trainedSize: o.trainedSize ?? null,
    },
    output: {
      name: 'output', kind: 'probabilities', activation: cfg.classes > 1 && cfg.multiclass === 'softmax' ? 'softmax' : 'sigmoid',
      classes: cfg.classes, classNames, threshold,
    },
    models,
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
