// `unetpp serve` as a real process on a free port, called over HTTP: results equal to
// `unetpp predict` byte for byte, micro-batches, errors by kind, metrics, overload (503),
// timeouts (504), health checks answered between batches, and draining on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { writeSynthetic } from '../../src/data/images/synthetic.js';
import { writeNifti } from '../../src/data/formats/nifti.js';
import { readImage } from '../../src/data/images/read-image.js';
import { loadModelSource } from '../../src/cli/model-source.js';
import { createPredictor } from '../../src/infer/predict.js';
import { predictImage } from '../../src/infer/files.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { BACKEND, cli, startCli, stop, tinyCheckpoint, type Proc } from '../helpers/services.js';

let tmp: string, ckpt: string, images: string[], server: Proc | undefined, base: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-serve-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  tinyCheckpoint(join(tmp, 'three.safetensors'), { seed: 2, classes: 3 });
  await writeSynthetic(join(tmp, 'syn'), { count: 6, width: 40, height: 36, channels: 1, seed: 1 });
  images = readdirSync(join(tmp, 'syn', 'images')).map((n) => join(tmp, 'syn', 'images', n));
  const s = await startCli(['serve', '-m', ckpt, '--model', `three=${join(tmp, 'three.safetensors')}`, '--port', '0', '--backend', BACKEND,
    '--max-batch', '4', '--max-wait', '30', '--body-limit', '0.25'], /listening on (http:\/\/\S+)/);
  server = s;
  base = s.match[1];
});

after(async () => {
  await stop(server);
  rmSync(tmp, { recursive: true, force: true });
});

const post = (path: string, body: Uint8Array | string, type = 'application/octet-stream') =>
  fetch(base + path, { method: 'POST', body: body as BodyInit, headers: { 'content-type': type } });

test('masks equal unetpp predict byte for byte (raw body, multipart, tta/level/threshold, JPEG, TIFF, NIfTI)', async () => {
  // probabilities bit for bit as the library computes them for the file
  const src = loadModelSource({ model: ckpt });
  const predictor = createPredictor(src.models[0], { backend: getBackend(BACKEND, 'fp32', 'infer') });
  const img = await readImage(images[0], { channels: 1 });
  assert.equal(src.meta.input.kind, 'image');
  const want = predictImage(predictor, img, { normalize: src.meta.input.kind === 'image' ? src.meta.input.normalize : undefined }).data;
  const j = await (await post('/v1/predict?format=json&probabilities=1', readFileSync(images[0]))).json() as any;
  assert.deepEqual(j.probabilities.shape, [1, 36, 40]);
  const got = new Float32Array(new Uint8Array(Buffer.from(j.probabilities.data, 'base64')).buffer);
  assert.deepEqual(got, want);
  const t = [...want].sort((a, b) => a - b)[want.length >> 1]; // a threshold that makes a non-trivial mask
  for (const [query, flags] of [[`threshold=${t}`, ['--threshold', String(t)]], ['tta=1&level=1', ['--tta', '--level', '1']]] as const) {
    const out = join(tmp, `cli-${flags[0]}`);
    const r = cli(['predict', join(tmp, 'syn', 'images'), '-m', ckpt, '-o', out, '--backend', BACKEND, ...flags]);
    assert.equal(r.status, 0, r.stderr);
    for (const [i, f] of images.entries()) {
      const body = readFileSync(f);
      let res: Response;
      if (i % 2) {
        const form = new FormData();
        form.append('file', new Blob([body], { type: 'image/png' }), 'x.png');
        res = await fetch(`${base}/v1/predict?${query}`, { method: 'POST', body: form });
      } else {
        res = await post(`/v1/predict?${query}`, body, 'image/png');
      }
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(join(out, f.split('/').pop()!)), `${f} ${query}`);
    }
  }
  // JPEG and TIFF decode from the body as predict decodes the file
  for (const [ext, enc] of [['jpg', (x: Sharp) => x.jpeg()], ['tif', (x: Sharp) => x.tiff()]] as const) {
    const f = join(tmp, `one.${ext}`);
    await enc(sharp(images[0])).toFile(f);
    const r = cli(['predict', f, '-m', ckpt, '-o', join(tmp, `cli-${ext}`), '--backend', BACKEND, '--threshold', String(t)]);
    assert.equal(r.status, 0, r.stderr);
    const res = await post(`/v1/predict?threshold=${t}`, readFileSync(f), 'image/jpeg');
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(join(tmp, `cli-${ext}`, 'one.png')), ext);
  }
  // a volume, through predictVolume as predict runs it
  const vol = new Float32Array(40 * 36 * 3).map((_, i) => Math.sin(i * 0.05));
  const nii = join(tmp, 'vol.nii.gz');
  await writeNifti(nii, { dims: [40, 36, 3], spacing: [1, 1, 2], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], data: vol }, { datatype: 'float32' });
  const r = cli(['predict', nii, '-m', ckpt, '-o', join(tmp, 'cli-vol'), '--backend', BACKEND]);
  assert.equal(r.status, 0, r.stderr);
  const res = await post('/v1/predict', readFileSync(nii));
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(join(tmp, 'cli-vol', 'vol.nii.gz')));
  const vj = await (await post('/v1/predict?format=json', readFileSync(nii))).json() as any;
  assert.equal(vj.kind, 'volume');
  assert.equal(vj.depth, 3);
  if (vj.classes.length) assert.equal(vj.classes[0].volumeMm3, vj.classes[0].voxels * 2);
});

