// safetensors reader/writer (https://github.com/huggingface/safetensors format):
// u64 LE header length, JSON header {name: {dtype, shape, data_offsets}, __metadata__}, raw
// little-endian data. Reads F32/F16/BF16/F64 (as Float32Array) and I64 (BigInt64Array);
// writes F32 and I64. Writes are atomic (temp file in the same directory, then rename), so a
// crash mid-save never leaves a truncated checkpoint behind.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export type WriteDtype = 'F32' | 'I64';
export type ReadDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64';

export interface TensorIn {
  dtype: WriteDtype;
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface TensorOut {
  /** Dtype as stored in the file; data is Float32Array for every float dtype. */
  dtype: ReadDtype;
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface SafetensorsFile {
  tensors: Record<string, TensorOut>;
  metadata: Record<string, string>;
}

const BYTES: Record<ReadDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };
// Guard against absurd headers in corrupt files before allocating/decoding them.
const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: ${msg}`);
    this.name = 'SafetensorsError';
  }
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Serialises tensors (+ string metadata) into one safetensors buffer. */
export function encodeSafetensors(
  tensors: Record<string, TensorIn>,
  metadata?: Record<string, string>,
  label = '<buffer>',
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(label, `metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  // Sorted names make the files byte-for-byte reproducible.
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === '__metadata__') throw new SafetensorsError(label, 'tensor name "__metadata__" is reserved');
    if (t.dtype !== 'F32' && t.dtype !== 'I64') throw new SafetensorsError(label, `tensor "${name}": cannot write dtype ${String(t.dtype)}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(label, `tensor "${name}": bad shape [${t.shape}]`);
    const wantArr = t.dtype === 'F32' ? t.data instanceof Float32Array : t.data instanceof BigInt64Array;
    if (!wantArr) throw new SafetensorsError(label, `tensor "${name}": dtype ${t.dtype} needs a ${t.dtype === 'F32' ? 'Float32Array' : 'BigInt64Array'}`);
    if (t.data.length !== numel(t.shape)) {
      throw new SafetensorsError(label, `tensor "${name}": shape [${t.shape}] holds ${numel(t.shape)} values, data has ${t.data.length}`);
    }
    const size = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (what the reference implementation does).
  const raw = new TextEncoder().encode(json);
  const pad = (8 - (raw.length % 8)) % 8;
  json += ' '.repeat(pad);
  const hdr = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hdr.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hdr.length), true);
  out.set(hdr, 8);
  let pos = 8 + hdr.length;
  for (const name of names) {
    const t = tensors[name];
    // Typed arrays are host-endian; every supported host is little-endian, as the format.
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Parses a safetensors buffer; `label` (usually the path) prefixes every error. */
export function decodeSafetensors(buf: Uint8Array, label = '<buffer>'): SafetensorsFile {
  if (buf.length < 8) throw new SafetensorsError(label, `truncated file: ${buf.length} bytes, no header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = view.getBigUint64(0, true);
  if (hlen > BigInt(Math.min(MAX_HEADER, buf.length - 8))) {
    throw new SafetensorsError(label, `bad header: length ${hlen} exceeds the file (${buf.length} bytes)${buf.length - 8 < MAX_HEADER ? ' (truncated?)' : ''}`);
  }
  const hl = Number(hlen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + hl)));
  } catch (e) {
    throw new SafetensorsError(label, `bad header: not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(label, 'bad header: not a JSON object');
  const dataStart = 8 + hl;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, TensorOut> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object') throw new SafetensorsError(label, 'bad header: __metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(label, `bad header: metadata "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `tensor "${name}"`;
    if (!e || typeof e !== 'object') throw new SafetensorsError(label, `bad header: ${where} is not an object`);
    const dtype = e.dtype as ReadDtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw new SafetensorsError(label, `${where}: unknown or unsupported dtype ${JSON.stringify(e.dtype)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(label, `${where}: bad shape ${JSON.stringify(shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[1] < offs[0]) {
      throw new SafetensorsError(label, `${where}: bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, en] = offs as [number, number];
    const n = numel(shape as number[]);
    if (en - b !== n * BYTES[dtype]) {
      throw new SafetensorsError(label, `${where}: shape [${shape}] of ${dtype} needs ${n * BYTES[dtype]} bytes, data_offsets give ${en - b}`);
    }
    if (en > dataLen) throw new SafetensorsError(label, `truncated file: ${where} ends at byte ${en} of the data, which has only ${dataLen}`);
    // Copy into fresh aligned memory: the data section need not be aligned for the dtype (and
    // Buffer.slice would only be a view into a shared pool).
    const bytes = new Uint8Array(buf.subarray(dataStart + b, dataStart + en));
    tensors[name] = { dtype, shape: shape as number[], data: convert(dtype, bytes, n) };
  }
  return { tensors, metadata };
}

function convert(dtype: ReadDtype, bytes: Uint8Array, n: number): Float32Array | BigInt64Array {
  switch (dtype) {
    case 'F32': return new Float32Array(bytes.buffer, 0, n);
    case 'I64': return new BigInt64Array(bytes.buffer, 0, n);
    case 'F64': return Float32Array.from(new Float64Array(bytes.buffer, 0, n));
    case 'F16': {
      const u = new Uint16Array(bytes.buffer, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(u[i]);
      return out;
    }
    case 'BF16': {
      // bf16 is the top half of an f32.
      const u = new Uint16Array(bytes.buffer, 0, n);
      const w = new Uint32Array(n);
      for (let i = 0; i < n; i++) w[i] = u[i] << 16;
      return new Float32Array(w.buffer);
    }
  }
}

let tmpCounter = 0;

/** Writes `data` to `path` atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomicSync(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
}

/** Writes a safetensors file atomically. */
export function writeSafetensors(path: string, tensors: Record<string, TensorIn>, metadata?: Record<string, string>): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata, path));
}

/** Reads a safetensors file; F16/BF16/F64 come back as Float32Array, I64 as BigInt64Array. */
export function readSafetensors(path: string): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read: ${(e as Error).message}`);
  }
  return decodeSafetensors(buf, path);
}
