// The pixel values of one DICOM frame, whatever its transfer syntax: native (implicit/explicit VR
// little endian, deflated, big endian), RLE lossless (decoded here: it is PackBits per byte
// plane), and the compressed syntaxes through npm codecs loaded on first use, so that reading an
// uncompressed series loads none of them:
//   JPEG lossless (process 14, any predictor; SV1)  @cornerstonejs/jpeg-lossless-decoder-js (JS)
//   JPEG-LS lossless / near-lossless                @cornerstonejs/codec-charls (CharLS, WebAssembly)
//   JPEG 2000 lossless / lossy                      @cornerstonejs/codec-openjpeg (OpenJPEG, WebAssembly)
//   JPEG baseline / extended, 8-bit                 @cornerstonejs/codec-libjpeg-turbo-8bit (WebAssembly)
// Shared by Node (src/data/formats/dicom.ts) and the browser page (web/src/volume/dicom.ts): no node:
// imports here. In Node the WebAssembly files load from the packages' folders; the page hands
// their bundled URLs to setCodecWasmUrls. Errors are one line without the file name (the
// callers add it). Greyscale only (one sample per pixel): what a volume needs.
import dicomParser from 'dicom-parser';
import { optionalImport } from '../../util/optional-import.js';

export type StoredPixels = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** What a frame holds, from the image pixel module. */
export interface FrameFormat {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  samples: number;
  /** PixelRepresentation 1: two's complement in bitsStored bits. */
  signed: boolean;
}

export type Codec = 'native' | 'rle' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg2000' | 'jpeg-8bit';
export interface Syntax { name: string; codec?: Codec; bigEndian?: boolean }

