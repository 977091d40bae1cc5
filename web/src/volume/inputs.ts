// The model's input from the files the person opened: one 4D file holding every modality, or
// one 3D file per modality (matched by name, e.g. case_flair.nii.gz for "flair", else taken in
// name order). Every file must share the first one's grid.
import { readNiftiFile, type NiftiVolume } from './nifti.js';
import { readDicomFiles } from './dicom.js';

const MAX_FILE_BYTES = 1 * 2 ** 30;

/** Reads the files and stacks them as [C, Z, Y, X] in the order of `modalities`. */
export async function readCase(files: File[], modalities: string[]): Promise<NiftiVolume> {
  const C = modalities.length;
  const want = `the model takes ${C} modalit${C === 1 ? 'y' : 'ies'} (${modalities.join(', ')})`;
  for (const f of files) if (f.size > MAX_FILE_BYTES) throw new Error(`${f.name}: ${(f.size / 2 ** 30).toFixed(1)} GiB is more than this page reads (1 GiB)`);
  const vols: NiftiVolume[] = [];
  for (const f of files) vols.push(await readNiftiFile(f.name, await f.arrayBuffer()));
  const got = vols.reduce((s, v) => s + v.channels, 0);
  if (got !== C) {
    const what = vols.map((v) => `${v.name}: ${v.channels} channel${v.channels > 1 ? 's' : ''}`).join('; ');
    throw new Error(`${want}; the ${files.length} file(s) opened hold ${got} (${what}). Open ${C === 1 ? 'one 3D file' : `${C} 3D files or one 4D file with ${C} volumes`}`);
  }
  if (vols.length === 1) return vols[0];
  const ordered = matchModalities(vols, modalities);
  const [a] = ordered;
  for (const v of ordered) {
    if (v.dims.join() !== a.dims.join()) throw new Error(`${v.name}: dims ${v.dims.join('x')} differ from ${a.name} (${a.dims.join('x')}): the modalities must share one grid`);
    if (v.affine.flat().some((x, i) => Math.abs(x - a.affine.flat()[i]) > 1e-3)) throw new Error(`${v.name}: its affine differs from ${a.name}'s: register the modalities onto one grid first`);
  }
  const V = a.dims[0] * a.dims[1] * a.dims[2];
  const data = new Float32Array(C * V);
  ordered.forEach((v, c) => data.set(v.data, c * V));
  return { ...a, name: a.name, channels: C, data };
}

/** A folder of DICOM files: one series, hence one modality. */
export async function readDicomCase(files: File[], modalities: string[]): Promise<NiftiVolume> {
  const first = files[0] as (File & { webkitRelativePath?: string }) | undefined;
  const label = first?.webkitRelativePath?.split('/')[0] || 'dicom';
  if (modalities.length !== 1) throw new Error(`${label}: a DICOM folder gives one series; the model takes ${modalities.length} modalities (${modalities.join(', ')}): open NIfTI files`);
  return readDicomFiles(files, label);
}

/** Files in modality order: by a name match when every modality finds its own file, else by file name. */
function matchModalities(vols: NiftiVolume[], modalities: string[]): NiftiVolume[] {
  const stem = (n: string) => n.toLowerCase().replace(/\.nii(\.gz)?$/, '');
  const picked = modalities.map((m) => {
    const hits = vols.filter((v) => new RegExp(`(^|[^a-z0-9])${m.toLowerCase().replace(/[^a-z0-9]/g, '.')}$`).test(stem(v.name)));
    return hits.length === 1 ? hits[0] : null;
  });
  if (picked.every((v) => v) && new Set(picked).size === vols.length) return picked as NiftiVolume[];
  return [...vols].sort((x, y) => x.name.localeCompare(y.name));
}
