// manifest.json of a browser bundle (written by web-bundle.ts, read by the page in web/).
// No Node imports: the page type-checks against this file.
import type { Normalize } from '../data/images/transforms.js';
import type { CtStats, VolumeNorm } from '../data/volumes/intensity.js';
import type { LabelSpec } from '../data/labels.js';
import type { PostprocessRule } from './checkpoint-meta.js';

/** Blending weights of overlapping windows (infer/tiles.ts); here, as the bundles and checkpoints store it. */
export type BlendKind = 'gaussian' | 'linear';

export const WEB_BUNDLE_FORMAT = 'unetpp-web-bundle';

export interface WebModelEntry {
  /** 'accurate' or 'L<d>' */
  id: string;
  mode: 'accurate' | 'fast';
  /** Pruning level: the model's depth for accurate mode, d for fast mode on L^d (head d). */
  level: number;
  /** This network's sides must be multiples of 2^level (per axis [D, H, W] for a volume model that pools
   *  some axes only): pad to them as Node does. */
  multiple: number | number[];
  file: string;
  params: number;
  /** Forward GFLOP of one tile (manifest.input.tile). */
  gflops: number;
  bytes: number;
}

export interface WebManifest {
  format: typeof WEB_BUNDLE_FORMAT;
  version: 1;
  /** dims: 2 (images; volumes slice by slice) or 3 (volumes: the networks take [N, C, D, H, W]); absent = 2. */
  /** pools, kernels: a volume model's per-axis pooling factors and conv kernels per level (DxHxW), where not the default. */
  model: {
    arch: string; preset: string; filters: number[]; depth: number; deepSupervision: boolean; dims?: 2 | 3; norm?: string;
    pools?: number[][]; kernels?: number[][];
  };
  input: {
    name: 'input';
    layout: 'NCHW' | 'NCDHW';
    channels: number;
    /** 2^depth (per axis when pooled per axis): every model takes multiples of it (a level-d model needs only 2^d). */
    multiple: number | number[];
    /** Pixel values in [0, 1] (8-bit / 255), then this normalisation (as in training). */
    normalize: Normalize;
    /** Sliding-window size ([h, w], or [d, h, w] for 3D models) and overlap, as `unetpp predict --tile --overlap`. */
    tile: number[];
    overlap: number;
    blend: BlendKind;
    /** Average over the flips of every subset of the axes, as `unetpp predict --tta` (absent: one pass). */
    tta?: boolean;
    /** Size the training images were resized to, when training resized them (informative). */
    trainedSize: [number, number] | null;
  };
  output: {
    name: 'output';
    /** The ONNX outputs are probabilities (sigmoid or softmax applied), not logits. */
    kind: 'probabilities';
    activation: 'sigmoid' | 'softmax';
    classes: number;
    classNames: string[];
    threshold: number;
  };
  models: WebModelEntry[];
  /** Present when the bundle is meant for volumes (every 3D model; a 2D model exported for volumes). */
  volume?: WebVolumeSpec;
}

/**
 * How the page runs a volume. Volumes are [C, Z, Y, X] (NIfTI order, x fastest): a 3D model
 * slides windows input.tile = [d, h, w] over [Z, Y, X]; a 2D model (dims 2) runs every axial
 * (z) slice, sliding input.tile = [h, w] windows over [Y, X].
 */
export interface WebVolumeSpec {
  dims: 2 | 3;
  /** One name per input channel, in channel order: the files the page asks for (e.g. t1, flair, ct). */
  modalities: string[];
  /** Per modality, applied to the voxel values as read from the file (after scl_slope/inter);
   *  replaces input.normalize for volumes (data/volumes/intensity.ts). */
  normalize: VolumeNorm[];
  /** Per modality: the dataset CT statistics for 'ct', else null. */
  ct: (CtStats | null)[];
  /** Voxel spacing (mm, x y z) training resampled to, when it did: the page resamples to it
   *  and puts the labels back on the file's grid, as `unetpp predict` does. */
  spacing: [number, number, number] | null;
  /** Training cropped its cases to the box of non-zero voxels: the page does too (absent = no). */
  cropToNonzero?: boolean;
  /** How the output planes map to label values in the mask the page writes (the training
   *  dataset's values, as `unetpp predict` writes them; absent in older bundles: 1..K). */
  labels?: LabelSpec;
  /** Post-processing of the label map on the prepared grid, in order, as `unetpp predict` applies
   *  the checkpoint's rules (absent: none). */
  postprocess?: PostprocessRule[];
}

/**
 * A bundle's manifest.json text as a {@link WebManifest}, checked before any model is fetched:
 * JSON, this format and version, at least one model. `where` (a URL or folder name) starts each error.
 */
export function parseWebManifest(text: string, where: string): WebManifest {
  let m: WebManifest;
  try { m = JSON.parse(text) as WebManifest; } catch { throw new Error(`${where}: manifest.json is not JSON`); }
  if (m?.format !== WEB_BUNDLE_FORMAT || m.version !== 1) {
    throw new Error(`${where}: not a unetpp web bundle (format ${m?.format} v${m?.version})`);
  }
  if (!m.models?.length) throw new Error(`${where}: the manifest lists no models`);
  return m;
}
