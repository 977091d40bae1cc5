// DICOM series -> volumes, through dicom-parser. A folder (searched recursively) may hold several
// series, told apart by SeriesInstanceUID. A series reads as one volume: slices sorted by their
// position along the slice normal (ImagePositionPatient . (row x column direction)), spacing
// and orientation from the headers, RescaleSlope/Intercept applied. The affine is NIfTI's
// (RAS: DICOM's LPS with x and y negated), so the volume writes as NIfTI in the right place.
// Compressed transfer syntaxes (RLE, JPEG lossless, JPEG-LS, JPEG 2000, 8-bit JPEG) decode through
// ./dicom-codecs.ts, which loads a codec only when a file needs it; others are named in the error.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import dicomParser from 'dicom-parser';
import { fileError } from '../images/read-image.js';
import { readFrame, transferSyntaxOf } from './dicom-codecs.js';
import type { Volume } from './nifti.js';

export interface DicomSlice {
  path: string;
  seriesUid: string;
  description: string;
  modality: string;
  instance: number;
  rows: number;
  columns: number;
  /** Row direction (along a row: increasing column index) and column direction, LPS. */
  orientation: number[];
  position: number[];
  /** [between columns (x), between rows (y)] in mm. */
  pixelSpacing: [number, number];
  /** SliceThickness, the z spacing of a one-slice series. */
  thickness?: number;
  transferSyntax: string;
}

export interface DicomSeries {
  uid: string;
  description: string;
  modality: string;
  slices: DicomSlice[];
}

export interface DicomVolume extends Volume {
  seriesUid: string;
  modality: string;
  description: string;
  /** The files in slice order (z = 0 first). */
  files: string[];
}

function parse(bytes: Uint8Array, path: string, headerOnly: boolean): dicomParser.DataSet {
  try {
    return dicomParser.parseDicom(bytes, {
      untilTag: headerOnly ? 'x7fe00010' : undefined,
      // deflated transfer syntax: dicom-parser asks for an inflater
      inflater: (arr: Uint8Array, pos: number) => {
        const body = inflateRawSync(arr.subarray(pos));
        const out = new Uint8Array(pos + body.length);
        out.set(arr.subarray(0, pos));
        out.set(body, pos);
        return out;
      },
    } as dicomParser.ParseDicomOptions);
  } catch (e) {
    const msg = e instanceof Error ? e.message : typeof e === 'string' ? e : (e as { exception?: string }).exception ?? String(e);
    throw fileError(path, `cannot read DICOM (${msg}): the file is truncated or damaged; copy it again`);
  }
}

const numbers = (ds: dicomParser.DataSet, tag: string, n: number): number[] | undefined => {
  if (!ds.elements[tag]) return undefined;
  const out = Array.from({ length: n }, (_, i) => ds.floatString(tag, i) as number);
  return out.every((v) => Number.isFinite(v)) ? out : undefined;
};

