// What a request may cost `unetpp serve`, checked before any decode: a decompression bomb
// PNG, a NIfTI header declaring a huge volume, a .nii.gz that inflates past its header, a
// tile that would run thousands of windows, and a full service, all refused at once with
// the serve process's memory barely moving; bounded plan cache across many image sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync, constants } from 'node:zlib';
import sharp from 'sharp';
import { admitUpload } from '../../src/serve/cost.js';
import { niftiSizes } from '../../src/data/formats/nifti-header.js';
import { BACKEND, startCli, stop, tinyCheckpoint, type Proc } from '../helpers/services.js';

let tmp: string, ckpt: string, server: (Proc & { match: RegExpMatchArray }) | undefined, base: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-cost-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  server = await startCli(['serve', '-m', ckpt, '--port', '0', '--backend', BACKEND, '--max-batch', '1', '--max-queue', '1', '--plan-cache', '4M'],
    /listening on (http:\/\/\S+)/);
  base = server.match[1];
});

after(async () => {
  await stop(server);
  rmSync(tmp, { recursive: true, force: true });
});

/** zlib data of n zero bytes, fast: one full-flushed deflate block of zeros repeated (blocks
 *  after a full flush stand alone), then the Adler-32 of n zeros (a = 1, b = n). */
function zerosZlib(n: number, chunk = 1 << 24): Buffer {
  const block = deflateRawSync(Buffer.alloc(chunk), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const parts = [Buffer.from([0x78, 0xda])];
  let left = n;
  for (; left >= chunk; left -= chunk) parts.push(block);
  parts.push(deflateRawSync(Buffer.alloc(left), { level: 9 }));
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((n % 65521) << 16) | 1) >>> 0);
  return Buffer.concat([...parts, adler]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A valid grey PNG of w x h black pixels: all-zero rows compress to almost nothing. */
function bombPng(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', zerosZlib((w + 1) * h)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A NIfTI-1 header (348 bytes + 4 of extension flag) for uint8 voxels of the given dims. */
function niftiHeader(dims: number[]): Buffer {
  const h = Buffer.alloc(352);
  h.writeInt32LE(348, 0);
  h.writeInt16LE(dims.length, 40);
  dims.forEach((d, i) => h.writeInt16LE(d, 42 + 2 * i));
  h.writeInt16LE(2, 70); // uint8
  h.writeInt16LE(8, 72);
  for (let i = 0; i < 4; i++) h.writeFloatLE(1, 76 + 4 * i); // pixdim
  h.writeFloatLE(352, 108);
  h.write('n+1\0', 344, 'latin1');
  return h;
}

const kb = (line: string, status: string) => Number(new RegExp(`${line}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
/** Resets the serve process's peak RSS (Linux clear_refs 5); returns its RSS now, in MB. */
function resetPeak(pid: number): number {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  return kb('VmRSS', readFileSync(`/proc/${pid}/status`, 'utf8')) / 1024;
}
const peakMb = (pid: number) => kb('VmHWM', readFileSync(`/proc/${pid}/status`, 'utf8')) / 1024;

const grey = (w: number, h: number) =>
  sharp(Buffer.from(new Uint8Array(w * h).map((_, i) => (i * 7) % 251)), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();

/** POSTs with node:http (lighter than fetch on a busy machine); the time is to the whole answer. */
function timed(url: string, body: Buffer, type = 'application/octet-stream'): Promise<{ status: number; j: { error: string; message: string }; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(url, { method: 'POST', headers: { 'content-type': type, 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, j: JSON.parse(text), ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function multipartOf(file: Buffer, name: string): [Buffer, string] {
  const b = 'unetpp-boundary-7d1f';
  const head = `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: image/png\r\n\r\n`;
  return [Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${b}--\r\n`)]), `multipart/form-data; boundary=${b}`];
}

