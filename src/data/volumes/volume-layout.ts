// Volume datasets as users bring them, listed and paired (nothing decoded):
// - DIR/images/<case>.nii[.gz] + DIR/masks|labels/<case>.nii[.gz]
// - several modalities: DIR/images/<case>_0000.nii.gz, <case>_0001... (nnU-Net naming) or
//   <case>_<name>.nii.gz next to labels/<case>.nii.gz (BraTS: _flair, _t1c), optional
//   DIR/brainmask/<case>.nii.gz for MRI normalisation
// - nnU-Net / Medical Segmentation Decathlon: DIR/imagesTr, labelsTr, imagesTs, dataset.json
//   (MSD keeps the modalities of a case as the 4th axis of one file)
// - a DICOM series as an image: DIR/images/<case>/ (a folder of one series' files), labels NIfTI
// - one folder per case (BraTS 2020/2021): DIR/<case>/<case>_<modality>.nii.gz + <case>_seg.nii.gz
// Splits: split.csv (split-csv.ts), else a split word at the end of every case id
// (brats_pat0005_train), else imagesTs as test and a seeded train/val split.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileError } from '../images/read-image.js';
import { Rng } from '../rng.js';
import { normaliseSplit, parseSplitCsv, seededSplitSizes, type SplitName } from '../split-csv.js';
import type { LabelSpec } from '../labels.js';

export interface VolumeCase {
  id: string;
  /** One file per modality, in modality order; or one 4D file holding them all. */
  images: string[];
  label?: string;
  /** A foreground (brain) mask for MRI normalisation. */
  mask?: string;
  split: SplitName;
}

export interface VolumeDataset {
  dir: string;
  layout: 'folder' | 'nnunet' | 'case-folders';
  /** Modality names (file suffixes, or dataset.json's), one per input channel. */
  modalities: string[];
  /** Images are 4D files holding every modality (MSD). */
  fourD: boolean;
  cases: VolumeCase[];
  /** Label names from dataset.json, as classes after a background plane (0 is background). */
  labels?: LabelSpec;
  /** Where the splits came from; 'seeded' with the seed (and why, when it had to be adjusted). */
  splitSource?: { kind: 'file' | 'names' | 'function' | 'seeded'; file?: string; seed?: number; note?: string };
}

export interface VolumeScanOptions {
  splitFile?: string | false;
  /** Seeded split of the labelled cases when nothing else says: [train, val, test]. Default [0.8, 0.2, 0]. */
  splitFractions?: [number, number, number];
  seed?: number;
  splitOf?: (id: string) => SplitName;
}

const NII = /\.nii(\.gz)?$/i;
const stemOf = (name: string) => name.replace(NII, '');
const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

/** NIfTI files by case name; with folders: subfolders too (DICOM series, one per case). */
async function listNifti(dir: string, folders = false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    if (!NII.test(name) && !(folders && (await isDir(join(dir, name))))) continue;
    const stem = stemOf(name);
    if (out.has(stem)) throw fileError(join(dir, name), `two files share the case name "${stem}" (also ${out.get(stem)})`);
    out.set(stem, join(dir, name));
  }
  return out;
}

/** True when DIR looks like a volume dataset (imagesTr/, or NIfTI files in images/). */
export async function isVolumeFolder(dir: string): Promise<boolean> {
  if ((await isDir(join(dir, 'imagesTr'))) || (await stat(join(dir, 'dataset.json')).then(() => true, () => false))) return true;
  const names = await readdir(join(dir, 'images')).catch(() => [] as string[]);
  if (names.some((n) => NII.test(n))) return true;
  // DICOM series folders next to NIfTI labels
  const labels = [...(await readdir(join(dir, 'labels')).catch(() => [] as string[])), ...(await readdir(join(dir, 'masks')).catch(() => [] as string[]))];
  if (labels.some((n) => NII.test(n))) return true;
  return (await caseFolders(dir)).length > 0;
}

