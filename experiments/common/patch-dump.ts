// The patch files of a PyTorch twin run (a dump-patches script writes them, the peer's training
// script reads them with patch_dump.py): one safetensors file per epoch, epoch-NNN.safetensors,
// holding the epoch's batches in the order the trainer takes them, x### [n, c, d, h, w] float32
// and the target y### (### = batch, from 000), either as the trainer's float32 planes
// [n, k, d, h, w] ('planes', BraTS's overlapping regions) or, for one-hot softmax targets, as the
// uint8 class index [n, d, h, w] ('index': a quarter of one plane's bytes). The metadata holds the
// epoch (1-based, as the trainer counts), the batch count, the target encoding and a JSON list of
// each batch's case ids, foreground flags and checksum (batchDigest of the float32 planes, so
// that a decoded file is checked against what the trainer saw).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchLoader } from '../../src/data/loaders/patch-loader.js';
import { writeFileAtomicSync } from '../../src/io/safetensors.js';

export interface DumpBatch {
  x: Float32Array;
  y: Float32Array;
  n: number; c: number; k: number; d: number; h: number; w: number;
  ids: string[];
  foreground: boolean[];
  /** Only with an ignore label; a dump refuses it (the peer's loss has no mask). */
  ignore?: Uint8Array;
}

export interface DumpedBatchInfo { ids: string[]; foreground: boolean[]; sha256: string }

export type TargetEncoding = 'planes' | 'index';

export const epochFile = (epoch: number) => `epoch-${String(epoch).padStart(3, '0')}.safetensors`;
const tensorName = (kind: 'x' | 'y', b: number) => `${kind}${String(b).padStart(3, '0')}`;

/** sha256 of a batch's input then target bytes (little-endian float32 planes), hex. */
export function batchDigest(b: { x: Float32Array; y: Float32Array }): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength));
  h.update(new Uint8Array(b.y.buffer, b.y.byteOffset, b.y.byteLength));
  return h.digest('hex');
}

/** One-hot planes [n, k, s] -> class index [n, s]; throws unless every voxel has exactly one 1. */
export function planesToIndex(y: Float32Array, n: number, k: number, size: number): Uint8Array {
  if (k > 255) throw new Error(`index encoding: ${k} classes do not fit a byte`);
  const out = new Uint8Array(n * size);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < size; i++) {
      let hot = -1;
      for (let c = 0; c < k; c++) {
        const v = y[(b * k + c) * size + i];
        if (v === 1 && hot < 0) hot = c;
        else if (v !== 0) hot = -2;
      }
      if (hot < 0) throw new Error(`index encoding: the target is not one-hot at image ${b}, voxel ${i}`);
      out[b * size + i] = hot;
    }
  return out;
}

/** Class index [n, s] -> one-hot float32 planes [n, k, s]. */
export function indexToPlanes(idx: Uint8Array, n: number, k: number, size: number): Float32Array {
  const y = new Float32Array(n * k * size);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < size; i++) y[(b * k + idx[b * size + i]) * size + i] = 1;
  return y;
}

type Stored = { dtype: 'F32' | 'U8'; shape: number[]; bytes: Uint8Array };
const BYTES = { F32: 4, U8: 1 } as const;

// A safetensors file with U8 tensors, which the library's writer (model weights: F32, I64) does not write.
function encode(tensors: Record<string, Stored>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    off += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // keeps the data 8-byte aligned
  const head = Buffer.from(json);
  const out = new Uint8Array(8 + head.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) { out.set(tensors[name].bytes, at); at += tensors[name].bytes.byteLength; }
  return out;
}

function decode(path: string): { tensors: Record<string, Stored>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  delete header.__metadata__;
  const tensors: Record<string, Stored> = {};
  for (const [name, e] of Object.entries(header)) {
    if (!(e.dtype in BYTES)) throw new Error(`${path}: tensor ${name} has dtype ${e.dtype}, not F32 or U8`);
    const [a, b] = e.data_offsets as [number, number];
    if (b - a !== (e.shape as number[]).reduce((p: number, q: number) => p * q, 1) * BYTES[e.dtype as 'F32' | 'U8'])
      throw new Error(`${path}: tensor ${name}: its shape and byte range disagree`);
    // a copy: aligned for Float32Array, independent of the file's buffer
    tensors[name] = { dtype: e.dtype, shape: e.shape, bytes: Uint8Array.from(buf.subarray(8 + n + a, 8 + n + b)) };
  }
  return { tensors, metadata };
}

