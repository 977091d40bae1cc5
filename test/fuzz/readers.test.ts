// Seeded fuzzing of the readers a service and a worker feed with untrusted bytes: valid PNG,
// JPEG, TIFF, NIfTI (.nii, .nii.gz) and safetensors files, mutated (bytes flipped, runs
// overwritten with extreme integers, cut, spliced), go through the serve's header checks
// (admitUpload), readImageBytes, readNifti and decodeSafetensors. Each must return or throw an
// Error, never crash, hang or grow memory without bound. A few seconds by default;
// UNETPP_FUZZ_SCALE=50 (and UNETPP_FUZZ_SEED) for a long run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { readImageBytes } from '../../src/data/images/read-image.js';
import { readNifti, writeNifti } from '../../src/data/formats/nifti.js';
import { niftiSizes } from '../../src/data/formats/nifti-header.js';
import { encodeSafetensors, decodeSafetensors } from '../../src/io/safetensors.js';
import { admitUpload } from '../../src/serve/cost.js';
import { HttpError } from '../../src/serve/errors.js';
import { sniff } from '../../src/serve/sniff.js';

const SCALE = Number(process.env.UNETPP_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.UNETPP_FUZZ_SEED ?? 20250601);
const LIMITS = { maxPixels: 4096 * 4096, maxVoxels: 256 ** 3, maxWindows: 1024 };
let tmp: string;

before(() => { tmp = mkdtempSync(join(tmpdir(), 'unetpp-fuzz-')); });
after(() => rmSync(tmp, { recursive: true, force: true }));

/** mulberry32: small, seeded, the same sequence everywhere. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

const EXTREMES = [0, 1, 0xff, 0x7f, 0x80, 0xffff, 0x7fff, 0x8000, 0xffffffff, 0x7fffffff, 0x80000000];

/** One of several mutations of `src`, chosen by the generator; `hot` bytes (headers) are hit more often. */
function mutate(src: Buffer, r: ReturnType<typeof rng>, hot = 64): Buffer {
  const b = Buffer.from(src);
  const at = () => (r.next() < 0.6 ? r.int(Math.min(hot, b.length)) : r.int(b.length));
  switch (r.int(6)) {
    case 0: for (let k = 1 + r.int(8); k > 0; k--) b[at()] ^= 1 << r.int(8); return b;
    case 1: for (let k = 1 + r.int(4); k > 0; k--) b[at()] = r.int(256); return b;
    case 2: { // an extreme integer, in either byte order
      const v = EXTREMES[r.int(EXTREMES.length)], o = Math.min(at(), b.length - 4);
      if (o >= 0) { if (r.next() < 0.5) b.writeUInt32LE(v >>> 0, o); else b.writeUInt32BE(v >>> 0, o); }
      return b;
    }
    case 3: return b.subarray(0, r.int(b.length)); // cut
    case 4: { const o = at(), n = r.int(64); return Buffer.concat([b.subarray(0, o), b.subarray(o, o + n), b.subarray(o)]); } // a run repeated
    default: { // random bytes spliced in
      const o = at(), junk = Buffer.from(Array.from({ length: r.int(16) }, () => r.int(256)));
      return Buffer.concat([b.subarray(0, o), junk, b.subarray(o + r.int(16))]);
    }
  }
}

interface Tally { ok: number; errors: number; slowestMs: number }

/** Runs `read` on n mutations of each seed file: values or Errors only, each in bounded time. */
async function fuzz(name: string, seeds: Buffer[], n: number, read: (b: Buffer) => Promise<unknown> | unknown, hot = 64,
  accept: (e: unknown) => boolean = (e) => e instanceof Error): Promise<Tally> {
  const r = rng(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7));
  const t: Tally = { ok: 0, errors: 0, slowestMs: 0 };
  for (let i = 0; i < n; i++) {
    const input = mutate(seeds[i % seeds.length], r, hot);
    const t0 = performance.now();
    try {
      await read(input);
      t.ok++;
    } catch (e) {
      assert.ok(accept(e), `${name} #${i}: threw ${Object.prototype.toString.call(e)} ${String(e)} (seed ${SEED})`);
      t.errors++;
    }
    const ms = performance.now() - t0;
    t.slowestMs = Math.max(t.slowestMs, ms);
    assert.ok(ms < 5000, `${name} #${i}: ${ms.toFixed(0)} ms (seed ${SEED})`);
  }
  return t;
}

const report = (name: string, t: Tally) => console.log(`# ${name}: ${t.ok} read, ${t.errors} errors, slowest ${t.slowestMs.toFixed(1)} ms`);
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

