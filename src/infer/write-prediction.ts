// A prediction as files, laid out as `unetpp predict` writes them (the queue worker too):
// images: <stem>.png (0/255), or <class>/<stem>.png per class, optional <stem>_overlay.png and
// <stem>_prob.png (16-bit); volumes: <stem>.nii.gz (labels on the input's grid), optional
// <stem>_prob.nii.gz (float32, one volume per class). Every file is written atomically.
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeMaskPng, writeImagePng } from '../data/images/read-image.js';
import { writeFileAtomic } from '../data/atomic.js';
import { writeNifti } from '../data/formats/nifti.js';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import { makeOverlay } from './overlay.js';
import { niftiLabels, type Prediction } from './predict-input.js';

export interface WriteOptions {
  /** Images: also <stem>_overlay.png. */
  overlay?: boolean;
  /** Also the probabilities: <stem>_prob.png (images: the first foreground plane) or <stem>_prob.nii.gz. */
  probabilities?: boolean;
}

const isNifti = (p: string) => /\.nii(\.gz)?$/i.test(p);

/** What outputs are named after: the file name without extension; a 3D model's case also without _0000. */
export function outputStem(input: string, dims: 2 | 3): string {
  const name = basename(input);
  if (dims === 3) return name.replace(/\.nii(\.gz)?$/i, '').replace(/_0000$/, '');
  return name.replace(/\.nii\.gz$/i, '').replace(/\.[^.]+$/, '');
}

/** The mask files a prediction of `input` writes (what a resumed batch checks for). */
export function maskPaths(input: string, outDir: string, meta: CheckpointMeta): string[] {
  const { dims, classes } = meta.model;
  const stem = outputStem(input, dims);
  if (dims === 3 || isNifti(input)) return [join(outDir, `${stem}.nii.gz`)];
  if (classes === 1) return [join(outDir, `${stem}.png`)];
  return meta.classNames.map((name) => join(outDir, name, `${stem}.png`));
}

export async function writePrediction(p: Prediction, outDir: string, stem: string, meta: CheckpointMeta,
                                      o: WriteOptions = {}): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const outputs: string[] = [];
  if (p.kind === 'volume') {
    outputs.push(join(outDir, `${stem}.nii.gz`));
    await writeFileAtomic(outputs[0], p.encoded ?? niftiLabels(p.labels, p));
    if (o.probabilities) {
      outputs.push(join(outDir, `${stem}_prob.nii.gz`));
      const probs = { dims: p.dims, spacing: p.spacing, affine: p.affine, data: p.sourceProbabilities(), channels: p.probs.channels };
      await writeNifti(outputs[1], probs, { datatype: 'float32' });
    }
    return outputs;
  }
  const { width: W, height: H, masks } = p;
  const K = meta.model.classes, plane = W * H;
  for (let k = 0; k < K; k++) {
    const dir = K > 1 ? join(outDir, meta.classNames[k]) : outDir;
    if (K > 1) await mkdir(dir, { recursive: true });
    const path = join(dir, `${stem}.png`);
    await writeMaskPng(path, masks.subarray(k * plane, (k + 1) * plane), W, H);
    outputs.push(path);
  }
  if (o.overlay) {
    const path = join(outDir, `${stem}_overlay.png`);
    const soft = K > 1 && meta.model.multiclass === 'softmax'; // softmax plane 0 is background: not drawn
    await writeImagePng(path, makeOverlay(p.image, soft ? masks.subarray(plane) : masks, soft ? K - 1 : K));
    outputs.push(path);
  }
  if (o.probabilities) {
    const path = join(outDir, `${stem}_prob.png`);
    const ch = K > 1 ? 1 : 0;
    const data = p.probs.data.subarray(ch * plane, (ch + 1) * plane);
    await writeImagePng(path, { width: W, height: H, channels: 1, data }, 16);
    outputs.push(path);
  }
  return outputs;
}