const IMPLICIT_LE = '1.2.840.10008.1.2';
/** Transfer syntaxes by UID: the ones read (with a codec) and the known ones that are not. */
export const TRANSFER_SYNTAXES: Readonly<Record<string, Syntax>> = {
  [IMPLICIT_LE]: { name: 'implicit VR little endian', codec: 'native' },
  '1.2.840.10008.1.2.1': { name: 'explicit VR little endian', codec: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'deflated explicit VR little endian', codec: 'native' },
  '1.2.840.10008.1.2.2': { name: 'explicit VR big endian', codec: 'native', bigEndian: true },
  '1.2.840.10008.1.2.5': { name: 'RLE lossless', codec: 'rle' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG baseline (8-bit)', codec: 'jpeg-8bit' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG extended (12-bit)', codec: 'jpeg-8bit' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG lossless', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG lossless SV1', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS near-lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 lossless', codec: 'jpeg2000' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', codec: 'jpeg2000' },
  // known, not read
  '1.2.840.10008.1.2.1.98': { name: 'encapsulated uncompressed explicit VR little endian' },
  '1.2.840.10008.1.2.4.92': { name: 'JPEG 2000 part 2 multi-component lossless' },
  '1.2.840.10008.1.2.4.93': { name: 'JPEG 2000 part 2 multi-component' },
  '1.2.840.10008.1.2.4.94': { name: 'JPIP referenced' },
  '1.2.840.10008.1.2.4.95': { name: 'JPIP referenced deflate' },
  '1.2.840.10008.1.2.4.100': { name: 'MPEG2 main profile' },
  '1.2.840.10008.1.2.4.101': { name: 'MPEG2 high profile' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264' },
  '1.2.840.10008.1.2.4.103': { name: 'MPEG-4 AVC/H.264 BD' },
  '1.2.840.10008.1.2.4.104': { name: 'MPEG-4 AVC/H.264 2D video' },
  '1.2.840.10008.1.2.4.105': { name: 'MPEG-4 AVC/H.264 3D video' },
  '1.2.840.10008.1.2.4.106': { name: 'MPEG-4 AVC/H.264 stereo' },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 main profile' },
  '1.2.840.10008.1.2.4.108': { name: 'HEVC/H.265 main 10 profile' },
  '1.2.840.10008.1.2.4.110': { name: 'JPEG XL lossless' },
  '1.2.840.10008.1.2.4.111': { name: 'JPEG XL JPEG recompression' },
  '1.2.840.10008.1.2.4.112': { name: 'JPEG XL' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 lossless' },
  '1.2.840.10008.1.2.4.202': { name: 'High-Throughput JPEG 2000 RPCL lossless' },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000' },
  '1.2.840.10008.1.2.4.204': { name: 'JPIP High-Throughput JPEG 2000 referenced' },
  '1.2.840.10008.1.2.4.205': { name: 'JPIP High-Throughput JPEG 2000 referenced deflate' },
};

/** "JPEG 2000 lossless (1.2.840.10008.1.2.4.90)". */
export const syntaxLabel = (uid: string): string => `${TRANSFER_SYNTAXES[uid]?.name ?? 'unknown'} (${uid})`;

/** True when frames in this transfer syntax can be read. */
export const canDecode = (uid: string): boolean => TRANSFER_SYNTAXES[uid]?.codec !== undefined;

const HOW_TO_DECOMPRESS = 'decompress the series first (gdcmconv --raw in.dcm out.dcm, or dcmtk\'s dcmdjpeg / dcmdjpls / dcmdrle) or convert it with dcm2niix';
const unsupported = (uid: string) => new Error(`transfer syntax ${syntaxLabel(uid)} is not supported: ${HOW_TO_DECOMPRESS}`);

export const transferSyntaxOf = (ds: dicomParser.DataSet): string => ds.string('x00020010')?.trim() || IMPLICIT_LE;

export function frameFormat(ds: dicomParser.DataSet): FrameFormat {
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  return {
    rows: ds.uint16('x00280010') ?? 0, columns: ds.uint16('x00280011') ?? 0, bitsAllocated,
    bitsStored: ds.uint16('x00280101') || bitsAllocated, samples: ds.uint16('x00280002') ?? 1, signed: ds.uint16('x00280103') === 1,
  };
}

function container(bits: number, signed: boolean, n: number): StoredPixels {
  if (bits === 8) return signed ? new Int8Array(n) : new Uint8Array(n);
  if (bits === 16) return signed ? new Int16Array(n) : new Uint16Array(n);
  if (bits === 32) return signed ? new Int32Array(n) : new Uint32Array(n);
  throw new Error(`BitsAllocated ${bits} is not supported (8, 16 or 32)`);
}

/**
 * Decoded values (unsigned, or signed when the codec says so) into the frame's container; signed
 * frames are sign-extended from BitsStored (a 12-bit signed value comes out of JPEG as 0..4095).
 */
function toStored(values: ArrayLike<number>, fmt: FrameFormat, codecSigned = false): StoredPixels {
  const n = fmt.rows * fmt.columns * fmt.samples;
  if (values.length < n) throw new Error(`decoded ${values.length} values, expected ${n} (${fmt.columns}x${fmt.rows})`);
  const out = container(fmt.bitsAllocated, fmt.signed || codecSigned, n);
  if (fmt.signed && !codecSigned && fmt.bitsStored < 32) {
    const sh = 32 - fmt.bitsStored;
    for (let i = 0; i < n; i++) out[i] = (values[i] << sh) >> sh;
  } else for (let i = 0; i < n; i++) out[i] = values[i];
  return out;
}

/** The bytes of native (not encapsulated) pixel data as values. */
function nativeFrame(ds: dicomParser.DataSet, el: dicomParser.Element, fmt: FrameFormat, bigEndian: boolean, frame: number): StoredPixels {
  const n = fmt.rows * fmt.columns * fmt.samples;
  const bytes = fmt.bitsAllocated / 8;
  const out = container(fmt.bitsAllocated, fmt.signed, n);
  const need = (frame + 1) * n * bytes;
  if (el.length < need) throw new Error(`pixel data is ${el.length} bytes, expected ${need} (truncated file?)`);
  const v = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset + frame * n * bytes, n * bytes);
  const le = !bigEndian;
  if (bytes === 1) for (let i = 0; i < n; i++) out[i] = fmt.signed ? v.getInt8(i) : v.getUint8(i);
  else if (bytes === 2) for (let i = 0; i < n; i++) out[i] = fmt.signed ? v.getInt16(2 * i, le) : v.getUint16(2 * i, le);
  else for (let i = 0; i < n; i++) out[i] = fmt.signed ? v.getInt32(4 * i, le) : v.getUint32(4 * i, le);
  return out;
}

/** The compressed bytes of one frame of encapsulated pixel data (all its fragments). */
function encapsulatedFrame(ds: dicomParser.DataSet, el: dicomParser.Element, frame: number): Uint8Array {
  const fragments = el.fragments ?? [];
  const frames = ds.intString('x00280008') ?? 1;
  if (frames <= 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
  if (frame >= frames) throw new Error(`frame ${frame + 1} asked of ${frames}`);
  if (el.basicOffsetTable?.length) return dicomParser.readEncapsulatedImageFrame(ds, el, frame);
  if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, frame, 1);
  return dicomParser.readEncapsulatedImageFrame(ds, el, frame, dicomParser.createJPEGBasicOffsetTable(ds, el));
}

/** The stored values of one frame of a parsed file (frame 0: the image of a single-frame file). */
export async function readFrame(ds: dicomParser.DataSet, frame = 0): Promise<StoredPixels> {
  const uid = transferSyntaxOf(ds);
  const syntax = TRANSFER_SYNTAXES[uid];
  if (!syntax?.codec) throw unsupported(uid);
  const fmt = frameFormat(ds);
  if (fmt.samples !== 1) throw new Error(`has ${fmt.samples} samples per pixel: only greyscale (1) slices make a volume`);
  const el = ds.elements.x7fe00010;
  if (!el) throw new Error('no pixel data');
  if (syntax.codec === 'native') {
    if (el.encapsulatedPixelData) throw new Error(`pixel data is encapsulated (compressed) but the transfer syntax says ${syntaxLabel(uid)}: the file is inconsistent; ${HOW_TO_DECOMPRESS}`);
    return nativeFrame(ds, el, fmt, !!syntax.bigEndian, frame);
  }
  if (!el.encapsulatedPixelData || !el.fragments?.length) throw new Error(`transfer syntax ${syntaxLabel(uid)} needs encapsulated pixel data (fragments), the file has none: it is damaged`);
  return decodeFrame(uid, encapsulatedFrame(ds, el, frame), fmt);
}

// ---- RLE lossless (PS3.5 annex G) --------------------------------------------------------------

/**
 * One RLE frame: a 64-byte header (segment count, 15 offsets), then one PackBits segment per byte
 * plane, most significant byte of each sample first.
 */
export function decodeRle(frame: Uint8Array, fmt: FrameFormat): StoredPixels {
  const width = fmt.bitsAllocated / 8;
  const n = fmt.rows * fmt.columns;
  const planes = width * fmt.samples;
  if (frame.length < 64) throw new Error(`RLE frame of ${frame.length} bytes has no header`);
  const head = new DataView(frame.buffer, frame.byteOffset, 64);
  const count = head.getUint32(0, true);
  if (count !== planes) throw new Error(`RLE header lists ${count} segments, ${fmt.bitsAllocated}-bit data with ${fmt.samples} sample(s) needs ${planes}`);
  const bytes = new Uint8Array(n * planes); // little endian, samples interleaved
  for (let s = 0; s < count; s++) {
    const start = head.getUint32(4 + 4 * s, true);
    const end = s + 1 < count ? head.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new Error(`RLE segment ${s + 1} lies outside the frame (${start}..${end} of ${frame.length} bytes)`);
    const sample = Math.floor(s / width), byte = width - 1 - (s % width);
    const stride = planes, offset = sample * width + byte;
    let i = start, p = 0;
    while (p < n && i < end) {
      const c = frame[i++];
      if (c < 128) { // c + 1 literal bytes
        const stop = Math.min(i + c + 1, end);
        while (i < stop && p < n) bytes[p++ * stride + offset] = frame[i++];
      } else if (c > 128) { // the next byte 257 - c times
        if (i >= end) break;
        const v = frame[i++], stop = Math.min(p + 257 - c, n);
        while (p < stop) bytes[p++ * stride + offset] = v;
      } // 128: no operation
    }
    if (p < n) throw new Error(`RLE segment ${s + 1} ends after ${p} of ${n} pixels (truncated?)`);
  }
  const words = width === 1 ? bytes : width === 2 ? new Uint16Array(bytes.buffer) : new Uint32Array(bytes.buffer);
  return toStored(words, fmt);
}

// ---- npm codecs, loaded on first use ---------------------------------------------------------

type EmModule = Record<string, unknown> & { getExceptionMessage?: (e: number) => string | string[] };
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
export type WasmCodec = 'charls' | 'openjpeg' | 'libjpeg-turbo';

const wasmUrls: Partial<Record<WasmCodec, string>> = {};
/** Where the page serves the codecs' .wasm files (in Node they load from the packages' folders). */
export function setCodecWasmUrls(urls: Partial<Record<WasmCodec, string>>): void {
  Object.assign(wasmUrls, urls);
}

const modules = new Map<string, Promise<EmModule>>();
let codecLog: string[] = [];
const unwrap = (m: unknown): unknown => (m && typeof m === 'object' && 'default' in m ? unwrap((m as { default: unknown }).default) : m);

function emscripten(key: WasmCodec, load: () => Promise<unknown>): Promise<EmModule> {
  let p = modules.get(key);
  if (!p) {
    p = load().then((m) => {
      const factory = unwrap(m) as (o: Record<string, unknown>) => Promise<EmModule>;
      return factory({ // a fresh options object per module: Emscripten keeps it as the module
        print: () => {},
        printErr: (s: string) => { codecLog.push(s); if (codecLog.length > 20) codecLog.shift(); },
        locateFile: (file: string, dir: string) => wasmUrls[key] ?? dir + file,
      });
    });
    p.catch(() => modules.delete(key));
    modules.set(key, p);
  }
  return p;
}

const loaders: Record<WasmCodec, [cls: string, load: () => Promise<unknown>, label: string]> = {
  charls: ['JpegLSDecoder', () => optionalImport(() => import('@cornerstonejs/codec-charls/decodewasmjs'),
    '@cornerstonejs/codec-charls', 'decoding JPEG-LS DICOM'), 'JPEG-LS (CharLS)'],
  openjpeg: ['J2KDecoder', () => optionalImport(() => import('@cornerstonejs/codec-openjpeg/decodewasmjs'),
    '@cornerstonejs/codec-openjpeg', 'decoding JPEG 2000 DICOM'), 'JPEG 2000 (OpenJPEG)'],
  'libjpeg-turbo': ['JPEGDecoder', () => optionalImport(() => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'),
    '@cornerstonejs/codec-libjpeg-turbo-8bit', 'decoding JPEG baseline DICOM'), 'JPEG (libjpeg-turbo)'],
};

async function wasmDecode(key: WasmCodec, bytes: Uint8Array, fmt: FrameFormat): Promise<StoredPixels> {
  const [cls, load, label] = loaders[key];
  let mod: EmModule;
  try {
    mod = await emscripten(key, load);
  } catch (e) {
    throw new Error(`cannot load the ${label} decoder (${e instanceof Error ? e.message : String(e)})`);
  }
  codecLog = [];
  const decoder = new (mod[cls] as new () => WasmDecoder)();
  try {
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (!info.width || !info.height) throw new Error(codecLog.filter((l) => /error/i.test(l)).join('; ') || 'no image in the codestream');
    if (info.width !== fmt.columns || info.height !== fmt.rows) throw new Error(`the codestream is ${info.width}x${info.height}, the header says ${fmt.columns}x${fmt.rows}`);
    if (info.componentCount !== fmt.samples) throw new Error(`the codestream has ${info.componentCount} components, the header says ${fmt.samples} sample(s) per pixel`);
    if (info.bitsPerSample > fmt.bitsAllocated) throw new Error(`the codestream holds ${info.bitsPerSample}-bit samples, BitsAllocated is ${fmt.bitsAllocated}`);
    const raw = decoder.getDecodedBuffer().slice(); // copy out of the module's memory
    const signed = !!info.isSigned;
    const values = info.bitsPerSample <= 8 ? (signed ? new Int8Array(raw.buffer) : raw)
      : signed ? new Int16Array(raw.buffer, 0, raw.length >> 1) : new Uint16Array(raw.buffer, 0, raw.length >> 1);
    return toStored(values, fmt, signed);
  } catch (e) {
    modules.delete(key); // a failed decode may leave the module unusable: load a fresh one next time
    throw new Error(`${label} cannot decode the frame: ${codecError(mod, e)}`);
  } finally {
    try { decoder.delete(); } catch { /* module aborted */ }
  }
}

/** Emscripten's C++ exceptions arrive as numbers (pointers); ask the module for the message. */
function codecError(mod: EmModule, e: unknown): string {
  if (typeof e === 'number') {
    try {
      const m = mod.getExceptionMessage?.(e);
      const text = Array.isArray(m) ? m.filter(Boolean).join(': ') : m;
      if (text) return text;
    } catch { /* no message */ }
    return codecLog.filter((l) => /error/i.test(l)).join('; ') || `codec error ${e}`;
  }
  return e instanceof Error ? e.message : String(e);
}

type LosslessDecoder = import('@cornerstonejs/jpeg-lossless-decoder-js').Decoder;
let losslessDecoder: Promise<new () => LosslessDecoder> | undefined;

/**
 * The JPEG lossless decoder class, with predictor 7 fixed: the package predicts (Ra + Rb) / 2 as a
 * fraction, so a sample that wraps below 0 (16-bit signed data next to positive values) comes out
 * one too high; T.81 (and dcmtk, GDCM) take the integer part, (Ra + Rb) >> 1.
 */
function losslessDecoderClass(): Promise<new () => LosslessDecoder> {
  losslessDecoder ??= optionalImport(() => import('@cornerstonejs/jpeg-lossless-decoder-js'), '@cornerstonejs/jpeg-lossless-decoder-js',
    'decoding JPEG lossless DICOM').then(({ Decoder }) => class extends Decoder {
    override select7(c?: number): number {
      return (this.getPreviousX(c) + this.getPreviousY(c)) >> 1;
    }
  });
  losslessDecoder.catch(() => { losslessDecoder = undefined; });
  return losslessDecoder;
}

async function jpegLossless(bytes: Uint8Array, fmt: FrameFormat): Promise<StoredPixels> {
  let Decoder: new () => LosslessDecoder;
  try {
    Decoder = await losslessDecoderClass();
  } catch (e) {
    throw new Error(`cannot load the JPEG lossless decoder (${e instanceof Error ? e.message : String(e)})`);
  }
  const d = new Decoder();
  let out: Uint8Array | Uint16Array;
  try {
    out = d.decode(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    throw new Error(`JPEG lossless: cannot decode the frame: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (d.xDim !== fmt.columns || d.yDim !== fmt.rows) throw new Error(`JPEG lossless: the codestream is ${d.xDim}x${d.yDim}, the header says ${fmt.columns}x${fmt.rows}`);
  if (d.numComp !== fmt.samples) throw new Error(`JPEG lossless: the codestream has ${d.numComp} components, the header says ${fmt.samples} sample(s) per pixel`);
  if ((d.precision ?? 0) > fmt.bitsAllocated) throw new Error(`JPEG lossless: ${d.precision}-bit samples, BitsAllocated is ${fmt.bitsAllocated}`);
  return toStored(out, fmt);
}

/**
 * decode(frame bytes) for a transfer syntax: the stored values (signed per PixelRepresentation,
 * sign-extended from BitsStored), rows x columns, one sample per pixel.
 */
export async function decodeFrame(uid: string, bytes: Uint8Array, fmt: FrameFormat): Promise<StoredPixels> {
  const codec = TRANSFER_SYNTAXES[uid]?.codec;
  if (!codec || codec === 'native') throw unsupported(uid);
  if (fmt.samples !== 1) throw new Error(`has ${fmt.samples} samples per pixel: only greyscale (1) slices make a volume`);
  container(fmt.bitsAllocated, false, 0); // 8, 16 or 32
  switch (codec) {
    case 'rle': return decodeRle(bytes, fmt);
    case 'jpeg-lossless': return jpegLossless(bytes, fmt);
    case 'jpeg-ls': return wasmDecode('charls', bytes, fmt);
    case 'jpeg2000': return wasmDecode('openjpeg', bytes, fmt);
    case 'jpeg-8bit':
      if (fmt.bitsStored > 8) throw new Error(`${syntaxLabel(uid)} with ${fmt.bitsStored}-bit samples is not supported (8-bit only): ${HOW_TO_DECOMPRESS}`);
      return wasmDecode('libjpeg-turbo', bytes, fmt);
  }
}

// ---- parsing the deflated transfer syntax without a synchronous inflater (the browser) ---------

/**
 * dicomParser.parseDicom, with the deflated transfer syntax inflated by DecompressionStream
 * ('deflate-raw': browsers, and Node >= 20.12) instead of dicom-parser's Node-only zlib path.
 */
export async function parseDicomAsync(bytes: Uint8Array, options: { untilTag?: string } = {}): Promise<dicomParser.DataSet> {
  let at = -1;
  try {
    return dicomParser.parseDicom(bytes, { ...options, inflater: (_: Uint8Array, pos: number) => { at = pos; throw new Error('deflated'); } } as dicomParser.ParseDicomOptions);
  } catch (e) {
    if (at < 0) throw e;
  }
  const stream = new DecompressionStream('deflate-raw');
  const writer = stream.writable.getWriter();
  writer.write(bytes.slice(at)).catch(() => {}); // errors surface on the readable side
  writer.close().catch(() => {});
  const body = new Uint8Array(await new Response(stream.readable).arrayBuffer());
  const full = new Uint8Array(at + body.length);
  full.set(bytes.subarray(0, at));
  full.set(body, at);
  return dicomParser.parseDicom(bytes, { ...options, inflater: () => full } as dicomParser.ParseDicomOptions);
}