test('concurrent requests of one size run as micro-batches with the same masks', async () => {
  const bodies = images.slice(0, 4).map((f) => readFileSync(f));
  const single = await Promise.all(bodies.map(async (b) => Buffer.from(await (await post('/v1/predict?format=json&probabilities=1', b)).arrayBuffer())));
  const before = await (await fetch(`${base}/metrics`)).text();
  const count = (text: string) => Number(/unetpp_batch_size_count (\d+)/.exec(text)?.[1] ?? 0);
  const sum = (text: string) => Number(/unetpp_batch_size_sum (\d+)/.exec(text)?.[1] ?? 0);
  const many = await Promise.all(bodies.map(async (b) => (await post('/v1/predict?format=json&probabilities=1', b)).json() as Promise<any>));
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.equal(sum(m) - sum(before), 4);
  assert.ok(count(m) - count(before) < 4, 'some requests shared a batch');
  for (const [i, j] of many.entries()) {
    const s = JSON.parse(single[i].toString());
    const a = new Float32Array(new Uint8Array(Buffer.from(j.probabilities.data, 'base64')).buffer);
    const b = new Float32Array(new Uint8Array(Buffer.from(s.probabilities.data, 'base64')).buffer);
    for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-6, `probability ${k}: ${a[k]} vs ${b[k]}`);
    assert.deepEqual(j.classes, s.classes);
  }
  assert.match(m, /unetpp_http_requests_total\{method="POST",route="\/v1\/predict",status="200"\} \d+/);
  assert.match(m, /unetpp_queue_depth 0/);
  assert.match(m, /unetpp_http_request_duration_seconds_bucket/);
});

