// An image made ready for the network (the optional resize, then the normalisation, as in
// training) and its probabilities brought back to the image's own size; and the 0/1 planes of
// a probability map. Shared by the prediction entry, evaluation and infer/files.ts.
import type { Image } from '../data/images/read-image.js';
import { normalize, resizeBilinear, type Normalize } from '../data/images/transforms.js';
import type { Predictor, ProbMap } from './predict.js';
import { imageField, volumeOf } from './grid.js';
import { labelMap } from '../data/labels.js';

export interface ImagePrep {
  /** Applied to the image (values in [0, 1]) before the network, as in training. */
  normalize?: Normalize;
  /** Predict at this size and resize the probabilities back (models trained on resized images). */
  resize?: { width: number; height: number };
}

/** The network's input for an image: the optional resize, then the normalisation (on a copy). */
export function prepareImage(img: Image, opts: ImagePrep = {}): Image {
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
export function restoreSize(p: ProbMap, img: Image, opts: ImagePrep = {}): ProbMap {
  if (!opts.resize) return p;
  const [h, w] = p.sizes;
  const data = resizeBilinear(p.data, p.channels, h, w, img.height, img.width);
  return { data, channels: p.channels, sizes: [img.height, img.width] };
}

/** Probabilities for an image at its own size, with the optional resize and normalisation. */
export function predictImage(predictor: Predictor, img: Image, opts: ImagePrep = {}): ProbMap {
  return restoreSize(predictor.predict(imageField(prepareImage(img, opts))), img, opts);
}

/** One 0/1 plane per model output channel: thresholded (one class, sigmoid) or argmax (softmax). */
export function binaryMasks(p: ProbMap, multiclass: 'softmax' | 'sigmoid' = 'softmax', t = 0.5): Uint8Array {
  const plane = volumeOf(p.sizes);
  const out = new Uint8Array(p.channels * plane);
  if (p.channels > 1 && multiclass === 'softmax') {
    const labels = labelMap(p, 'softmax', t);
    for (let i = 0; i < plane; i++) out[labels[i] * plane + i] = 1;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = p.data[i] > t ? 1 : 0;
  }
  return out;
}
