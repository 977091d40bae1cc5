// Per-modality intensity normalisation of volumes, as nnU-Net does it:
// - 'mri': z-score over the voxels inside a foreground mask (the brain mask when there is one,
//   else the non-zero voxels); voxels outside it are set to 0, so that background stays flat.
// - 'ct': Hounsfield units mean the same in every scan, so the statistics are the dataset's:
//   clip to the 0.5 / 99.5 percentiles of the training set's labelled-foreground voxels, then
//   z-score with that set's mean and std.
// - 'zscore': over the whole volume; 'none': values as in the file.
import { percentile } from '../percentile.js';

export type VolumeNorm = 'mri' | 'ct' | 'zscore' | 'none';

export interface CtStats { lo: number; hi: number; mean: number; std: number }

/** Normalises one channel in place. mask: 1 inside the region the MRI statistics come from. */
export function normalizeChannel(v: Float32Array, kind: VolumeNorm, opts: { mask?: Uint8Array; ct?: CtStats } = {}): void {
  if (kind === 'none') return;
  if (kind === 'ct') {
    const s = opts.ct;
    if (!s) throw new Error("normalizeChannel: 'ct' needs the dataset statistics (ctStatistics)");
    for (let i = 0; i < v.length; i++) v[i] = (Math.min(s.hi, Math.max(s.lo, v[i])) - s.mean) / Math.max(s.std, 1e-8);
    return;
  }
  const inside = kind === 'mri' ? (opts.mask ?? nonZero(v)) : null;
  let n = 0, sum = 0;
  for (let i = 0; i < v.length; i++) if (!inside || inside[i]) { sum += v[i]; n++; }
  if (!n) return; // an empty mask: nothing to normalise by (the volume is all zero)
  const mean = sum / n;
  let s2 = 0;
  for (let i = 0; i < v.length; i++) if (!inside || inside[i]) s2 += (v[i] - mean) ** 2;
  const inv = 1 / Math.max(Math.sqrt(s2 / n), 1e-8);
  for (let i = 0; i < v.length; i++) v[i] = !inside || inside[i] ? (v[i] - mean) * inv : 0;
}

function nonZero(v: Float32Array): Uint8Array {
  const m = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) m[i] = v[i] !== 0 ? 1 : 0;
  return m;
}

/** Dataset CT statistics from foreground intensities pooled over the training cases. */
export function ctStatistics(foreground: ArrayLike<number>): CtStats {
  if (!foreground.length) throw new Error('CT normalisation: no labelled foreground voxels in the training cases to compute statistics from');
  const lo = percentile(foreground, 0.5);
  const hi = percentile(foreground, 99.5);
  let n = 0, sum = 0, s2 = 0;
  for (let i = 0; i < foreground.length; i++) {
    const x = Math.min(hi, Math.max(lo, foreground[i]));
    sum += x;
    s2 += x * x;
    n++;
  }
  const mean = sum / n;
  return { lo, hi, mean, std: Math.sqrt(Math.max(s2 / n - mean * mean, 0)) };
}

/** Up to max intensities of one channel at labelled voxels (evenly strided, seed-free). */
export function foregroundIntensities(v: Float32Array, labels: Uint8Array, max = 10000): Float32Array {
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) count++;
  const stride = Math.max(1, count / max);
  const out = new Float32Array(Math.min(count, max));
  let seen = 0, j = 0;
  for (let i = 0; i < labels.length && j < out.length; i++) {
    if (!labels[i]) continue;
    if (seen >= j * stride) out[j++] = v[i];
    seen++;
  }
  return out;
}