const LABEL_SUFFIX = /_(seg|label|labels|mask|gt)$/i;

/** Subfolders <case>/ holding <case>_*.nii[.gz] files (BraTS 2020/2021 and similar). */
async function caseFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.startsWith('.') || !(await isDir(join(dir, name)))) continue;
    const files = await readdir(join(dir, name));
    if (files.some((f) => NII.test(f) && f.startsWith(name + '_'))) out.push(name);
  }
  return out;
}

async function scanCaseFolders(dir: string, names: string[]): Promise<VolumeDataset> {
  const cases: VolumeCase[] = [];
  let modalities: string[] | undefined;
  for (const id of names) {
    const files = await listNifti(join(dir, id));
    let label: string | undefined;
    const mods = new Map<string, string>();
    for (const [stem, p] of files) {
      if (!stem.startsWith(id + '_')) continue;
      const suffix = stem.slice(id.length + 1);
      if (LABEL_SUFFIX.test('_' + suffix)) label = p;
      else mods.set(suffix, p);
    }
    const these = [...mods.keys()].sort();
    modalities ??= these;
    const missing = modalities.find((m) => !mods.has(m)) ?? these.find((m) => !modalities!.includes(m));
    if (missing !== undefined) throw fileError(join(dir, id), `has modalities ${these.join(', ')} but ${cases[0]?.id ?? id} has ${modalities.join(', ')}: every case needs the same (missing or extra: ${id}_${missing}.nii.gz)`);
    cases.push({ id, images: modalities.map((m) => mods.get(m)!), label, split: 'train' });
  }
  return { dir, layout: 'case-folders', modalities: modalities ?? [], fourD: false, cases };
}

/**
 * Groups image files into cases. With label stems known, an image belongs to the case whose
 * name it equals or extends with _<modality>; without labels, a _NNNN suffix marks a modality.
 */
function groupCases(images: Map<string, string>, labelStems: string[], imagesDir: string): { cases: Map<string, Map<string, string>>; modalities: string[] } {
  const cases = new Map<string, Map<string, string>>();
  const byLength = [...labelStems].sort((a, b) => b.length - a.length); // longest case name wins
  for (const [stem, path] of images) {
    let id = byLength.find((l) => stem === l || stem.startsWith(l + '_'));
    if (id === undefined) {
      const m = /^(.*)_(\d{4})$/.exec(stem);
      id = m ? m[1] : stem;
    }
    const mod = stem === id ? '' : stem.slice(id.length + 1);
    if (!cases.has(id)) cases.set(id, new Map());
    cases.get(id)!.set(mod, path);
  }
  const modalities = [...new Set([...cases.values()].flatMap((m) => [...m.keys()]))].sort();
  for (const [id, mods] of cases) {
    const missing = modalities.find((m) => !mods.has(m));
    if (missing !== undefined) {
      const have = [...mods.values()].map((p) => basename(p)).join(', ');
      throw fileError(join(imagesDir, `${id}${missing ? '_' + missing : ''}.nii.gz`), `missing: case "${id}" has ${have} but other cases also have modality "${missing || '(none)'}"; every case needs the same modalities`);
    }
  }
  return { cases, modalities };
}

async function scanFolderLayout(dir: string): Promise<VolumeDataset> {
  const imagesDir = join(dir, 'images');
  const labelsDir = (await isDir(join(dir, 'labels'))) ? join(dir, 'labels') : join(dir, 'masks');
  const images = await listNifti(imagesDir, true);
  if (!images.size) throw fileError(imagesDir, 'no .nii or .nii.gz volumes (nor DICOM series folders)');
  const labels = (await isDir(labelsDir)) ? await listNifti(labelsDir) : new Map<string, string>();
  const masks = (await isDir(join(dir, 'brainmask'))) ? await listNifti(join(dir, 'brainmask')) : new Map<string, string>();
  const { cases, modalities } = groupCases(images, [...labels.keys()], imagesDir);
  for (const [stem, p] of labels) if (!cases.has(stem)) throw fileError(p, `label without image: no ${join(imagesDir, stem)}.nii.gz (nor ${stem}_<modality>.nii.gz)`);
  return {
    dir, layout: 'folder', modalities: modalities.map((m) => m || 'image'), fourD: false,
    cases: [...cases].map(([id, mods]) => ({ id, images: modalities.map((m) => mods.get(m)!), label: labels.get(id), mask: masks.get(id), split: 'train' as SplitName })),
  };
}

