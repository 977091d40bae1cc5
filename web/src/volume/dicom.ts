// A folder of DICOM files in the tab, as one volume: the image series with the most slices
// (files told apart by SeriesInstanceUID), slices ordered along the normal of their plane,
// rescale slope/intercept applied, the affine in NIfTI's RAS convention (as src/data/formats/dicom.ts
// does in Node). Pixel data through the shared src/data/formats/dicom-codecs.ts: native, deflated
// (DecompressionStream), RLE, JPEG lossless, JPEG-LS, JPEG 2000 and 8-bit JPEG; the WebAssembly
// codecs are separate files (their URLs below), fetched only when a series needs one.
import dicomParser from 'dicom-parser';
import charlsWasm from '@cornerstonejs/codec-charls/decodewasm?url';
import openjpegWasm from '@cornerstonejs/codec-openjpeg/decodewasm?url';
import libjpegTurboWasm from '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm?url';
import { parseDicomAsync, readFrame, setCodecWasmUrls } from '../../../src/web/index.js';
import type { NiftiVolume } from './nifti.js';

setCodecWasmUrls({ charls: charlsWasm, openjpeg: openjpegWasm, 'libjpeg-turbo': libjpegTurboWasm });

interface Slice { name: string; ds: dicomParser.DataSet; uid: string; rows: number; cols: number; orient: number[]; pos: number[]; spacing: [number, number] }

const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

function floats(ds: dicomParser.DataSet, tag: string, n: number): number[] | null {
  if (!ds.elements[tag]) return null;
  const v = Array.from({ length: n }, (_, i) => Number(ds.floatString(tag, i)));
  return v.every(Number.isFinite) ? v : null;
}

/** The image slice in a file, or null for files that are not DICOM images. */
async function sliceOf(name: string, bytes: Uint8Array): Promise<Slice | null> {
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') return null;
  let ds: dicomParser.DataSet;
  try { ds = await parseDicomAsync(bytes); } catch (e) { throw new Error(`${name}: cannot read DICOM (${(e as Error).message ?? (e as { exception?: string }).exception ?? e}): the file is damaged`); }
  const uid = ds.string('x0020000e');
  if (!uid || !ds.elements.x7fe00010) return null;
  const orient = floats(ds, 'x00200037', 6), pos = floats(ds, 'x00200032', 3), ps = floats(ds, 'x00280030', 2);
  if (!orient || !pos) throw new Error(`${name}: no patient position/orientation: not a slice of a volume`);
  return { name, ds, uid, rows: ds.uint16('x00280010')!, cols: ds.uint16('x00280011')!, orient, pos, spacing: ps ? [ps[1], ps[0]] : [1, 1] };
}

async function pixels(s: Slice): Promise<Float32Array> {
  const { ds } = s;
  if ((ds.intString('x00280008') ?? 1) > 1) throw new Error(`${s.name}: a multi-frame image (${ds.intString('x00280008')} frames): one slice per file only`);
  let stored;
  try { stored = await readFrame(ds); } catch (e) { throw new Error(`${s.name}: ${(e as Error).message}`); }
  const slope = ds.floatString('x00281053') ?? 1, inter = ds.floatString('x00281052') ?? 0;
  return Float32Array.from({ length: s.rows * s.cols }, (_, i) => stored[i] * slope + inter);
}

export async function readDicomFiles(files: File[], label: string): Promise<NiftiVolume> {
  const byUid = new Map<string, Slice[]>();
  for (const f of files) {
    const s = await sliceOf(f.name, new Uint8Array(await f.arrayBuffer()));
    if (s) byUid.set(s.uid, [...(byUid.get(s.uid) ?? []), s]);
  }
  const series = [...byUid.values()].sort((a, b) => b.length - a.length)[0];
  if (!series) throw new Error(`${label}: no DICOM image files (Part 10 files with pixel data)`);
  const s0 = series[0], normal = cross(s0.orient.slice(0, 3), s0.orient.slice(3));
  for (const s of series) if (s.rows !== s0.rows || s.cols !== s0.cols) throw new Error(`${s.name}: ${s.cols}x${s.rows}, but ${s0.name} is ${s0.cols}x${s0.rows}: one series, one slice size`);
  series.sort((a, b) => dot(a.pos, normal) - dot(b.pos, normal));
  const Z = series.length, first = series[0], last = series[Z - 1];
  const thick = Number(first.ds.floatString('x00180050')) || 1;
  const k = Z > 1 ? [0, 1, 2].map((a) => (last.pos[a] - first.pos[a]) / (Z - 1)) : normal.map((v) => v * thick);
  const [dx, dy] = first.spacing, r = first.orient.slice(0, 3), c = first.orient.slice(3);
  // LPS (DICOM) -> RAS (NIfTI): x and y negated
  const affine = [0, 1, 2].map((a) => [r[a] * dx, c[a] * dy, k[a], first.pos[a]].map((v) => (a < 2 ? -v : v)));
  const plane = s0.rows * s0.cols, data = new Float32Array(plane * Z);
  for (let z = 0; z < Z; z++) data.set(await pixels(series[z]), z * plane);
  return { name: `${label}.nii`, dims: [s0.cols, s0.rows, Z], channels: 1, spacing: [dx, dy, Math.hypot(...k)], affine: [...affine, [0, 0, 0, 1]], data };
}
