// The patch files of the PyTorch twin (dump-patches.ts writes them, peer_train.py reads them):
// one safetensors file per epoch, epoch-NNN.safetensors, holding the epoch's batches in the order
// the trainer takes them: x### [n, c, d, h, w] and y### [n, k, d, h, w] float32 (### = batch, from
// 000), and as metadata the epoch (1-based, as the trainer counts), the batch count and a JSON
// list of each batch's case ids, foreground flags and checksum (batchDigest).
import { createHash } from 'node:crypto';
import { readSafetensors, writeSafetensors, type TensorIn } from '../../src/io/safetensors.js';

export interface DumpBatch {
  x: Float32Array;
  y: Float32Array;
  n: number; c: number; k: number; d: number; h: number; w: number;
  ids: string[];
  foreground: boolean[];
}

export interface DumpedBatchInfo { ids: string[]; foreground: boolean[]; sha256: string }

export const epochFile = (epoch: number) => `epoch-${String(epoch).padStart(3, '0')}.safetensors`;
const tensorName = (kind: 'x' | 'y', b: number) => `${kind}${String(b).padStart(3, '0')}`;

/** sha256 of a batch's input then target bytes (little-endian float32), hex. */
export function batchDigest(b: { x: Float32Array; y: Float32Array }): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength));
  h.update(new Uint8Array(b.y.buffer, b.y.byteOffset, b.y.byteLength));
  return h.digest('hex');
}

/** Writes an epoch's batches (atomically); returns what the metadata records of each. */
export function writePatchEpoch(path: string, epoch: number, batches: DumpBatch[], extraMeta: Record<string, string> = {}): DumpedBatchInfo[] {
  const tensors: Record<string, TensorIn> = {};
  const info = batches.map((b, i) => {
    if (b.x.length !== b.n * b.c * b.d * b.h * b.w || b.y.length !== b.n * b.k * b.d * b.h * b.w) throw new Error(`batch ${i}: x/y lengths do not match their shapes`);
    tensors[tensorName('x', i)] = { dtype: 'F32', shape: [b.n, b.c, b.d, b.h, b.w], data: b.x };
    tensors[tensorName('y', i)] = { dtype: 'F32', shape: [b.n, b.k, b.d, b.h, b.w], data: b.y };
    return { ids: b.ids, foreground: b.foreground, sha256: batchDigest(b) };
  });
  writeSafetensors(path, tensors, { ...extraMeta, format: 'unetpp-patch-epoch', epoch: String(epoch), batches: String(batches.length), info: JSON.stringify(info) });
  return info;
}

export interface ReadBatch { x: Float32Array; y: Float32Array; xShape: number[]; yShape: number[]; info: DumpedBatchInfo }

/** Reads an epoch file back: its epoch, metadata and batches in order. */
export function readPatchEpoch(path: string): { epoch: number; metadata: Record<string, string>; batches: ReadBatch[] } {
  const f = readSafetensors(path);
  if (f.metadata.format !== 'unetpp-patch-epoch') throw new Error(`${path}: not a patch epoch file (format ${f.metadata.format})`);
  const n = Number(f.metadata.batches);
  const info = JSON.parse(f.metadata.info) as DumpedBatchInfo[];
  const batches: ReadBatch[] = [];
  for (let i = 0; i < n; i++) {
    const x = f.tensors[tensorName('x', i)], y = f.tensors[tensorName('y', i)];
    if (!x || !y) throw new Error(`${path}: batch ${i} of ${n} is missing`);
    batches.push({ x: x.data as Float32Array, y: y.data as Float32Array, xShape: x.shape, yShape: y.shape, info: info[i] });
  }
  return { epoch: Number(f.metadata.epoch), metadata: f.metadata, batches };
}
