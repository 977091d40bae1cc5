// Image and mask files <-> host Float32Array (CHW, values in [0, 1]), through sharp.
// PNG (8/16-bit), JPEG and TIFF are read; alpha is dropped; errors always name the file.
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic.js';
import { fileError } from '../file-error.js';
import { checkFiniteVoxels } from '../finite.js';

/** A host image: data is CHW (channel planes one after another), float32. */
export interface Image {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'lanczos3';

export interface ReadImageOptions {
  /** Convert to this many channels (1: luminance, 3: grey replicated). Default: as in the file. */
  channels?: 1 | 3;
  /** Resize (aspect ratio not kept) while decoding; sharp's kernels anti-alias when shrinking. */
  resize?: { width: number; height: number; kernel?: ResizeKernel };
  /** The decoder refuses images with more pixels than this (sharp's limitInputPixels). */
  maxPixels?: number;
}

export interface ReadImageResult extends Image {
  /** Size in the file, before any resize. */
  sourceWidth: number;
  sourceHeight: number;
}

export { fileError };

interface Raw {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array | Uint16Array | Float32Array; // interleaved HWC
  max: number; // full-scale value: 255, 65535 or 1 (float)
}

/** Decodes a file to interleaved pixels at its own bit depth, alpha removed. */
async function decodeRaw(path: string, resize?: ReadImageOptions['resize'], bytes?: Buffer,
                         maxPixels?: number): Promise<Raw & { sw: number; sh: number }> {
  try {
    const src = bytes ?? path;
    const input = { failOn: 'warning' as const, ...(maxPixels ? { limitInputPixels: maxPixels } : {}) };
    const meta = await sharp(src, input).metadata();
    if (!meta.width || !meta.height) throw new Error('no size in header');
    const depth = meta.depth === 'ushort' || meta.depth === 'float' ? meta.depth : 'uchar';
    let s = sharp(src, input);
    if (meta.hasAlpha) s = s.removeAlpha();
    // keep grey grey and 16-bit 16-bit (sharp's default output is 8-bit-looking sRGB)
    const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    if (depth === 'float') { /* leave float TIFFs as they are */ }
    else if (grey) s = s.toColourspace(depth === 'ushort' ? 'grey16' : 'b-w');
    else s = s.toColourspace(depth === 'ushort' ? 'rgb16' : 'srgb');
    if (resize) s = s.resize(resize.width, resize.height, { fit: 'fill', kernel: resize.kernel ?? 'linear' });
    const { data, info } = await s.raw({ depth }).toBuffer({ resolveWithObject: true });
    const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const pixels = depth === 'ushort' ? new Uint16Array(buf) : depth === 'float' ? new Float32Array(buf) : new Uint8Array(buf);
    const max = depth === 'ushort' ? 65535 : depth === 'float' ? 1 : 255;
    return { width: info.width, height: info.height, channels: info.channels, pixels, max, sw: meta.width, sh: meta.height };
  } catch (e) {
    throw fileError(path, 'cannot read image (corrupt or unsupported file)', e);
  }
}

/** Reads an image file into CHW float32 in [0, 1]. */
export async function readImage(path: string, opts: ReadImageOptions = {}): Promise<ReadImageResult> {
  return decodeImage(path, opts);
}

/** An encoded image held in memory (e.g. an HTTP body), decoded as readImage decodes files; `name` is used in errors. */
export async function readImageBytes(bytes: Buffer, name: string, opts: ReadImageOptions = {}): Promise<ReadImageResult> {
  return decodeImage(name, opts, bytes);
}

async function decodeImage(path: string, opts: ReadImageOptions, bytes?: Buffer): Promise<ReadImageResult> {
  const raw = await decodeRaw(path, opts.resize, bytes, opts.maxPixels);
  const { width, height, channels, pixels, max } = raw;
  if (channels !== 1 && channels !== 3) throw fileError(path, `unsupported channel count ${channels}`);
  const plane = width * height;
  const data = new Float32Array(channels * plane);
  const inv = 1 / max;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) data[c * plane + i] = pixels[i * channels + c] * inv;
  }
  if (pixels instanceof Float32Array) checkFiniteVoxels(data, [width, height], path);
  const img = convertChannels({ width, height, channels, data }, opts.channels ?? channels);
  return { ...img, sourceWidth: raw.sw, sourceHeight: raw.sh };
}

