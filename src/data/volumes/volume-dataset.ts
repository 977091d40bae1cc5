// The entry point of the volume workflow: a dataset folder -> per-split lazy stores with the
// label spec, normalisation per modality (chosen from the modality names unless given) and CT
// statistics from the training cases; plus the CLI's --labels syntax and writing predictions
// back onto the files' grid.
import { scanVolumes, type VolumeDataset, type VolumeScanOptions } from './volume-layout.js';
import { VolumeStore } from './volume-store.js';
import { datasetCtStats, loadCase, type LoadedVolume, type VolumeLoadOptions } from './volume-load.js';
import { BRATS_REGIONS, planeNames, type LabelSpec, type OtherLabels } from '../labels.js';
import { toSourceGrid } from './volume-prepare.js';
import { writeNifti } from '../formats/nifti.js';

export { toSourceGrid };
import type { CtStats, VolumeNorm } from './intensity.js';
import type { SplitName } from '../split-csv.js';

export interface OpenVolumesOptions extends VolumeScanOptions {
  /** Default: dataset.json's labels, else binary; a function decides from dataset.json's (resolveLabels). */
  labels?: LabelSpec | ((fromDataset: LabelSpec | undefined) => LabelSpec);
  /** Resample every case to this [x, y, z] spacing (mm). */
  spacing?: [number, number, number];
  /** Per modality or one for all; default from the modality names ('ct' for CT, else 'mri'). */
  normalize?: VolumeNorm | VolumeNorm[];
  /** Cache budget of each split's store, bytes. */
  cacheBytes?: number;
  /** Keep only the box of non-zero voxels of each case (nnU-Net's cropping). */
  cropToNonzero?: boolean;
  /** CT statistics per modality as a checkpoint records them, instead of the training cases' (null: not CT). */
  ct?: (CtStats | null | undefined)[];
}

export interface VolumeData {
  dataset: VolumeDataset;
  labels: LabelSpec;
  /** Target plane names (model outputs), e.g. ['whole tumour', 'tumour core', 'enhancing tumour']. */
  classNames: string[];
  normalize: VolumeNorm[];
  ct: (CtStats | undefined)[];
  /** The target spacing, when cases are resampled. */
  spacing?: [number, number, number];
  cropToNonzero?: boolean;
  /** One lazy store per split that has cases. */
  splits: Partial<Record<SplitName, VolumeStore>>;
}

/** 'ct' for CT modalities; 'mri' (z-score in the foreground) for the rest, as nnU-Net. */
export function defaultNorm(modality: string): VolumeNorm {
  return /^ct$/i.test(modality.trim()) ? 'ct' : 'mri';
}

export async function openVolumes(dir: string, o: OpenVolumesOptions = {}): Promise<VolumeData> {
  const dataset = await scanVolumes(dir, o);
  const labels = typeof o.labels === 'function' ? o.labels(dataset.labels)
    : o.labels ?? dataset.labels ?? { kind: 'binary' };
  const m = dataset.modalities.length;
  const normalize = Array.isArray(o.normalize) ? o.normalize : dataset.modalities.map((name) => (o.normalize as VolumeNorm | undefined) ?? defaultNorm(name));
  if (normalize.length !== m) throw new Error(`normalize: ${normalize.length} kinds for ${m} modalities (${dataset.modalities.join(', ')})`);
  const train = dataset.cases.filter((c) => c.split === 'train');
  if (o.ct && o.ct.length !== m)
    throw new Error(`ct: ${o.ct.length} statistics for ${m} modalities (${dataset.modalities.join(', ')})`);
  const ct = o.ct ? o.ct.map((c) => c ?? undefined) : await datasetCtStats(train, normalize, m);
  const splits: VolumeData['splits'] = {};
  for (const s of ['train', 'val', 'test'] as SplitName[]) {
    const cases = dataset.cases.filter((c) => c.split === s);
    if (cases.length) splits[s] = new VolumeStore(cases, { modalities: m, labels, spacing: o.spacing, normalize, ct, cacheBytes: o.cacheBytes, cropToNonzero: o.cropToNonzero });
  }
  return { dataset, labels, classNames: planeNames(labels), normalize, ct, spacing: o.spacing, cropToNonzero: o.cropToNonzero, splits };
}

/**
 * What prediction needs to prepare a new volume exactly as training did (JSON: store it with
 * the checkpoint): modality order, normalisation and CT statistics, spacing, label spec.
 */