test('bad requests get 415, 400, 404, 413 naming the problem; the service stays up', async () => {
  const png = readFileSync(images[0]);
  let r = await post('/v1/predict', 'hello, not an image', 'text/plain');
  assert.equal(r.status, 415);
  assert.match((await r.json() as any).message, /not a supported file.*PNG, JPEG, TIFF, NIfTI/);
  r = await post('/v1/predict', png.subarray(0, 80), 'image/png');
  assert.equal(r.status, 400);
  assert.match((await r.json() as any).message, /corrupt PNG image/);
  r = await post('/v1/predict?model=nope', png);
  assert.equal(r.status, 404);
  assert.match((await r.json() as any).message, /unknown model "nope"; served: default, three/);
  r = await post('/v1/predict', Buffer.concat([png, Buffer.alloc(300 * 1024)]));
  assert.equal(r.status, 413);
  r = await post('/v1/predict?tile=5', png);
  assert.equal(r.status, 400);
  assert.match((await r.json() as any).message, /tile: 5 is not a positive multiple/);
  r = await post('/v1/predict?format=xml', png);
  assert.equal(r.status, 400);
  assert.match((await r.json() as any).message, /query parameter format: expected one of png, json, nifti/);
  r = await post('/v1/predict?format=nifti', png);
  assert.equal(r.status, 400);
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).gif().toBuffer();
  r = await post('/v1/predict', gif, 'image/gif');
  assert.equal(r.status, 415);
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.match(m, /unetpp_errors_total\{kind="unsupported_type"\} 2/);
  assert.match(m, /unetpp_errors_total\{kind="unknown_model"\} 1/);
  assert.match(m, /unetpp_errors_total\{kind="too_large"\} 1/);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test('models, readiness, OpenAPI; several classes answer a label PNG', async () => {
  const models = (await (await fetch(`${base}/v1/models`)).json() as any).models;
  assert.deepEqual(models.map((m: any) => [m.name, m.classes, m.params > 0, m.levels.join(',')]), [['default', 1, true, '1,2'], ['three', 3, true, '1,2']]);
  assert.equal(models[0].precision, 'fp32');
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const spec = await (await fetch(`${base}/openapi.json`)).json() as any;
  assert.equal(spec.openapi, '3.0.3');
  assert.ok(spec.paths['/v1/predict'].post.responses['503']);
  const r = await post('/v1/predict?model=three', readFileSync(images[0]));
  assert.equal(r.status, 200);
  const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [40, 36, 1]);
  const j = await (await post('/v1/predict?model=three&format=json', readFileSync(images[0]))).json() as any;
  assert.equal(j.classes.length, 3);
  assert.equal(j.classes.reduce((n: number, c: any) => n + c.pixels, 0), 40 * 36); // softmax: one class a pixel
});

const bigPng = () => sharp(Buffer.from(new Uint8Array(256 * 256).map((_, i) => (i * 37) % 251)), { raw: { width: 256, height: 256, channels: 1 } }).png().toBuffer();

test('a full queue answers 503 with Retry-After; a request not run within the timeout 504', async () => {
  // batches wait 400 ms for partners: longer than the timeout, and the queue holds 3
  const s = await startCli(['serve', '-m', ckpt, '--port', '0', '--backend', BACKEND, '--max-batch', '8', '--max-wait', '400', '--max-queue', '3', '--timeout', '150'], /listening on (http:\/\/\S+)/);
  try {
    const body = readFileSync(images[0]);
    const res = await Promise.all(Array.from({ length: 6 }, () => fetch(`${s.match[1]}/v1/predict`, { method: 'POST', body })));
    assert.deepEqual(res.map((r) => r.status).sort(), [503, 503, 503, 504, 504, 504]);
    const busy = res.find((r) => r.status === 503)!;
    assert.ok(Number(busy.headers.get('retry-after')) >= 1);
    assert.match((await busy.json() as any).message, /max-queue 3/);
    assert.match((await res.find((r) => r.status === 504)!.json() as any).message, /within 150 ms \(timeout\)/);
    assert.equal((await fetch(`${s.match[1]}/healthz`)).status, 200);
  } finally {
    await stop(s);
  }
});

test('health checks answer between batches; SIGTERM answers the requests in flight, then exits', async () => {
  const big = await bigPng();
  await post('/v1/predict', big); // compiles the plan
  const t0 = performance.now();
  const done: number[] = [];
  const reqs = Array.from({ length: 8 }, () => post('/v1/predict', big).then((r) => { done.push(performance.now() - t0); return r.status; }));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const healthAt = performance.now() - t0;
  assert.deepEqual(await Promise.all(reqs), Array(8).fill(200));
  assert.ok(healthAt < Math.max(...done), `healthz at ${healthAt.toFixed(0)} ms, last prediction at ${Math.max(...done).toFixed(0)} ms`);
  const inflight = Array.from({ length: 3 }, () => post('/v1/predict', big).then((r) => r.status));
  await new Promise((r) => setTimeout(r, 50));
  server!.child.kill('SIGTERM');
  assert.deepEqual(await Promise.all(inflight), [200, 200, 200]);
  assert.equal(await server!.exited, 0);
  assert.match(server!.out(), /SIGTERM: draining/);
});
