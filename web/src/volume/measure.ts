// What the page states about a volume: the memory a run needs (checked against the tab's
// limit before anything is allocated) and the volume of every predicted class in ml.
import type { WebManifest } from '../../../src/io/web-manifest.js';

/**
 * The tab's limit for one volume's working memory. Chromium caps a tab's JavaScript heap and
 * each ArrayBuffer; the worker also holds onnxruntime's WASM memory (at most 4 GiB, one window
 * of activations). 2 GiB leaves room for the viewer's copy and its GPU textures.
 */
export const TAB_LIMIT_BYTES = 2 * 2 ** 30;

/** Bytes a run holds at its peak: the page's copy and the viewer's, the worker's input,
 *  padded copy, blending sums (float64) and weights, probabilities, labels. */
export function runBytes(m: WebManifest, voxels: number): number {
  const C = m.input.channels, K = m.output.classes;
  const page = 4 * C * voxels * 2 + voxels * (1 + K); // voxels, viewer, label and per-class overlays
  const worker = voxels * (4 * C * 2 + 8 * K + 8 + 4 * K * 2 + 1);
  return page + worker;
}

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The label value and name of every class the mask shows (softmax: class 0 is background). */
export function labelClasses(m: WebManifest): { value: number; name: string }[] {
  const names = m.output.classNames, K = m.output.classes;
  if (K === 1) return [{ value: 1, name: names[0] ?? 'foreground' }];
  if (m.output.activation === 'softmax') return names.slice(1).map((name, k) => ({ value: k + 1, name }));
  return names.map((name, k) => ({ value: k + 1, name }));
}

/** Voxels per label value (index = value). */
export function labelCounts(labels: Uint8Array): number[] {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** ml of one voxel: the product of the voxel sizes (mm^3) / 1000. */
export const voxelMl = (spacing: readonly number[]) => (spacing[0] * spacing[1] * spacing[2]) / 1000;