test('a decompression bomb PNG (16000x16000, a few hundred KB) is refused from its header in < 100 ms with < 50 MB growth', async () => {
  const bomb = bombPng(16000, 16000);
  assert.ok(bomb.length < 300 * 1024, `${bomb.length} bytes`);
  const meta = await sharp(bomb, { limitInputPixels: false }).metadata();
  assert.deepEqual([meta.width, meta.height], [16000, 16000]); // a real PNG, as a decoder sees it
  const pid = server!.child.pid!;
  const multipart = () => timed(`${base}/v1/predict`, ...multipartOf(bomb, 'bomb.png'));
  // the first requests load lazy modules (multipart parser, sharp): not the bomb's cost
  await timed(`${base}/v1/predict`, bomb);
  await multipart();
  const rss0 = resetPeak(pid);
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await timed(`${base}/v1/predict`, bomb));
  const mp = await multipart();
  const mpMs = mp.ms;
  const growth = peakMb(pid) - rss0;
  for (const r of results) {
    assert.equal(r.status, 413);
    assert.match(r.j.message, /16000x16000 is more than max-pixels 67108864 \(refused from its header\)/);
  }
  assert.equal(mp.status, 413);
  const ms = Math.max(...results.map((r) => r.ms), mpMs);
  const raw = results.map((r) => r.ms.toFixed(1)).join(', ');
  console.log(`# bomb PNG ${(bomb.length / 1024).toFixed(0)} KB declaring 16000x16000: 413 in ${raw} ms (raw), ` +
    `${mpMs.toFixed(1)} ms (multipart); peak RSS growth ${growth.toFixed(1)} MB`);
  assert.ok(ms < 100, `refused in ${ms.toFixed(1)} ms`);
  assert.ok(growth < 50, `serve grew by ${growth.toFixed(1)} MB`);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test('NIfTI: a header declaring 4096^3 voxels and a .nii.gz inflating past its header are refused before decompression', async () => {
  const pid = server!.child.pid!;
  const rss0 = resetPeak(pid);
  // 4096^3 uint8 voxels declared; 1 KB of data
  let r = await timed(`${base}/v1/predict`, gzipSync(Buffer.concat([niftiHeader([4096, 4096, 4096]), Buffer.alloc(1024)])));
  assert.equal(r.status, 413);
  assert.match(r.j.message, /4096x4096x4096 is more than max-voxels/);
  const big = r.ms;
  // a 16^3 header followed by 512 MB of zeros: inflated no further than the header's size
  const header = niftiHeader([16, 16, 16]);
  const gz = Buffer.concat([gzipSync(header), gzipSync(Buffer.alloc(1 << 29), { level: 9 })]); // two members read as one stream
  r = await timed(`${base}/v1/predict`, gz);
  assert.equal(r.status, 413);
  assert.match(r.j.message, /decompresses to more than the 4448 bytes its header declares/);
  const growth = peakMb(pid) - rss0;
  console.log(`# NIfTI 4096^3 header: 413 in ${big.toFixed(1)} ms; .nii.gz of 512 MB behind a 16^3 header ` +
    `(${(gz.length / 1024).toFixed(0)} KB): 413 in ${r.ms.toFixed(1)} ms; peak RSS growth ${growth.toFixed(1)} MB`);
  assert.ok(big < 100 && r.ms < 100, `${big} ms, ${r.ms} ms`);
  assert.ok(growth < 50, `serve grew by ${growth.toFixed(1)} MB`);
  // an honest small volume still runs
  const ok = await fetch(`${base}/v1/predict?format=json`, { method: 'POST', body: gzipSync(Buffer.concat([header, Buffer.alloc(4096, 7)])) });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal((await ok.json() as any).depth, 16);
});

test('a tile and TTA that would run thousands of windows are refused up front', async () => {
  const img = await grey(1024, 1024);
  const r = await timed(`${base}/v1/predict?tile=16&tta=1`, img);
  assert.equal(r.status, 413);
  assert.match(r.j.message, /tile 16x16 with tta \(4 flips\) runs \d+ windows per image, more than max-windows 1024/);
  assert.ok(r.ms < 200, `${r.ms} ms`);
});

test('a full service answers 503 before the body is sent', async () => {
  // max-batch 1 + max-queue 1: two uploads in flight fill it; they send their headers, then stall
  const port = Number(new URL(base).port);
  const open = (len: number) => {
    const s = connect(port, '127.0.0.1');
    s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${len}\r\n\r\n`);
    return s;
  };
  const stalled = [open(1000), open(1000)];
  await new Promise((r) => setTimeout(r, 100));
  const third = open(50 * 1024 * 1024); // its 50 MB never come
  const t0 = performance.now();
  const answer = await new Promise<string>((resolve) => { let text = ''; third.on('data', (d) => { text += d; if (text.includes('\r\n\r\n')) resolve(text); }); });
  const ms = performance.now() - t0;
  console.log(`# full service: 503 after ${ms.toFixed(1)} ms, without the body`);
  assert.match(answer, /^HTTP\/1.1 503/);
  assert.match(answer, /retry-after: \d+/i);
  assert.match(answer, /connection: close/i);
  assert.ok(ms < 100, `${ms} ms`);
  for (const s of [...stalled, third]) s.destroy();
});

test('plans of many image sizes stay within --plan-cache', async () => {
  const pid = server!.child.pid!;
  const before = kb('VmRSS', readFileSync(`/proc/${pid}/status`, 'utf8'));
  for (let s = 64; s < 64 + 12 * 8; s += 8) {
    const img = await grey(s, s + 4);
    const r = await fetch(`${base}/v1/predict`, { method: 'POST', body: img });
    assert.equal(r.status, 200);
  }
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.match(m, /unetpp_plan_cache_bytes \d+/);
  const held = Number(/unetpp_plan_cache_bytes (\d+)/.exec(m)![1]);
  assert.ok(held > 0 && held <= 4 * 2 ** 20, `plans hold ${held} bytes`);
  const after = kb('VmRSS', readFileSync(`/proc/${pid}/status`, 'utf8'));
  console.log(`# 12 image sizes: plans held ${(held / 1024).toFixed(0)} KB (budget 4 MB); RSS ${(before / 1024).toFixed(0)} -> ` +
    `${(after / 1024).toFixed(0)} MB`);
});

test('a 3D model\'s volume is costed on the grid it resamples to; NIfTI-2 headers are read too', async () => {
  const h = niftiHeader([64, 64, 64]); // 1 mm voxels: 262,144 of them
  const lim = { maxPixels: 1 << 20, maxVoxels: 1 << 20 };
  await admitUpload(h, 'nifti', 'v.nii', lim, { dims: 3, spacing: [1, 1, 1] });
  // at 0.25 mm the model would run 256^3 = 16.8 M voxels
  await assert.rejects(admitUpload(h, 'nifti', 'v.nii', lim, { dims: 3, spacing: [0.25, 0.25, 0.25] }),
    (e: any) => e.status === 413 && /64x64x64 at 1x1x1 mm is 256x256x256 at the model's 0.25x0.25x0.25 mm, more than max-voxels/.test(e.message));
  const n2 = Buffer.alloc(544);
  n2.writeInt32LE(540, 0);
  n2.writeInt16LE(16, 12); // int16
  n2.writeInt16LE(16, 14);
  n2.writeBigInt64LE(3n, 16);
  [300n, 200n, 100n].forEach((d, i) => n2.writeBigInt64LE(d, 24 + 8 * i));
  [0.5, 0.5, 2].forEach((p, i) => n2.writeDoubleLE(p, 112 + 8 * i));
  n2.writeBigInt64LE(544n, 168);
  assert.deepEqual(niftiSizes(n2),
    { dims: [300, 200, 100], voxels: 6e6, spacing: [0.5, 0.5, 2], bitsPerVoxel: 16, voxOffset: 544, fileBytes: 544 + 12e6 });
});
