// The fingerprint of a volume dataset, case by case as nnU-Net's: shape and spacing, the box of
// non-zero voxels, foreground intensities per modality (a strided sample of the labelled voxels),
// label values and their frequencies. Cases are read one at a time with the training readers.
import { scanVolumes, type VolumeCase, type VolumeScanOptions } from '../data/volumes/volume-layout.js';
import { readCaseImage, onImageGrid } from '../data/volumes/volume-load.js';
import { readNiftiChannels } from '../data/formats/nifti.js';
import { toLabelMap } from '../data/labels.js';
import { nonzeroBox } from '../data/volumes/crop-box.js';
import { foregroundIntensities } from '../data/volumes/intensity.js';
import { fileError } from '../data/file-error.js';
import { intensityStats } from './stats.js';
import type { VolumeCaseFingerprint, VolumeFingerprint } from '../io/dataset-plan.js';

/** nnU-Net samples 1e7 foreground voxels over the dataset, at most this many per case here. */
const SAMPLES_TOTAL = 1e7;
const SAMPLES_PER_CASE = 10000;

export interface FingerprintProgress { (done: number, total: number, id: string): void }

/** One case: its record and its foreground sample per modality (for the pooled statistics). */
export async function fingerprintVolumeCase(c: VolumeCase, modalities: number, perCase: number,
): Promise<{ fp: VolumeCaseFingerprint; samples: Float32Array[] }> {
  const img = await readCaseImage(c, modalities);
  const n = img.dims[0] * img.dims[1] * img.dims[2];
  let labels: Uint8Array | undefined;
  if (c.label) {
    const lab = await readNiftiChannels(c.label);
    if (lab.channels > 1) throw fileError(c.label, `is 4D (${lab.channels} volumes): a label volume is one 3D map of class ids`);
    labels = toLabelMap(onImageGrid(lab, c.label, img, c.images[0]), c.label, img.dims);
  }
  let mask: Uint8Array | undefined;
  if (c.mask) {
    const m = await readNiftiChannels(c.mask);
    const md = onImageGrid(m, c.mask, img, c.images[0]);
    mask = new Uint8Array(md.length);
    for (let i = 0; i < md.length; i++) mask[i] = md[i] !== 0 ? 1 : 0;
  }
  let nonFinite = 0;
  for (let i = 0; i < img.data.length; i++) if (!Number.isFinite(img.data[i])) nonFinite++;
  // as prepareVolume crops: with a brain mask, the mask is the region
  const box = nonzeroBox(img.data, mask ? 0 : img.channels, img.dims, [labels, mask]);
  const cropShape = box ? box.dims : img.dims;
  const counts = new Map<number, number>();
  if (labels) {
    const hist = new Float64Array(256);
    for (let i = 0; i < labels.length; i++) hist[labels[i]]++;
    hist.forEach((k, v) => { if (k) counts.set(v, k); });
  }
  const intensity = [];
  const samples: Float32Array[] = [];
  for (let ch = 0; ch < img.channels; ch++) {
    const v = img.data.subarray(ch * n, (ch + 1) * n);
    const all = labels ? foregroundIntensities(v, labels, Infinity).filter(Number.isFinite) : new Float32Array(0);
    intensity.push(intensityStats(all));
    samples.push(labels ? foregroundIntensities(v, labels, perCase).filter(Number.isFinite) : new Float32Array(0));
  }
  const fp: VolumeCaseFingerprint = {
    id: c.id, split: c.split, shape: [...img.dims],
    spacing: img.spacing.map((s) => +s.toPrecision(6)) as [number, number, number],
    cropShape: [...cropShape], cropFraction: +((cropShape[0] * cropShape[1] * cropShape[2]) / n).toFixed(4), intensity,
    labelCounts: Object.fromEntries([...counts].map(([v, k]) => [String(v), k])), nonFinite,
  };
  return { fp, samples };
}

/** The fingerprint of every labelled case; pooled intensities over the train and val cases. */
export async function fingerprintVolumes(dir: string, stamp: string, o: VolumeScanOptions & { onCase?: FingerprintProgress } = {},
): Promise<VolumeFingerprint> {
  const ds = await scanVolumes(dir, o);
  const cases = ds.cases.filter((c) => c.label);
  if (!cases.length) throw fileError(dir, 'has no labelled cases to plan from (labels/, masks/ or labelsTr/)');
  const perCase = Math.max(1, Math.min(SAMPLES_PER_CASE, Math.floor(SAMPLES_TOTAL / cases.length)));
  const out: VolumeCaseFingerprint[] = [];
  const pools: Float32Array[][] = ds.modalities.map(() => []);
  for (const [i, c] of cases.entries()) {
    const { fp, samples } = await fingerprintVolumeCase(c, ds.modalities.length, perCase);
    out.push(fp);
    if (c.split !== 'test') samples.forEach((s, ch) => pools[ch].push(s));
    o.onCase?.(i + 1, cases.length, c.id);
  }
  const concat = (parts: Float32Array[]) => {
    const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) { all.set(p, off); off += p.length; }
    return all;
  };
  const spec = ds.labels;
  const names = spec?.kind === 'classes' && spec.names
    ? Object.fromEntries(spec.values.map((v, i) => [String(v), spec.names![i]])) : undefined;
  return {
    kind: 'volume', version: 1, dir, stamp, modalities: ds.modalities, ...(names ? { labelNames: names } : {}),
    cases: out, intensity: pools.map((p) => intensityStats(concat(p))),
  };
}
