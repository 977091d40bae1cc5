// What a request will cost, from the file's header alone, refused (413) before anything is
// decoded or decompressed: pixels of an image (sharp's metadata reads only the header),
// voxels of a NIfTI volume (the fixed header fields; a .nii.gz is inflated only as far as its
// header, then at most to the size that header declares), and the windows a tile given and
// TTA would run per image, slice (2D models) or volume (3D models).
import { createGunzip } from 'node:zlib';
import sharp, { type Metadata } from 'sharp';
import { niftiSizes, NIFTI_HEADER_BYTES } from '../data/formats/nifti-header.js';
import { windowStarts } from '../infer/tiles.js';
import { HttpError } from './errors.js';
import type { InputKind } from './sniff.js';

export interface CostLimits {
  /** Largest image in pixels (width x height). */
  maxPixels: number;
  /** Largest volume in voxels (every axis, channels included). Default 128 Mi. */
  maxVoxels?: number;
  /** Network windows (times TTA flips) one image or slice may run, at most. Default 1024. */
  maxWindows?: number;
}

export const DEFAULT_MAX_VOXELS = 128 * 2 ** 20;
export const DEFAULT_MAX_WINDOWS = 1024;

/** The prediction options that decide how many windows run; dims: the model's rank; spacing:
 *  the [x, y, z] mm a 3D model resamples volumes to (its meta's). */
export interface WorkOptions {
  tile?: number | number[];
  tta?: boolean;
  overlap?: number;
  dims?: 2 | 3;
  spacing?: readonly number[];
}

export interface Admitted {
  bytes: Buffer;
  kind: InputKind;
  /** width, height (images) or the volume's dims. */
  dims: number[];
}

const tooLarge = (msg: string) => new HttpError(413, 'too_large', msg);

/** Checks the upload's declared size; a .nii.gz comes back inflated (bounded by its header). */
export async function admitUpload(bytes: Buffer, kind: InputKind, name: string, lim: CostLimits,
                                  work: WorkOptions = {}): Promise<Admitted> {
  if (kind === 'nifti' || kind === 'nifti-gz') return admitVolume(bytes, kind, name, lim, work);
  let meta: Metadata;
  try {
    // header only: no pixel is decoded (a 16000x16000 bomb answers in milliseconds)
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new HttpError(400, 'bad_request', `corrupt ${kind.toUpperCase()} image: ${name}: ${(e as Error).message}`);
  }
  const w = meta.width ?? 0, h = meta.height ?? 0;
  if (!w || !h) throw new HttpError(400, 'bad_request', `corrupt ${kind.toUpperCase()} image: ${name}: no size in its header`);
  if (w * h > lim.maxPixels)
    throw tooLarge(`${name}: ${w}x${h} is more than max-pixels ${lim.maxPixels} (refused from its header)`);
  checkWindows([h, w], name, lim, { ...work, dims: 2 });
  return { bytes, kind, dims: [w, h] };
}

async function admitVolume(bytes: Buffer, kind: InputKind, name: string, lim: CostLimits,
                           work: WorkOptions): Promise<Admitted> {
  const head = kind === 'nifti-gz' ? await inflateHead(bytes, NIFTI_HEADER_BYTES).catch(() => null) : bytes;
  const s = head && niftiSizes(head);
  if (!s) throw new HttpError(400, 'bad_request', `corrupt NIfTI volume: ${name}: no NIfTI-1/2 header`);
  const maxVoxels = lim.maxVoxels ?? DEFAULT_MAX_VOXELS;
  if (s.voxels > maxVoxels)
    throw tooLarge(`${name}: ${s.dims.join('x')} is more than max-voxels ${maxVoxels} (refused from its header)`);
  let [x, y = 1, z = 1] = s.dims;
  if (work.dims === 3 && work.spacing) {
    // the model runs on the volume resampled to its spacing: that grid is what it costs
    [x, y, z] = [x, y, z].map((n, k) => Math.ceil((n * s.spacing[k]) / work.spacing![k]));
    const resampled = (x * y * z * s.voxels) / (s.dims[0] * (s.dims[1] ?? 1) * (s.dims[2] ?? 1));
    if (resampled > maxVoxels)
      throw tooLarge(`${name}: ${s.dims.slice(0, 3).join('x')} at ${s.spacing.join('x')} mm is ${x}x${y}x${z} ` +
        `at the model's ${work.spacing.join('x')} mm, more than max-voxels ${maxVoxels} (refused from its header)`);
  }
  checkWindows(work.dims === 3 ? [z, y, x] : [y, x], name, lim, work);
  if (kind === 'nifti') return { bytes, kind, dims: s.dims };
  // inflate no further than the header's own size (plus room for trailing bytes)
  const inflated = await inflateHead(bytes, s.fileBytes + 65536, true).catch((e: Error) => {
    throw new HttpError(400, 'bad_request', `corrupt NIfTI volume: ${name}: corrupt gzip (${e.message})`);
  });
  if (inflated.length > s.fileBytes + 65536)
    throw tooLarge(`${name}: decompresses to more than the ${s.fileBytes} bytes its header declares`);
  return { bytes: inflated, kind: 'nifti', dims: s.dims };
}

/** The first `limit` inflated bytes of a gzip stream (one more when there are more), never
 *  much beyond; `whole`: the stream must end (a truncated file is an error). */
function inflateHead(gz: Buffer, limit: number, whole = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = createGunzip({ chunkSize: 64 * 1024 });
    const parts: Buffer[] = [];
    let n = 0, done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      z.destroy();
      if (e) reject(e); else resolve(Buffer.concat(parts).subarray(0, limit + 1));
    };
    z.on('data', (d: Buffer) => { parts.push(d); n += d.length; if (n > limit) finish(); });
    z.on('end', () => finish());
    z.on('error', (e: Error) => (!whole && n > 0 ? finish() : finish(e)));
    z.end(gz);
  });
}

function checkWindows(sizes: number[], name: string, lim: CostLimits, work: WorkOptions): void {
  if (work.tile === undefined) return; // whole image, or windows the memory budget sizes
  const tile = Array.isArray(work.tile) ? work.tile : sizes.map(() => work.tile as number);
  if (tile.length !== sizes.length) return; // the predictor names the mismatch
  const overlap = work.overlap ?? 0.25;
  const windows = sizes.reduce((n, s, k) => n * windowStarts(s, Math.min(tile[k], s), overlap).length, 1);
  const flips = work.tta ? 2 ** sizes.length : 1;
  const runs = windows * flips;
  const maxWindows = lim.maxWindows ?? DEFAULT_MAX_WINDOWS;
  const per = sizes.length === 3 ? 'volume' : 'image';
  if (runs > maxWindows)
    throw tooLarge(`${name}: tile ${tile.join('x')}${work.tta ? ` with tta (${flips} flips)` : ''} runs ${runs} windows ` +
      `per ${per}, more than max-windows ${maxWindows}: use a larger tile or none`);
}