test('images: mutated PNG (8/16-bit, grey, RGB), JPEG and TIFF through the serve checks and the decoder', async () => {
  const px = (w: number, h: number, c: number) => Buffer.from(new Uint8Array(w * h * c).map((_, i) => (i * 37) % 251));
  const seeds = [
    await sharp(px(24, 20, 1), { raw: { width: 24, height: 20, channels: 1 } }).png().toBuffer(),
    await sharp(px(16, 12, 3), { raw: { width: 16, height: 12, channels: 3 } }).png().toBuffer(),
    await sharp(px(16, 12, 1), { raw: { width: 16, height: 12, channels: 1 } }).toColourspace('grey16').png().toBuffer(),
    await sharp(px(24, 20, 3), { raw: { width: 24, height: 20, channels: 3 } }).jpeg().toBuffer(),
    await sharp(px(24, 20, 1), { raw: { width: 24, height: 20, channels: 1 } }).tiff().toBuffer(),
  ];
  const rss0 = rssMb();
  // the service's path: sniff, header checks (400/413 only), then the decode with the same limit
  const t = await fuzz('image', seeds, 600 * SCALE, async (b) => {
    const kind = sniff(b);
    if (!kind) return;
    const a = await admitUpload(b, kind, 'fuzz', LIMITS, { tile: 16, tta: true });
    if (a.kind === 'nifti') return;
    return readImageBytes(a.bytes, 'fuzz', { channels: 1, maxPixels: LIMITS.maxPixels });
  }, 64, (e) => e instanceof Error && (!(e instanceof HttpError) || [400, 413].includes(e.status)));
  report('images', t);
  assert.ok(t.ok > 0 && t.errors > 0);
  assert.ok(rssMb() - rss0 < 400, `RSS grew ${(rssMb() - rss0).toFixed(0)} MB`);
});

test('volumes: mutated NIfTI-1 (.nii, .nii.gz) through the header checks and readNifti', async () => {
  const vol = {
    dims: [6, 5, 4] as [number, number, number], spacing: [1, 1, 2] as [number, number, number],
    affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], data: new Float32Array(120).map((_, i) => i % 7),
  };
  const seeds: Buffer[] = [];
  for (const [name, datatype] of [['a.nii', 'float32'], ['b.nii', 'int16'], ['c.nii', 'uint8']] as const) {
    await writeNifti(join(tmp, name), vol, { datatype });
    seeds.push(readFileSync(join(tmp, name)));
  }
  const file = join(tmp, 'fuzz.nii');
  const rss0 = rssMb();
  const t = await fuzz('nifti', seeds, 500 * SCALE, async (b) => {
    niftiSizes(b);
    writeFileSync(file, b); // a worker's path: the reader alone, no header checks before it
    await readNifti(file).catch((e: unknown) => { if (!(e instanceof Error)) throw e; });
    const a = await admitUpload(b, 'nifti', 'fuzz', LIMITS);
    writeFileSync(file, a.bytes);
    return readNifti(file);
  }, 360, (e) => e instanceof Error && (!(e instanceof HttpError) || [400, 413].includes(e.status)));
  report('nifti', t);
  // gzip: the header checks inflate only as far as the header allows; mutated volumes in valid
  // gzip streams, then mutated gzip streams
  const viaGz = async (gz: Buffer) => {
    const a = await admitUpload(gz, 'nifti-gz', 'fuzz', LIMITS);
    writeFileSync(file, a.bytes);
    return readNifti(file);
  };
  const httpOnly = (e: unknown) => e instanceof Error && (!(e instanceof HttpError) || [400, 413].includes(e.status));
  const tg = await fuzz('nifti in gzip', seeds, 250 * SCALE, (b) => viaGz(gzipSync(b)), 360, httpOnly);
  const tz = await fuzz('gzip of nifti', seeds.map((s) => gzipSync(s)), 150 * SCALE, viaGz, 24, httpOnly);
  report('nifti in gzip', tg);
  report('gzip of nifti', tz);
  assert.ok(t.ok > 0 && t.errors > 0 && tg.ok > 0 && tg.errors > 0 && tz.errors > 0);
  assert.ok(rssMb() - rss0 < 400, `RSS grew ${(rssMb() - rss0).toFixed(0)} MB`);
});

test('checkpoints: mutated safetensors through decodeSafetensors', async () => {
  const seed = Buffer.from(encodeSafetensors({
    'enc.0.weight': { dtype: 'F32', shape: [4, 1, 3, 3], data: new Float32Array(36).map((_, i) => i / 7) },
    'enc.0.bias': { dtype: 'F32', shape: [4], data: new Float32Array(4) },
    step: { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) },
  }, { format: 'unetpp-checkpoint', config: '{"filters":[4,8]}' }));
  const rss0 = rssMb();
  const t = await fuzz('safetensors', [seed], 1500 * SCALE, (b) => decodeSafetensors(b, 'fuzz'), 200);
  report('safetensors', t);
  assert.ok(t.ok > 0 && t.errors > 0);
  assert.ok(rssMb() - rss0 < 200, `RSS grew ${(rssMb() - rss0).toFixed(0)} MB`);
});