function sliceOf(ds: dicomParser.DataSet, path: string): DicomSlice | null {
  const seriesUid = ds.string('x0020000e');
  if (!seriesUid || !ds.elements.x00280010) return null; // not an image (DICOMDIR, SR, ...)
  const orientation = numbers(ds, 'x00200037', 6);
  const position = numbers(ds, 'x00200032', 3);
  const ps = numbers(ds, 'x00280030', 2);
  if (!orientation || !position) throw fileError(path, 'no ImageOrientationPatient/ImagePositionPatient: cannot place the slice in a volume (a secondary capture or other 2D image? read it as an image, or leave it out of the folder)');
  return {
    path, seriesUid, description: ds.string('x0008103e') ?? '', modality: ds.string('x00080060') ?? '',
    instance: ds.intString('x00200013') ?? 0, rows: ds.uint16('x00280010')!, columns: ds.uint16('x00280011')!,
    orientation, position, pixelSpacing: ps ? [ps[1], ps[0]] : [1, 1], // PixelSpacing is [row spacing, column spacing]
    thickness: ds.floatString('x00180050'),
    transferSyntax: transferSyntaxOf(ds),
  };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    if ((await stat(p)).isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** True when the file has the DICOM Part 10 preamble ("DICM" at byte 128). */
function isPart10(b: Uint8Array): boolean {
  return b.length > 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** Lists the image series under a folder (recursively), by SeriesInstanceUID; reads headers only. */
export async function listDicomSeries(dir: string): Promise<DicomSeries[]> {
  const byUid = new Map<string, DicomSeries>();
  for (const path of await walk(dir)) {
    const bytes = await readFile(path);
    if (!isPart10(bytes)) continue; // READMEs, NIfTI, ...
    const s = sliceOf(parse(bytes, path, true), path);
    if (!s) continue;
    let series = byUid.get(s.seriesUid);
    if (!series) byUid.set(s.seriesUid, (series = { uid: s.seriesUid, description: s.description, modality: s.modality, slices: [] }));
    series.slices.push(s);
  }
  if (!byUid.size) throw fileError(dir, 'no DICOM image files found (Part 10 files with a SeriesInstanceUID and pixel data)');
  return [...byUid.values()];
}

const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

/** Slices sorted along the normal, with the checks a volume needs: one grid, no gaps, even spacing. */
export function sortSlices(series: DicomSeries): { slices: DicomSlice[]; step: number } {
  const s0 = series.slices[0];
  for (const s of series.slices) {
    if (s.rows !== s0.rows || s.columns !== s0.columns) throw fileError(s.path, `is ${s.columns}x${s.rows} but ${s0.path} is ${s0.columns}x${s0.rows}: one series must have one slice size`);
    if (s.orientation.some((v, i) => Math.abs(v - s0.orientation[i]) > 1e-4)) throw fileError(s.path, `orientation differs from ${s0.path}: a series with several orientations (e.g. a localiser) is not one volume`);
  }
  const normal = cross(s0.orientation.slice(0, 3), s0.orientation.slice(3));
  const slices = [...series.slices].sort((a, b) => dot(a.position, normal) - dot(b.position, normal));
  if (slices.length === 1) return { slices, step: s0.thickness && s0.thickness > 0 ? s0.thickness : 1 };
  const gaps = slices.slice(1).map((s, i) => dot(s.position, normal) - dot(slices[i].position, normal));
  const dup = gaps.findIndex((g) => Math.abs(g) < 1e-4);
  if (dup >= 0) throw fileError(slices[dup + 1].path, `has the same position as ${slices[dup].path}: duplicate slice (two acquisitions in one series?)`);
  const sorted = [...gaps].sort((a, b) => a - b);
  const typical = sorted[Math.floor(sorted.length / 2)];
  const tol = Math.max(1e-3, 0.01 * typical);
  gaps.forEach((g, i) => {
    if (Math.abs(g - typical) <= tol) return;
    const missing = Math.round(g / typical) - 1;
    if (missing >= 1 && Math.abs(g - (missing + 1) * typical) <= tol)
      throw fileError(slices[i + 1].path, `${missing} slice${missing > 1 ? 's' : ''} missing before it (gap ${g.toFixed(3)} mm after ${slices[i].path}, slices are ${typical.toFixed(3)} mm apart): copy the whole series`);
    throw fileError(slices[i + 1].path, `uneven slice spacing: ${g.toFixed(3)} mm after ${slices[i].path}, ${typical.toFixed(3)} mm elsewhere: resample the series to even spacing first (e.g. dcm2niix, which writes NIfTI)`);
  });
  return { slices, step: typical };
}

/** Pixel values of one slice, rescaled (slope/intercept), as float32 [rows * columns]. */
async function slicePixels(bytes: Uint8Array, s: DicomSlice): Promise<Float32Array> {
  const ds = parse(bytes, s.path, false);
  if ((ds.intString('x00280008') ?? 1) > 1) throw fileError(s.path, `is a multi-frame image (${ds.intString('x00280008')} frames): only one slice per file is supported`);
  let stored;
  try {
    stored = await readFrame(ds);
  } catch (e) {
    throw fileError(s.path, e instanceof Error ? e.message : String(e));
  }
  const slope = ds.floatString('x00281053') ?? 1;
  const inter = ds.floatString('x00281052') ?? 0;
  const out = new Float32Array(s.rows * s.columns);
  for (let i = 0; i < out.length; i++) out[i] = stored[i] * slope + inter;
  return out;
}

/** Reads one series as a volume: x along rows (columns index), y down the columns, z along the normal. */
export async function readDicomSeries(series: DicomSeries): Promise<DicomVolume> {
  const { slices, step } = sortSlices(series);
  const s0 = slices[0];
  const plane = s0.rows * s0.columns;
  const data = new Float32Array(plane * slices.length);
  for (let z = 0; z < slices.length; z++) data.set(await slicePixels(await readFile(slices[z].path), slices[z]), z * plane);
  const [dx, dy] = s0.pixelSpacing;
  const r = s0.orientation.slice(0, 3), c = s0.orientation.slice(3);
  const last = slices[slices.length - 1].position;
  const k = slices.length > 1 ? [0, 1, 2].map((a) => (last[a] - s0.position[a]) / (slices.length - 1)) : cross(r, c).map((v) => v * step);
  const lps = [0, 1, 2].map((a) => [r[a] * dx, c[a] * dy, k[a], s0.position[a]]);
  const affine = [...lps.map((row, a) => (a < 2 ? row.map((v) => -v) : row)), [0, 0, 0, 1]]; // LPS -> RAS
  return {
    dims: [s0.columns, s0.rows, slices.length], spacing: [dx, dy, Math.abs(step)], data, affine,
    seriesUid: series.uid, modality: series.modality, description: series.description, files: slices.map((s) => s.path),
  };
}

/** Every series under a folder as volumes (or the one with uid). */
export async function readDicomFolder(dir: string, uid?: string): Promise<DicomVolume[]> {
  const all = await listDicomSeries(dir);
  const chosen = uid ? all.filter((s) => s.uid === uid) : all;
  if (!chosen.length) throw fileError(dir, `no series ${uid}; it holds ${all.map((s) => s.uid).join(', ')}`);
  return Promise.all(chosen.map(readDicomSeries));
}