export interface VolumePipeline {
  modalities: string[];
  normalize: VolumeNorm[];
  ct: (CtStats | null)[];
  spacing?: [number, number, number];
  cropToNonzero?: boolean;
  labels: LabelSpec;
  classNames: string[];
}

export function volumePipeline(vd: VolumeData): VolumePipeline {
  return { modalities: vd.dataset.modalities, normalize: vd.normalize, ct: vd.ct.map((c) => c ?? null), spacing: vd.spacing, cropToNonzero: vd.cropToNonzero, labels: vd.labels, classNames: vd.classNames };
}

export function pipelineLoadOptions(p: VolumePipeline): VolumeLoadOptions {
  return { modalities: p.modalities.length, normalize: p.normalize, ct: p.ct.map((c) => c ?? undefined), spacing: p.spacing, cropToNonzero: p.cropToNonzero, labels: p.labels };
}

/**
 * A new case for prediction: one file per modality (in the pipeline's order), a 4D file, or a
 * DICOM series folder; read, checked, resampled and normalised as in training. The result's
 * `source` geometry is where writeCasePrediction puts the prediction back.
 */
export async function loadForPrediction(images: string | string[], p: VolumePipeline, id = 'case'): Promise<LoadedVolume> {
  const list = Array.isArray(images) ? images : [images];
  return loadCase({ id, images: list, split: 'test' }, { ...pipelineLoadOptions(p), labels: undefined });
}

/**
 * The CLI's --labels: "1,2,4" (one class per value), "brats" (BraTS's nested regions), or
 * named regions "wt=1+2+3+4,tc=1+3+4,et=4". background adds a background plane (softmax).
 */
export function parseLabelSpec(arg: string, background = false): LabelSpec {
  const t = arg.trim();
  if (/^brats$/i.test(t)) return BRATS_REGIONS;
  if (/^binary$/i.test(t)) return { kind: 'binary' };
  const parts = t.split(',').map((p) => p.trim()).filter(Boolean);
  const int = (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) > 255) throw new Error(`--labels: "${v}" is not a label value 0..255 (use e.g. 1,2,4 or wt=1+2+3+4,tc=1+3+4,et=4 or brats)`);
    return Number(v);
  };
  if (parts.some((p) => p.includes('='))) {
    return { kind: 'regions', regions: parts.map((p) => {
      const [name, vals] = p.split('=');
      if (!name || !vals) throw new Error(`--labels: "${p}" is not name=v1+v2`);
      return { name: name.trim(), values: vals.split('+').map((v) => int(v.trim())) };
    }) };
  }
  if (!parts.length) throw new Error('--labels: empty');
  return { kind: 'classes', values: parts.map(int), background };
}

/**
 * The label spec to train on: --labels (parsed; class names taken from dataset.json where it
 * names the values), else dataset.json's (background plane first for softmax, none for sigmoid
 * classes), else binary; --other maps the values the spec does not list.
 */
export function resolveLabels(flag: string | undefined, fromDataset: LabelSpec | undefined,
                              o: { softmax: boolean; other?: OtherLabels }): LabelSpec {
  let spec: LabelSpec;
  if (flag) {
    spec = parseLabelSpec(flag, o.softmax);
    const named = fromDataset?.kind === 'classes' && fromDataset.names ? fromDataset : undefined;
    if (spec.kind === 'classes' && named) {
      const nameOf = (v: number) => named.names![named.values.indexOf(v)] ?? `label ${v}`;
      spec = { ...spec, names: spec.values.map(nameOf) };
    }
    // dataset.json's ignore label stays ignored unless --other says otherwise
    if (spec.kind !== 'binary' && fromDataset?.kind !== 'binary' && fromDataset?.other === 'ignore')
      spec = { ...spec, other: 'ignore' };
  } else if (fromDataset?.kind === 'classes') spec = { ...fromDataset, background: o.softmax };
  else spec = fromDataset ?? { kind: 'binary' };
  if (o.other) {
    if (spec.kind === 'binary')
      throw new Error('--other: binary labels already make every non-zero value foreground; give --labels ' +
        '(e.g. --labels 5 --other background)');
    spec = { ...spec, other: o.other };
  }
  return spec;
}

/** Writes a label map predicted on a loaded case as NIfTI on the case's own grid and affine. */
export async function writeCasePrediction(path: string, labelMap: Float32Array | Uint8Array, v: LoadedVolume): Promise<void> {
  const data = toSourceGrid(labelMap, 1, v, 'nearest');
  await writeNifti(path, { dims: v.source.dims, spacing: v.source.spacing, affine: v.source.affine, data: Float32Array.from(data) }, { datatype: 'uint8' });
}
