// Predictions in worker threads (serve --workers): health checks answer while a long prediction
// runs (and stall without workers); two workers predicting at once give the bytes of the main
// thread; --timeout stops a running prediction (504 naming the timeout), its memory is given
// back, and the service keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeNifti } from '../../src/data/formats/nifti-encode.js';
import { BACKEND, startCli, stop, tinyCheckpoint } from '../helpers/services.js';

let tmp: string, ckpt: string, small: Buffer, mid: Buffer, big: Buffer, volume: Buffer;

/** A grey PNG of w x h with some structure. */
const png = (w: number, h: number) =>
  sharp(Buffer.from(new Uint8Array(w * h).map((_, i) => (i * 13 + (i % w) * 7) % 251)), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-workers-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  small = await png(40, 36);
  mid = await png(512, 512);
  big = await png(1024, 1024);
  const dims = [40, 36, 6];
  const data = new Float32Array(dims[0] * dims[1] * dims[2]).map((_, i) => Math.sin(i * 0.05) * 100);
  volume = gzipSync(encodeNifti({ dims, spacing: [1, 1, 2], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], data }, 'float32'));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

const serve = (extra: string[]) =>
  startCli(['serve', '-m', ckpt, '--port', '0', '--backend', BACKEND, '--no-warm', ...extra], /listening on (http:\/\/\S+)/);
const post = (base: string, query: string, body: Buffer) =>
  fetch(`${base}/v1/predict${query}`, { method: 'POST', body: body as BodyInit });