const bytesOf = (a: Float32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes an epoch's batches (atomically); returns what the metadata records of each. */
export function writePatchEpoch(path: string, epoch: number, batches: DumpBatch[], extraMeta: Record<string, string> = {},
                                target: TargetEncoding = 'planes'): DumpedBatchInfo[] {
  const tensors: Record<string, Stored> = {};
  const info = batches.map((b, i) => {
    const size = b.d * b.h * b.w;
    if (b.x.length !== b.n * b.c * size || b.y.length !== b.n * b.k * size)
      throw new Error(`batch ${i}: x/y lengths do not match their shapes`);
    if (b.ignore) throw new Error(`batch ${i}: has an ignore mask, which a dump does not carry`);
    tensors[tensorName('x', i)] = { dtype: 'F32', shape: [b.n, b.c, b.d, b.h, b.w], bytes: bytesOf(b.x) };
    tensors[tensorName('y', i)] = target === 'index'
      ? { dtype: 'U8', shape: [b.n, b.d, b.h, b.w], bytes: planesToIndex(b.y, b.n, b.k, size) }
      : { dtype: 'F32', shape: [b.n, b.k, b.d, b.h, b.w], bytes: bytesOf(b.y) };
    return { ids: b.ids, foreground: b.foreground, sha256: batchDigest(b) };
  });
  const classes = batches.length ? String(batches[0].k) : '0';
  const meta = {
    ...extraMeta, format: 'unetpp-patch-epoch', epoch: String(epoch), batches: String(batches.length), target, classes,
    info: JSON.stringify(info),
  };
  writeFileAtomicSync(path, encode(tensors, meta));
  return info;
}

export interface ReadBatch { x: Float32Array; y: Float32Array; xShape: number[]; yShape: number[]; info: DumpedBatchInfo }

/** Reads an epoch file back (targets as float32 planes whatever the encoding): its epoch, metadata and batches in order. */
export function readPatchEpoch(path: string): { epoch: number; metadata: Record<string, string>; batches: ReadBatch[] } {
  const f = decode(path);
  if (f.metadata.format !== 'unetpp-patch-epoch')
    throw new Error(`${path}: not a patch epoch file (format ${f.metadata.format})`);
  const n = Number(f.metadata.batches);
  const info = JSON.parse(f.metadata.info) as DumpedBatchInfo[];
  const index = f.metadata.target === 'index'; // files written before the encoding existed hold planes
  const batches: ReadBatch[] = [];
  for (let i = 0; i < n; i++) {
    const x = f.tensors[tensorName('x', i)], y = f.tensors[tensorName('y', i)];
    if (!x || !y) throw new Error(`${path}: batch ${i} of ${n} is missing`);
    const xs = new Float32Array(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength / 4);
    if (!index) {
      const ys = new Float32Array(y.bytes.buffer, y.bytes.byteOffset, y.bytes.byteLength / 4);
      batches.push({ x: xs, y: ys, xShape: x.shape, yShape: y.shape, info: info[i] });
      continue;
    }
    const k = Number(f.metadata.classes), [bn, ...sp] = y.shape;
    const size = sp.reduce((p, q) => p * q, 1);
    batches.push({ x: xs, y: indexToPlanes(y.bytes, bn, k, size), xShape: x.shape, yShape: [bn, k, ...sp], info: info[i] });
  }
  return { epoch: Number(f.metadata.epoch), metadata: f.metadata, batches };
}

/**
 * Checks every dumped batch of epochs 1..epochs in `dir` against its recorded checksum and against
 * `makeBatch` (a fresh loader entered by position: no epoch generator, prefetch or loader state).
 * Returns the number of batches checked; throws naming the epoch and batch that differ.
 */
export async function verifyDump(dir: string, epochs: number,
  makeBatch: (epochIndex: number, batch: number) => Promise<{ x: Float32Array; y: Float32Array }>): Promise<number> {
  let checked = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const f = readPatchEpoch(join(dir, epochFile(epoch)));
    if (f.epoch !== epoch) throw new Error(`${epochFile(epoch)}: records epoch ${f.epoch}`);
    for (let b = 0; b < f.batches.length; b++) {
      const got = f.batches[b];
      const want = batchDigest(await makeBatch(epoch - 1, b));
      const where = `epoch ${epoch} batch ${b}`;
      if (batchDigest(got) !== got.info.sha256) throw new Error(`${where}: the decoded file does not match its recorded checksum`);
      if (want !== got.info.sha256)
        throw new Error(`${where}: a fresh loader gives ${want.slice(0, 12)}, the dump ${got.info.sha256.slice(0, 12)}: ` +
          'the stream is not deterministic');
      checked++;
    }
  }
  return checked;
}

/** Records the digest of every batch the training loop takes from a PatchLoader (its epoch generator
 *  wrapped) until `restore()`: what --check-trainer compares with the dump. */
export function recordTrainerBatches(): { seen: string[]; restore: () => void } {
  const seen: string[] = [];
  const orig = PatchLoader.prototype.epoch;
  PatchLoader.prototype.epoch = function (this: PatchLoader) {
    const g = orig.call(this);
    return (async function* () { for await (const b of g) { seen.push(batchDigest(b)); yield b; } })();
  };
  return { seen, restore: () => { PatchLoader.prototype.epoch = orig; } };
}