interface DatasetJson {
  modality?: Record<string, string>;
  channel_names?: Record<string, string>;
  labels?: Record<string, string | number | number[]>;
  training?: { image: string; label: string }[];
  file_ending?: string;
}

/**
 * dataset.json labels (MSD: {"1": "edema"}, nnU-Net v2: {"edema": 1}) as classes after a
 * background plane (value 0 is background in both); nnU-Net v2's "ignore" label becomes
 * ignored voxels.
 */
function jsonLabels(labels: DatasetJson['labels']): LabelSpec | undefined {
  if (!labels) return undefined;
  const pairs: [string, number][] = [];
  let ignore = false;
  for (const [k, v] of Object.entries(labels)) {
    if (Array.isArray(v)) {
      const regions = Object.entries(labels).filter(([, r]) => Array.isArray(r))
        .map(([name, r]) => ({ name, values: r as number[] }));
      return { kind: 'regions', regions };
    }
    const [name, value] = /^\d+$/.test(k) && typeof v === 'string' ? [v, Number(k)]
      : typeof v === 'number' ? [k, v] : [null, 0];
    if (name === null) continue;
    if (/^ignore$/i.test(name)) ignore = true;
    else pairs.push([name, value]);
  }
  const fg = pairs.filter(([, v]) => v !== 0).sort((a, b) => a[1] - b[1]);
  if (!fg.length) return undefined;
  return {
    kind: 'classes', values: fg.map(([, v]) => v), names: fg.map(([n]) => n), background: true,
    ...(ignore ? { other: 'ignore' as const } : {}),
  };
}

async function scanNnunet(dir: string): Promise<VolumeDataset> {
  const jsonPath = join(dir, 'dataset.json');
  const text = await readFile(jsonPath, 'utf8').catch(() => null);
  let meta: DatasetJson = {};
  if (text !== null) {
    try {
      meta = JSON.parse(text) as DatasetJson;
    } catch (e) {
      throw fileError(jsonPath, 'is not valid JSON', e);
    }
  }
  const names = meta.channel_names ?? meta.modality;
  const declared = names ? Object.keys(names).sort((a, b) => Number(a) - Number(b)).map((k) => names[k]) : undefined;
  const trDir = join(dir, 'imagesTr');
  if (!(await isDir(trDir))) throw fileError(trDir, 'imagesTr folder not found (nnU-Net / Decathlon layout)');
  const labels = (await isDir(join(dir, 'labelsTr'))) ? await listNifti(join(dir, 'labelsTr')) : new Map<string, string>();
  const tr = groupCases(await listNifti(trDir, true), [...labels.keys()], trDir);
  const ts = (await isDir(join(dir, 'imagesTs'))) ? groupCases(await listNifti(join(dir, 'imagesTs'), true), [], join(dir, 'imagesTs')) : null;
  // MSD: one 4D file per case ("" modality) while dataset.json names several modalities
  const fourD = tr.modalities.length === 1 && tr.modalities[0] === '' && (declared?.length ?? 1) > 1;
  const modalities = declared ?? tr.modalities.map((m) => m || 'image');
  if (!fourD && declared && declared.length !== tr.modalities.length)
    throw fileError(jsonPath, `declares ${declared.length} modalities (${declared.join(', ')}) but imagesTr has ${tr.modalities.length} per case (${tr.modalities.map((m) => '_' + m).join(', ')})`);
  for (const [stem, p] of labels) if (!tr.cases.has(stem)) throw fileError(p, `label without image in ${trDir}`);
  const order = fourD ? [''] : tr.modalities;
  const cases: VolumeCase[] = [...tr.cases].map(([id, m]) => ({ id, images: order.map((k) => m.get(k)!), label: labels.get(id), split: 'train' as SplitName }));
  if (ts) for (const [id, m] of ts.cases) cases.push({ id, images: (fourD ? [''] : ts.modalities).map((k) => m.get(k)!), split: 'test' });
  return { dir, layout: 'nnunet', modalities, fourD, cases, labels: jsonLabels(meta.labels) };
}