/** /healthz answer times (ms, sorted) while `work` runs, polling every 40 ms. */
async function healthDuring(base: string, work: Promise<unknown>): Promise<number[]> {
  let done = false;
  const times: number[] = [];
  void work.finally(() => { done = true; });
  while (!done) {
    const t0 = performance.now();
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    times.push(performance.now() - t0); // asked while the prediction ran
    await new Promise((r) => setTimeout(r, 40));
  }
  return times.sort((a, b) => a - b);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

test('a long prediction in a worker: /healthz answers in < 100 ms meanwhile (it waits without workers)', async () => {
  for (const workers of ['1', '0']) {
    const s = await serve(['--workers', workers]);
    try {
      const base = s.match[1];
      const t0 = performance.now();
      const work = post(base, '?tta=1&format=json', mid).then(async (r) => { assert.equal(r.status, 200, await r.text()); });
      await new Promise((r) => setTimeout(r, 100)); // the upload is in, the prediction started
      const times = await healthDuring(base, work);
      const ms = performance.now() - t0;
      const [p50, p95, worst] = [pct(times, 0.5), pct(times, 0.95), times[times.length - 1] ?? 0];
      console.log(`# --workers ${workers}: 512x512 with TTA in ${ms.toFixed(0)} ms; ${times.length} health checks meanwhile: ` +
        `p50 ${p50?.toFixed(1)} ms, p95 ${p95?.toFixed(1)} ms, slowest ${worst.toFixed(1)} ms (load average ${loadavg()[0].toFixed(1)})`);
      if (workers === '1') {
        assert.ok(times.length >= 5, `the prediction should last a while: ${ms.toFixed(0)} ms, ${times.length} health checks`);
        // the bound is on nearly all answers: on a busy 2-core machine a thread is sometimes descheduled
        assert.ok(p95 < 100, `95% of the health checks within ${p95.toFixed(1)} ms during the prediction`);
        assert.ok(worst < 500, `slowest health check ${worst.toFixed(1)} ms during the prediction`);
      } else {
        assert.ok(worst > 500, `on the main thread the health check waits for the prediction: ${worst.toFixed(1)} ms`);
      }
    } finally {
      await stop(s);
    }
  }
});

test('two workers predicting at once give the main thread\'s bytes (PNG, probabilities, NIfTI)', async () => {
  const queries = ['', '?format=json&probabilities=1', '?tta=1'];
  const answers = async (base: string) => {
    const runs = [
      ...queries.map((q) => post(base, q, small)), post(base, '?tile=64', mid),
      post(base, '', volume), post(base, '?format=json', volume),
    ];
    return Promise.all(runs.map(async (r) => {
      const res = await r;
      assert.equal(res.status, 200, `${res.status}: ${await res.clone().text()}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (!res.headers.get('content-type')?.includes('json')) return bytes;
      const { ms: _, ...rest } = JSON.parse(bytes.toString()); // all but the time taken
      return Buffer.from(JSON.stringify(rest));
    }));
  };
  const main = await serve(['--workers', '0']);
  let here: Buffer[];
  try { here = await answers(main.match[1]); } finally { await stop(main); }
  const pool = await serve(['--workers', '2', '--max-batch', '2']);
  try {
    assert.match(pool.out(), /2 worker thread\(s\)/);
    const there = await answers(pool.match[1]);
    there.forEach((b, i) => assert.ok(b.equals(here[i]), `answer ${i} differs between the main thread and the workers`));
  } finally {
    await stop(pool);
  }
  assert.equal(await pool.exited, 0, `clean exit with two workers:\n${pool.out()}`);
});

const rss = async (base: string) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^unetpp_process_resident_memory_bytes (\S+)/m.exec(text)![1]) / 2 ** 20;
};

// todo: the memory of stopped workers does not always come back (docs/serve.md, "Worker threads")
test('--timeout stops a running prediction: 504 naming the timeout, memory back, the service serves on', {
  todo: 'the RSS of stopped workers is not always given back',
}, async () => {
  const s = await serve(['--timeout', '1500']);
  const base = s.match[1];
  try {
    assert.equal((await post(base, '', small)).status, 200);
    const before = await rss(base);
    const rows: string[] = [];
    const after: number[] = [];
    for (let round = 0; round < 5; round++) {
      const t0 = performance.now();
      const pending = post(base, '?tta=1', big);
      await new Promise((r) => setTimeout(r, 1300));
      const peak = await rss(base); // the worker's plans and activations are allocated by now
      const r = await pending;
      const ms = performance.now() - t0;
      const body = await r.json() as { error: string; message: string };
      console.log(`# round ${round}: ${r.status} after ${ms.toFixed(0)} ms: ${body.message} (load average ${loadavg()[0].toFixed(1)})`);
      assert.equal(r.status, 504);
      assert.equal(body.error, 'timeout');
      assert.match(body.message, /within 1500 ms \(timeout\); its prediction was stopped \(serve --timeout\)/);
      assert.ok(ms >= 1400 && ms < 3000, `answered after ${ms.toFixed(0)} ms`);
      // the service keeps serving: a new worker takes the stopped one's place (/readyz counts them)
      const t1 = performance.now();
      while ((await (await fetch(`${base}/readyz`)).json() as { workers: number }).workers < 1) {
        assert.ok(performance.now() - t1 < 30000, 'no worker thread back within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      const back = performance.now() - t1;
      while ((s.out().match(/the stopped worker thread exited/g) ?? []).length <= round) {
        assert.ok(performance.now() - t1 < 30000, 'the stopped worker thread did not exit within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      const ok = await post(base, '', small);
      assert.equal(ok.status, 200);
      after.push(await rss(base));
      rows.push(`${peak.toFixed(0)} -> ${after[round].toFixed(0)} (new worker in ${back.toFixed(0)} ms)`);
    }
    console.log(`# RSS ${before.toFixed(0)} MB before; while running -> after the stop and one request: ${rows.join('; ')}`);
    // stopped predictions do not pile up: each one's memory is given back or reused by the next
    // worker (a leak of its plans would add hundreds of MB a round)
    const growth = after[4] - after[1];
    assert.ok(growth < 150, `RSS grew ${growth.toFixed(0)} MB from the 2nd to the 5th stopped prediction: ${after.map((m) => m.toFixed(0)).join(', ')}`);
    assert.match(s.out(), /worker thread stopped \(a job ran past --timeout 1500 ms\); starting another/);
    assert.match(s.out(), /a new worker thread is ready/);
  } finally {
    await stop(s);
  }
  assert.equal(await s.exited, 0);
});
