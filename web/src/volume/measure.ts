// What the page states about a volume: the memory a run needs (checked against the tab's
// limit before anything is allocated) and the volume of every predicted class in ml.
import { type WebManifest, defaultLabelSpec, planeValues, resampledDims } from '../../../src/web/index.js';

/**
 * The tab's limit for one volume's working memory. Chromium caps a tab's JavaScript heap and
 * each ArrayBuffer; the worker also holds onnxruntime's WASM memory (at most 4 GiB, one window
 * of activations). 2 GiB leaves room for the viewer's copy and its GPU textures.
 */
export const TAB_LIMIT_BYTES = 2 * 2 ** 30;

/** Bytes a run holds at its peak: the page's copy and the viewer's, the worker's input,
 *  padded copy, blending sums (float64) and weights, probabilities, labels. */
export function runBytes(m: WebManifest, dims: readonly number[], spacing: readonly number[]): number {
  const C = m.input.channels, K = m.output.classes;
  const voxels = dims[0] * dims[1] * dims[2];
  const target = m.volume?.spacing;
  const grid = target ? resampledDims(dims, spacing, target) : dims;
  const prepared = Math.max(voxels, grid[0] * grid[1] * grid[2]);
  const page = 4 * C * voxels * 2 + voxels * (1 + K); // voxels, viewer, label and per-class overlays
  const worker = voxels * 4 * C + prepared * (4 * C + 8 * K + 8 + 4 * K * 2 + 1) + voxels;
  return page + worker;
}

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Every class (or region) the mask shows: its name and the label values that make it. */
export function labelClasses(m: WebManifest): { name: string; values: number[] }[] {
  const spec = m.volume?.labels ?? defaultLabelSpec(m.output.classes, m.output.activation === 'softmax');
  const planes = planeValues(spec);
  // the bundle's class names (the checkpoint's) where they are the planes' (softmax: minus background)
  const names = m.output.classNames.slice(m.output.classNames.length - planes.length);
  return planes.map((p, k) => ({ name: names[k] ?? p.name, values: p.values }));
}

/** Voxels per label value (index = value). */
export function labelCounts(labels: Uint8Array): number[] {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** Voxels of one class: the counts of its values. */
export const classVoxels = (counts: number[], values: number[]) => values.reduce((n, v) => n + counts[v], 0);

/** ml of one voxel: the product of the voxel sizes (mm^3) / 1000. */
export const voxelMl = (spacing: readonly number[]) => (spacing[0] * spacing[1] * spacing[2]) / 1000;
