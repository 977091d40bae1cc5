// manifest.json of a browser bundle (written by web-bundle.ts, read by the page in web/).
// No Node imports: the page type-checks against this file.
import type { Normalize } from '../data/transforms.js';
import type { BlendKind } from '../infer/tiles.js';

export const WEB_BUNDLE_FORMAT = 'unetpp-web-bundle';

export interface WebModelEntry {
  /** 'accurate' or 'L<d>' */
  id: string;
  mode: 'accurate' | 'fast';
  /** Pruning level: the model's depth for accurate mode, d for fast mode on L^d (head d). */
  level: number;
  /** This network's H and W must be multiples of 2^level: pad to them as Node does. */
  multiple: number;
  file: string;
  params: number;
  /** Forward GFLOP of one tile (manifest.input.tile). */
  gflops: number;
  bytes: number;
}

export interface WebManifest {
  format: typeof WEB_BUNDLE_FORMAT;
  version: 1;
  model: { arch: string; preset: string; filters: number[]; depth: number; deepSupervision: boolean };
  input: {
    name: 'input';
    layout: 'NCHW';
    channels: number;
    /** 2^depth: every model takes multiples of it (a level-d model needs only 2^d). */
    multiple: number;
    /** Pixel values in [0, 1] (8-bit / 255), then this normalisation (as in training). */
    normalize: Normalize;
    /** Sliding-window size [h, w] and overlap, as `unetpp predict --tile --overlap`. */
    tile: [number, number];
    overlap: number;
    blend: BlendKind;
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
}
