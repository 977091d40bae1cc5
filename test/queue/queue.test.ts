// `unetpp worker` and `unetpp submit` on a real redis-server (Debian's, on a free port):
// masks equal to unetpp predict, failures per file with the reason, a resubmission that only
// skips, and a worker killed with SIGKILL mid-run whose job another worker takes over.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeSynthetic } from '../../src/data/images/synthetic.js';
import { BACKEND, MAIN, REDIS_MISSING, cli, freePort, startCli, startRedis, stop, tinyCheckpoint, type Proc } from '../helpers/services.js';

let tmp: string, ckpt: string, redis: Proc | undefined, url: string;

before(async () => {
  if (REDIS_MISSING) return;
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-queue-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  await writeSynthetic(join(tmp, 'syn'), { count: 8, width: 40, height: 36, channels: 1, seed: 4 });
  const port = await freePort();
  redis = await startRedis(port);
  url = `redis://127.0.0.1:${port}`;
});

after(async () => {
  await stop(redis);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const worker = (extra: string[] = []) => startCli(['worker', '--redis', url, '--backend', BACKEND, '--queues', 'predict', '--roots', tmp, '--lock-duration', '1000', '--stalled-interval', '300', ...extra], /waiting for jobs/);
const visible = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith('.')); // job records are hidden files

/** Runs submit to its end, asynchronously (workers run meanwhile in other processes). */
function submit(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [MAIN, 'submit', ...args, '--redis', url, '--backoff', '100'], { env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

test('two workers predict a folder as unetpp predict does; a corrupt file fails with its reason; a resubmission skips', { skip: REDIS_MISSING }, async () => {
  const images = join(tmp, 'syn', 'images');
  writeFileSync(join(tmp, 'bad.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not a png'));
  const ws = [await worker(), await worker()];
  try {
    const out = join(tmp, 'q');
    const r = await submit([images, join(tmp, 'bad.png'), '-m', ckpt, '-o', out, '--attempts', '2']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /9 file\(s\): 8 predicted, 0 already done, 1 failed/);
    assert.match(r.stdout, /failed: .*bad\.png: .*cannot read image.* \(2 attempt\(s\)\)/);
    assert.match(r.stderr, /1 of 9 file\(s\) failed/);
    const local = cli(['predict', images, '-m', ckpt, '-o', join(tmp, 'local'), '--backend', BACKEND]);
    assert.equal(local.status, 0, local.stderr);
    const names = readdirSync(join(tmp, 'local'));
    // each input's folder relative to the inputs' common root (tmp) is kept under -o
    const masks = join(out, 'syn', 'images');
    assert.deepEqual(visible(masks).sort(), names.sort()); // nothing else (no temporary files)
    assert.equal(readdirSync(masks).filter((n) => n.endsWith('.unetpp.json')).length, 8); // one record per mask
    for (const n of names) assert.deepEqual(readFileSync(join(masks, n)), readFileSync(join(tmp, 'local', n)), n);
    const again = await submit([images, join(tmp, 'bad.png'), '-m', ckpt, '-o', out, '--attempts', '1']);
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stdout, /9 file\(s\): 0 predicted, 8 already done, 1 failed/);
    // one folder alone is its own root: its masks go straight into -o, as unetpp predict writes them
    const flat = await submit([images, '-m', ckpt, '-o', join(tmp, 'flat')]);
    assert.equal(flat.status, 0, flat.stderr);
    assert.deepEqual(visible(join(tmp, 'flat')).sort(), names.sort());
    const both = ws.map((w) => (w.out().match(/predicted \//g) ?? []).length);
    assert.equal(both[0] + both[1], 16);
  } finally {
    await Promise.all(ws.map((w) => stop(w)));
  }
});

test('a worker killed with SIGKILL mid-job: its job is taken over by another worker, every image is done once', { skip: REDIS_MISSING }, async () => {
  const dir = join(tmp, 'big');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  for (let i = 0; i < 10; i++) {
    const px = new Uint8Array(384 * 384).map((_, k) => ((k + 7 * i) * 31) % 253);
    await sharp(Buffer.from(px), { raw: { width: 384, height: 384, channels: 1 } }).png().toFile(join(dir, `img${i}.png`));
  }
  const a = await worker();
  let b: Proc | undefined;
  try {
    const out = join(tmp, 'qbig');
    const run = submit([dir, '-m', ckpt, '-o', out, '--tta']);
    // kill A while it holds a job: once it has finished one, it is in the middle of the next
    for (let t = 0; !/predicted \//.test(a.out()); t++) {
      assert.ok(t < 600, `worker A did nothing:\n${a.out()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    a.child.kill('SIGKILL');
    await a.exited;
    b = await worker();
    const r = await run;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /10 file\(s\): 10 predicted, 0 already done, 0 failed/);
    assert.match(b.out(), /stalled .*back in the queue/);
    const local = cli(['predict', dir, '-m', ckpt, '-o', join(tmp, 'localbig'), '--backend', BACKEND, '--tta']);
    assert.equal(local.status, 0, local.stderr);
    const done = visible(out).filter((n) => n.endsWith('.png'));
    assert.equal(done.length, 10);
    for (const n of done) assert.deepEqual(readFileSync(join(out, n)), readFileSync(join(tmp, 'localbig', n)), n);
  } finally {
    await stop(a, 'SIGKILL');
    await stop(b);
  }
});

test('worker --job-timeout: a prediction past it stops and fails with the reason; the worker does the next job', { skip: REDIS_MISSING }, async () => {
  const dir = join(tmp, 'timeout-in');
  mkdirSync(dir);
  // a 1024x1024 image with TTA: seconds of work for the tiny model, stopped after 400 ms
  const px = Buffer.from(new Uint8Array(1024 * 1024).map((_, i) => (i * 13 + (i % 1024) * 7) % 251));
  await sharp(px, { raw: { width: 1024, height: 1024, channels: 1 } }).png().toFile(join(dir, 'big.png'));
  const w = await worker(['--job-timeout', '400']);
  try {
    const t0 = performance.now();
    const r = await submit([join(dir, 'big.png'), '-m', ckpt, '-o', join(tmp, 'timeout-out'), '--tta', '--attempts', '1']);
    const ms = performance.now() - t0;
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /1 file\(s\): 0 predicted, 0 already done, 1 failed/);
    assert.match(r.stdout, /big\.png: the prediction did not finish within 400 ms \(worker --job-timeout\); it was stopped/);
    console.log(`# stopped job reported by submit after ${ms.toFixed(0)} ms`);
    // the same worker process takes the next job and predicts it
    const small = join(tmp, 'syn', 'images');
    const next = await submit([small, '-m', ckpt, '-o', join(tmp, 'after-timeout')]);
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stdout, /8 file\(s\): 8 predicted/);
    assert.equal(w.child.exitCode, null, 'the worker lives on');
  } finally {
    await stop(w);
  }
});
