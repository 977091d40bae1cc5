// safetensors round trip, half-precision decoding, and errors that name the file and tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'st-'));

/** Hand-builds a file with arbitrary header entries and raw data (for dtypes we do not write). */
function rawFile(header: object, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

test('round trip F32 + I64 + metadata, atomic (no temp file left)', () => {
  const p = join(dir, 'a.safetensors');
  writeSafetensors(p, {
    w: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) },
    n: { dtype: 'I64', shape: [], data: BigInt64Array.from([42n]) },
    e: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  }, { config: '{"a":1}' });
  const f = readSafetensors(p);
  assert.deepEqual(f.metadata, { config: '{"a":1}' });
  assert.deepEqual(f.tensors.w.shape, [2, 3]);
  assert.deepEqual(Array.from(f.tensors.w.data as Float32Array), Array.from(Float32Array.from([1, -2, 3.5, 0, 1e-8, -7])));
  assert.equal((f.tensors.n.data as BigInt64Array)[0], 42n);
  assert.deepEqual(f.tensors.n.shape, []);
  assert.equal(f.tensors.e.data.length, 0);
  assert.deepEqual(readdirSync(dir), ['a.safetensors']);
  // header padded so the data is 8-byte aligned
  const raw = readFileSync(p);
  const len = Number(new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true));
  assert.equal(len % 8, 0);
});

test('F16 and BF16 decode to float32', () => {
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0x0000]); // 1, -2, ~1/3, min subnormal, inf, 0
  const bf = Uint16Array.from([0x3f80, 0xc040, 0x4049]); // 1, -3, ~3.14
  const data = new Uint8Array(f16.byteLength + bf.byteLength);
  data.set(new Uint8Array(f16.buffer), 0);
  data.set(new Uint8Array(bf.buffer), f16.byteLength);
  const f = decodeSafetensors(rawFile({
    h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
    b: { dtype: 'BF16', shape: [3], data_offsets: [12, 18] },
  }, data));
  const h = f.tensors.h.data as Float32Array;
  assert.deepEqual([h[0], h[1], h[4], h[5]], [1, -2, Infinity, 0]);
  assert.ok(Math.abs(h[2] - 0.33325195) < 1e-7);
  assert.equal(h[3], 2 ** -24);
  assert.equal(f.tensors.h.dtype, 'F16');
  const b = f.tensors.b.data as Float32Array;
  assert.deepEqual([b[0], b[1]], [1, -3]);
  assert.ok(Math.abs(b[2] - 3.140625) < 1e-7);
});

test('errors name the file and the tensor', () => {
  const good = encodeSafetensors({ conv: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
  const p = join(dir, 'trunc.safetensors');
  writeFileSync(p, good.subarray(0, good.length - 3));
  assert.throws(() => readSafetensors(p), /trunc\.safetensors: truncated file: tensor "conv"/);
  writeFileSync(p, good.subarray(0, 5));
  assert.throws(() => readSafetensors(p), /trunc\.safetensors: truncated file/);
  assert.throws(() => decodeSafetensors(rawFile({ x: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'f.st'), /f\.st: tensor "x": unknown or unsupported dtype "Q8"/);
  assert.throws(() => decodeSafetensors(rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'f.st'), /tensor "x": shape \[3\] of F32 needs 12 bytes/);
  const bad = rawFile({}, new Uint8Array(0));
  bad[8] = 0x7b; bad[9] = 0x7b; // "{{"
  assert.throws(() => decodeSafetensors(bad, 'g.st'), /g\.st: bad header/);
  assert.throws(() => encodeSafetensors({ y: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }, undefined, 'out.st'), /out\.st: tensor "y": shape \[2,2\] holds 4 values, data has 3/);
  assert.throws(() => readSafetensors(join(dir, 'missing.safetensors')), /missing\.safetensors: cannot read/);
});