/** Lists a volume dataset and assigns splits. */
export async function scanVolumes(dir: string, opts: VolumeScanOptions = {}): Promise<VolumeDataset> {
  const nn = (await isDir(join(dir, 'imagesTr'))) || (await stat(join(dir, 'dataset.json')).then(() => true, () => false));
  const perCase = nn || (await isDir(join(dir, 'images'))) ? [] : await caseFolders(dir);
  if (!nn && !perCase.length && !(await isDir(join(dir, 'images'))))
    throw fileError(join(dir, 'images'), 'not found: a volume dataset has images/ (+ labels/ or masks/), imagesTr/ (+ labelsTr/, dataset.json), or one folder per case (<case>/<case>_<modality>.nii.gz + <case>_seg.nii.gz)');
  const ds = nn ? await scanNnunet(dir) : perCase.length ? await scanCaseFolders(dir, perCase) : await scanFolderLayout(dir);
  await assignVolumeSplits(ds, opts);
  return ds;
}

async function assignVolumeSplits(ds: VolumeDataset, opts: VolumeScanOptions): Promise<void> {
  const file = opts.splitFile === false ? null : join(ds.dir, opts.splitFile ?? 'split.csv');
  const text = file ? await readFile(file, 'utf8').catch(() => null) : null;
  const byId = new Map(ds.cases.map((c) => [c.id, c]));
  if (file && text !== null) {
    const seen = new Set<string>();
    for (const { id, split, line } of parseSplitCsv(text, file)) {
      const c = byId.get(id);
      if (!c) throw fileError(file, `line ${line}: no case "${id}"`);
      if (seen.has(id)) throw fileError(file, `line ${line}: case "${id}" listed twice`);
      seen.add(id);
      c.split = split;
    }
    // every labelled case must be listed (unlabelled imagesTs cases stay test)
    const missing = ds.cases.find((c) => !seen.has(c.id) && c.label);
    if (missing) throw fileError(file, `case ${missing.id} (${missing.images[0]}) is not listed`);
    ds.splitSource = { kind: 'file', file };
    return;
  }
  if (opts.splitOf) {
    for (const c of ds.cases) c.split = opts.splitOf(c.id);
    ds.splitSource = { kind: 'function' };
    return;
  }
  const fromName = ds.cases.map((c) => normaliseSplit(/_([a-z]+)$/i.exec(c.id)?.[1] ?? ''));
  if (fromName.every((s) => s)) {
    ds.cases.forEach((c, i) => (c.split = fromName[i]!));
    ds.splitSource = { kind: 'names' };
    return;
  }
  const pool = ds.cases.filter((c) => c.split !== 'test' || c.label); // imagesTs stays test
  const seed = opts.seed ?? 0;
  const { train, val, note } = seededSplitSizes(pool.length, opts.splitFractions ?? [0.8, 0.2, 0]);
  const order = new Rng(seed).shuffle(pool.map((_, i) => i));
  order.forEach((idx, r) => (pool[idx].split = r < train ? 'train' : r < train + val ? 'val' : 'test'));
  ds.splitSource = { kind: 'seeded', seed, note };
}

