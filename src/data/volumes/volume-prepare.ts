// A volume's voxels made ready for a network, as training made its cases: cropped to the box of
// non-zero voxels (when asked), resampled to the training spacing, normalised per modality; and
// a prediction made on that grid put back onto the file's own grid. Pure array code: `loadCase`
// (Node) and the volume page's worker (browser) both call it, so the two prepare a case alike.
import { boxAffine, cropToBox, nonzeroBox, uncropFromBox, type Box } from './crop-box.js';
import { resampleOnto, resampleVolume, resampledAffine } from './resample.js';
import { normalizeChannel, type CtStats, type VolumeNorm } from './intensity.js';

/** Where a volume lies: NIfTI [X, Y, Z] dims, spacing in mm, voxel-to-world affine. */
export interface Geometry {
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: number[][];
}

export interface PrepareOptions {
  /** Keep only the box of non-zero voxels (image, label or mask), as nnU-Net does. */
  cropToNonzero?: boolean;
  /** Resample to this [x, y, z] spacing in mm (trilinear images, nearest labels). */
  spacing?: [number, number, number];
  /** Per modality (or one for all); default 'zscore'. */
  normalize?: VolumeNorm | VolumeNorm[];
  /** Dataset CT statistics per modality, needed where a modality is 'ct'. */
  ct?: (CtStats | null | undefined)[];
  /** Spacing differences up to this (mm) are no difference. Default 1e-3. */
  tolerance?: number;
}

export interface PreparedVolume extends Geometry {
  /** [C, Z, Y, X] on the prepared grid, normalised (the input array itself when nothing moved it). */
  data: Float32Array;
  labels?: Uint8Array;
  mask?: Uint8Array;
  /** The files' geometry (predictions go back onto it). */
  source: Geometry;
  /** The box of the files' grid that was kept (cropToNonzero). */
  crop?: Box;
}

/**
 * Crop, resample, normalise C channels of [C, Z, Y, X] voxels (and a label map and a mask on the
 * same grid). Normalises `data` in place when neither crop nor resampling copies it.
 */
export function prepareVolume(data: Float32Array, channels: number, source: Geometry, o: PrepareOptions,
                              extra: { labels?: Uint8Array; mask?: Uint8Array } = {}): PreparedVolume {
  let { labels, mask } = extra;
  let dims = source.dims, spacing = source.spacing, affine = source.affine;
  let crop: Box | undefined;
  if (o.cropToNonzero) {
    // with a brain mask, the mask is the region (the image background need not be 0)
    const box = nonzeroBox(data, mask ? 0 : channels, dims, [labels, mask]);
    if (box && box.dims.join() !== dims.join()) {
      crop = box;
      data = cropToBox(data, channels, dims, box);
      if (labels) labels = cropToBox(labels, 1, dims, box);
      if (mask) mask = cropToBox(mask, 1, dims, box);
      affine = boxAffine(affine, box);
      dims = box.dims;
    }
  }
  const tol = o.tolerance ?? 1e-3, grid = dims, target = o.spacing;
  if (target && target.some((s, i) => Math.abs(s - spacing[i]) > tol)) {
    ({ data, dims } = resampleVolume(data, channels, grid, spacing, target, 'linear'));
    if (labels) labels = resampleVolume(labels, 1, grid, spacing, target, 'nearest').data;
    if (mask) mask = resampleVolume(mask, 1, grid, spacing, target, 'nearest').data;
    affine = resampledAffine(affine, spacing, target);
    spacing = [...target];
  }
  const n = dims[0] * dims[1] * dims[2];
  for (let ch = 0; ch < channels; ch++) {
    const kind = Array.isArray(o.normalize) ? o.normalize[ch] ?? 'zscore' : o.normalize ?? 'zscore';
    normalizeChannel(data.subarray(ch * n, (ch + 1) * n), kind, { mask, ct: o.ct?.[ch] ?? undefined });
  }
  return { data, dims, spacing, affine, labels, mask, source, crop };
}

/**
 * A prediction made on a prepared volume (label map [Z, Y, X] or K probability maps) put back
 * onto the files' grid: nearest for labels, trilinear for probabilities; unchanged when the
 * case was neither cropped nor resampled.
 */
export function toSourceGrid<T extends Float32Array | Uint8Array>(data: T, channels: number, v: Pick<PreparedVolume, 'dims' | 'spacing' | 'source' | 'crop'>, mode: 'nearest' | 'linear'): T {
  const grid = { dims: v.crop?.dims ?? v.source.dims, spacing: v.source.spacing }; // the files' grid, cropped
  const onGrid = v.dims.join() === grid.dims.join() && v.spacing.join() === grid.spacing.join() ? data : resampleOnto(data, channels, v, grid, mode);
  return v.crop ? uncropFromBox(onGrid, channels, v.source.dims, v.crop) : onGrid;
}