/** Grey -> RGB replicates; RGB -> grey uses ITU-R 601 luma (as PIL's "L"). */
export function convertChannels(img: Image, channels: number): Image {
  if (img.channels === channels) return img;
  const plane = img.width * img.height;
  const d = img.data;
  if (img.channels === 1 && channels === 3) {
    const out = new Float32Array(3 * plane);
    out.set(d, 0);
    out.set(d, plane);
    out.set(d, 2 * plane);
    return { ...img, channels: 3, data: out };
  }
  if (img.channels === 3 && channels === 1) {
    const out = new Float32Array(plane);
    for (let i = 0; i < plane; i++) out[i] = 0.299 * d[i] + 0.587 * d[plane + i] + 0.114 * d[2 * plane + i];
    return { ...img, channels: 1, data: out };
  }
  throw new Error(`cannot convert ${img.channels} channels to ${channels}`);
}

/** A mask file's integer values (one channel) and its full-scale value. */
export interface RawMask {
  width: number;
  height: number;
  values: Uint8Array | Uint16Array | Float32Array;
  max: number;
}

/** Reads a mask without rescaling, so that its exact values can be checked. Grey stored as RGB is accepted. */
export async function readMaskRaw(path: string): Promise<RawMask> {
  const raw = await decodeRaw(path);
  const { width, height, channels, pixels } = raw;
  if (channels === 1) return { width, height, values: pixels, max: raw.max };
  const plane = width * height;
  const values = new (pixels.constructor as Uint8ArrayConstructor)(plane);
  for (let i = 0; i < plane; i++) {
    const v = pixels[i * channels];
    for (let c = 1; c < channels; c++) {
      if (pixels[i * channels + c] !== v) throw fileError(path, 'mask has colour (channels differ); masks must be grey');
    }
    values[i] = v;
  }
  return { width, height, values, max: raw.max };
}

/** Writes a binary mask (values > threshold become 255) as an 8-bit grey PNG, atomically. */
export async function writeMaskPng(path: string, mask: ArrayLike<number>, width: number, height: number, threshold = 0.5): Promise<void> {
  if (mask.length !== width * height) throw new Error(`${path}: mask has ${mask.length} values, expected ${width}x${height}`);
  await writeFileAtomic(path, await maskPng(mask, width, height, threshold));
}

/** The PNG bytes writeMaskPng writes. */
export async function maskPng(mask: ArrayLike<number>, width: number, height: number, threshold = 0.5): Promise<Buffer> {
  const px = new Uint8Array(width * height);
  for (let i = 0; i < px.length; i++) px[i] = mask[i] > threshold ? 255 : 0;
  return rawPng(px, width, height, 1);
}

/** The PNG bytes writeLabelPng writes. */
export async function labelPng(labels: ArrayLike<number>, width: number, height: number): Promise<Buffer> {
  const px = new Uint8Array(width * height);
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(labels[i])));
  return rawPng(px, width, height, 1);
}

/** Writes a label map (small integers, e.g. class ids) as an 8-bit grey PNG, atomically. */
export async function writeLabelPng(path: string, labels: ArrayLike<number>, width: number, height: number): Promise<void> {
  const px = new Uint8Array(width * height);
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(labels[i])));
  await writeRawPng(path, px, width, height, 1);
}

/** Writes a CHW image in [0, 1] (1 or 3 channels) as an 8- or 16-bit PNG, atomically. */
export async function writeImagePng(path: string, img: Image, bits: 8 | 16 = 8): Promise<void> {
  const { width, height, channels, data } = img;
  const plane = width * height;
  const max = bits === 16 ? 65535 : 255;
  const px = bits === 16 ? new Uint16Array(plane * channels) : new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) px[i * channels + c] = Math.round(Math.max(0, Math.min(1, data[c * plane + i])) * max);
  }
  await writeRawPng(path, px, width, height, channels as 1 | 3);
}

async function writeRawPng(path: string, px: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 3): Promise<void> {
  await writeFileAtomic(path, await rawPng(px, width, height, channels));
}

async function rawPng(px: Uint8Array | Uint16Array, width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  // sharp takes the bit depth of raw input from the typed array's type
  let s = sharp(px, { raw: { width, height, channels } });
  // without an explicit colourspace sharp would store one channel as RGB
  const sixteen = px instanceof Uint16Array;
  s = s.toColourspace(channels === 1 ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb');
  return s.png().toBuffer();
}
