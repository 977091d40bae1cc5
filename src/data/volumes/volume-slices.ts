// Loaded volumes as 2D samples, one per axial slice: the 2D trainer and predictor get the
// same cases, modalities, normalisation and label planes as the 3D ones, so that a 2D model
// slice by slice and a 3D model compare on the same data (issue 17 part 8).
import { expandPlanes, type LabelSpec } from '../labels.js';
import type { LoadedSample } from '../images/folder.js';
import type { LoadedVolume } from './volume-load.js';

export interface SliceOptions {
  /** Keep only slices with foreground, plus this fraction of the others (seed-free: every k-th). Default: all slices. */
  emptyFraction?: number;
}

/** Axial slices of a volume: image [C, Y, X] per slice, mask [K, Y, X] from the spec; ids <id>_z<k>. */
export function volumeToSlices(v: LoadedVolume, spec: LabelSpec, o: SliceOptions = {}): LoadedSample[] {
  const [X, Y, Z] = v.dims;
  const plane = X * Y, n = plane * Z;
  const planes = v.labels ? expandPlanes(v.labels, spec) : null;
  const k = planes ? planes.length / n : 0;
  const keepEvery = o.emptyFraction === undefined ? 1 : o.emptyFraction > 0 ? Math.max(1, Math.round(1 / o.emptyFraction)) : Infinity;
  const out: LoadedSample[] = [];
  let empties = 0;
  for (let z = 0; z < Z; z++) {
    const fg = v.labels ? v.labels.subarray(z * plane, (z + 1) * plane).some((l) => l !== 0) : true;
    if (!fg) {
      const keep = Number.isFinite(keepEvery) && empties % keepEvery === 0;
      empties++;
      if (!keep) continue;
    }
    const image = new Float32Array(v.channels * plane);
    for (let c = 0; c < v.channels; c++) image.set(v.image.subarray(c * n + z * plane, c * n + (z + 1) * plane), c * plane);
    const mask = new Float32Array(k * plane);
    for (let p = 0; p < k; p++) mask.set(planes!.subarray(p * n + z * plane, p * n + (z + 1) * plane), p * plane);
    out.push({ id: `${v.id}_z${z}`, split: v.split, image: { width: X, height: Y, channels: v.channels, data: image }, mask: { width: X, height: Y, channels: k, data: mask } });
  }
  return out;
}
