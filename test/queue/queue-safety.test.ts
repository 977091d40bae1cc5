// `unetpp worker` and `submit` against wrong masks and hostile jobs, on a real redis-server:
// colliding output names (refused before queueing, or kept apart by folder), jobs naming
// paths outside the worker's --roots, "already done" only for outputs that match the job,
// a Redis lost and restarted under a running submit, and a password in the Redis URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import sharp from 'sharp';
import { Redis } from 'ioredis';
import { PREDICT_QUEUE } from '../../src/queue/connection.js';
import type { PredictJob } from '../../src/queue/jobs.js';
import { BACKEND, MAIN, REDIS_MISSING, cli, freePort, startCli, startRedis, stop, tinyCheckpoint, type Proc } from '../helpers/services.js';

let tmp: string, ckpt: string, redis: Proc | undefined, port: number, url: string;

const grey = (file: string, seed: number, w = 40, h = 36) =>
  sharp(Buffer.from(new Uint8Array(w * h).map((_, i) => ((i + 11 * seed) * 29) % 253)), { raw: { width: w, height: h, channels: 1 } }).toFile(file);

before(async () => {
  if (REDIS_MISSING) return;
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-qsafe-'));
  for (const d of ['dir1', 'dir2', 'outside', 'ckpts', 'q']) mkdirSync(join(tmp, d));
  ckpt = tinyCheckpoint(join(tmp, 'ckpts', 'tiny.safetensors'));
  tinyCheckpoint(join(tmp, 'ckpts', 'other.safetensors'), { seed: 9 });
  tinyCheckpoint(join(tmp, 'outside', 'tiny.safetensors')); // the same model, outside the roots
  await grey(join(tmp, 'dir1', 'dup.png'), 1);
  await sharp(join(tmp, 'dir1', 'dup.png')).jpeg().toFile(join(tmp, 'dir1', 'dup.jpg'));
  await grey(join(tmp, 'dir2', 'dup.png'), 2, 48, 30); // another size: its mask cannot pass for dir1's
  port = await freePort();
  redis = await startRedis(port);
  url = `redis://127.0.0.1:${port}`;
});

after(async () => {
  await stop(redis);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const ROOTS = ['dir1', 'dir2', 'q', 'ckpts'];
const worker = (extraRoots: string[] = [], redisUrl = url, env: Record<string, string> = {}) => {
  const roots = [...ROOTS, ...extraRoots].map((d) => join(tmp, d)).join(',');
  return startCli(['worker', '--redis', redisUrl, '--backend', BACKEND, '--queues', 'predict', '--roots', roots], /waiting for jobs/, env);
};

type Ran = Promise<{ status: number | null; stdout: string; stderr: string }>;

/** `unetpp submit` to its end, in a process of its own (workers run meanwhile). */
function submit(args: string[], redisUrl = url, env: Record<string, string> = {}): Ran {
  const c = spawn(process.execPath, [MAIN, 'submit', ...args, '--redis', redisUrl, '--backoff', '100', '--attempts', '1'],
    { env: { ...process.env, OMP_WAIT_POLICY: 'passive', ...env } });
  let stdout = '', stderr = '';
  c.stdout.on('data', (d) => (stdout += d));
  c.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => c.on('exit', (status) => resolve({ status, stdout, stderr })));
}

const local = (input: string, out: string, extra: string[] = []) => {
  const r = cli(['predict', input, '-m', ckpt, '-o', out, '--backend', BACKEND, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return out;
};

test('colliding output names: refused before anything is queued; the same names in different folders stay apart', { skip: REDIS_MISSING }, async () => {
  const out = join(tmp, 'q', 'collide');
  const r = await submit([join(tmp, 'dir1'), join(tmp, 'dir2'), '-m', ckpt, '-o', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /output names collide, nothing was queued/);
  assert.match(r.stderr, /dir1\/dup\.jpg and .*dir1\/dup\.png would both write .*collide\/dir1\/dup\.png|dir1\/dup\.png and .*dir1\/dup\.jpg would both write/);
  assert.ok(!existsSync(out));
  const redisCli = new Redis(url);
  assert.equal(await redisCli.exists(`bull:${PREDICT_QUEUE}:id`), 0, 'no job was added');
  await redisCli.quit();
  // dir1/dup.png and dir2/dup.png: one mask each, under their own folder, each as predict writes it
  const w = await worker();
  try {
    const ok = await submit([join(tmp, 'dir1', 'dup.png'), join(tmp, 'dir2', 'dup.png'), '-m', ckpt, '-o', out]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /2 file\(s\): 2 predicted, 0 already done, 0 failed/);
    for (const d of ['dir1', 'dir2']) {
      const want = readFileSync(join(local(join(tmp, d, 'dup.png'), join(tmp, `local-${d}`)), 'dup.png'));
      assert.deepEqual(readFileSync(join(out, d, 'dup.png')), want, d);
    }
  } finally {
    await stop(w);
  }
});

test('a job naming a path outside the worker\'s --roots fails with a clear error and writes nothing there', { skip: REDIS_MISSING }, async () => {
  assert.match(cli(['worker', '--redis', url, '--backend', BACKEND]).stderr, /give --roots DIR/);
  const w = await worker();
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue<PredictJob>(PREDICT_QUEUE, { connection });
  try {
    const inside = join(tmp, 'dir2', 'dup.png');
    symlinkSync(join(tmp, 'outside'), join(tmp, 'dir2', 'sneaky'));
    const base: PredictJob = { input: inside, outDir: join(tmp, 'q', 'fine'), checkpoint: ckpt, predictor: {}, threshold: 0.5 };
    const hostile: [string, Partial<PredictJob>, RegExp][] = [
      ['dotdot', { outDir: join(tmp, 'q', '..', '..', 'escape') }, /job outDir .* is outside this worker's --roots/],
      ['input', { input: join(tmp, 'outside', 'x.png') }, /job input .* is outside this worker's --roots/],
      ['checkpoint', { checkpoint: join(tmp, 'outside', 'tiny.safetensors') }, /job checkpoint .* is outside this worker's --roots/],
      ['symlink', { outDir: join(tmp, 'dir2', 'sneaky', 'deeper') }, /job outDir .*sneaky\/deeper \(.*outside\/deeper\) is outside/],
      ['relative', { outDir: 'q/relative' }, /job outDir q\/relative: not an absolute path/],
    ];
    await grey(join(tmp, 'outside', 'x.png'), 3);
    for (const [id, patch] of hostile) await queue.add('predict', { ...base, ...patch }, { jobId: `hostile-${id}`, attempts: 1 });
    for (const [id, , reason] of hostile) {
      let job;
      for (let t = 0; !(job = await queue.getJob(`hostile-${id}`))?.finishedOn; t++) {
        assert.ok(t < 200, id);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(job.failedReason, `${id} did not fail`);
      assert.match(job.failedReason, reason);
    }
    assert.ok(!existsSync(join(tmp, '..', 'escape')));
    assert.deepEqual(readdirSync(join(tmp, 'outside')).sort(), ['tiny.safetensors', 'x.png']);
    assert.ok(!existsSync(join(tmp, 'q', 'fine')));
  } finally {
    await queue.close();
    connection.disconnect();
    await stop(w);
  }
});

test('"already done" only for outputs that match the job: another threshold, checkpoint or a damaged mask is redone', { skip: REDIS_MISSING }, async () => {
  const w = await worker();
  const out = join(tmp, 'q', 'match');
  const input = join(tmp, 'dir2', 'dup.png');
  const run = (extra: string[] = [], model = ckpt) => submit([input, '-m', model, '-o', out, ...extra]);
  try {
    assert.match((await run()).stdout, /1 file\(s\): 1 predicted, 0 already done/);
    assert.match((await run()).stdout, /1 file\(s\): 0 predicted, 1 already done/);
    assert.match((await run(['--threshold', '0.3'])).stdout, /1 file\(s\): 1 predicted, 0 already done/);
    assert.deepEqual(readFileSync(join(out, 'dup.png')), readFileSync(join(local(input, join(tmp, 'local-t03'), ['--threshold', '0.3']), 'dup.png')));
    assert.match((await run([], join(tmp, 'ckpts', 'other.safetensors'))).stdout, /1 file\(s\): 1 predicted, 0 already done/);
    assert.match((await run([], join(tmp, 'ckpts', 'other.safetensors'))).stdout, /1 file\(s\): 0 predicted, 1 already done/);
    const mask = readFileSync(join(out, 'dup.png'));
    writeFileSync(join(out, 'dup.png'), 'not the mask any more');
    assert.match((await run([], join(tmp, 'ckpts', 'other.safetensors'))).stdout, /1 file\(s\): 1 predicted, 0 already done/);
    assert.deepEqual(readFileSync(join(out, 'dup.png')), mask);
  } finally {
    await stop(w);
  }
});

test('Redis lost and restarted under a running submit: reported, then followed to the end', { skip: REDIS_MISSING }, async () => {
  const dir = join(tmp, 'dir-lost');
  mkdirSync(dir);
  for (let i = 0; i < 4; i++) await grey(join(dir, `img${i}.png`), 10 + i);
  const out = join(tmp, 'q', 'lost');
  const run = submit([dir, '-m', ckpt, '-o', out]);
  const peek = new Redis(url);
  for (let t = 0; (await peek.llen(`bull:${PREDICT_QUEUE}:wait`)) < 4; t++) {
    assert.ok(t < 600, 'submit queued nothing');
    await new Promise((r) => setTimeout(r, 50));
  }
  peek.disconnect(); // queued; no worker yet
  await stop(redis); // no persistence: the jobs are gone with it
  await new Promise((r) => setTimeout(r, 1000));
  redis = await startRedis(port);
  const w = await worker(['dir-lost']);
  try {
    const r = await run;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /submit: lost the connection to Redis redis:\/\/127\.0\.0\.1:\d+; retrying/);
    assert.match(r.stderr, /submit: Redis redis:\/\/127\.0\.0\.1:\d+ is back: following the jobs again/);
    assert.equal(r.stderr.match(/lost the connection/g)!.length, 1, r.stderr);
    assert.match(r.stdout, /4 file\(s\): 4 predicted, 0 already done, 0 failed/);
    assert.equal(readdirSync(out).filter((n) => n.endsWith('.png')).length, 4);
  } finally {
    await stop(w);
  }
});

test('a Redis with a password: the URL carries it, logs mask it, a wrong one fails at once', { skip: REDIS_MISSING }, async () => {
  const p2 = await freePort();
  const secured = await startRedis(p2, ['--requirepass', 's3cret-pw']);
  const good = `redis://:s3cret-pw@127.0.0.1:${p2}`;
  const w = await worker([], good);
  try {
    assert.match(w.out(), /waiting for jobs on redis:\/\/:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(w.out(), /s3cret-pw/);
    const r = await submit([join(tmp, 'dir1', 'dup.png'), '-m', ckpt, '-o', join(tmp, 'q', 'pw')], good);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 file\(s\): 1 predicted/);
    const bad = await submit([join(tmp, 'dir2', 'dup.png'), '-m', ckpt, '-o', join(tmp, 'q', 'pw2')], `redis://:wrong@127.0.0.1:${p2}`);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: cannot (connect|reach)/);
    assert.doesNotMatch(bad.stderr, /wrong@/);
  } finally {
    await stop(w);
    await stop(secured);
  }
});

const NO_OPENSSL = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl not installed';

test('a Redis over TLS: rediss:// URLs, the CA given by NODE_EXTRA_CA_CERTS', { skip: REDIS_MISSING || NO_OPENSSL }, async () => {
  const cert = join(tmp, 'redis-cert.pem'), key = join(tmp, 'redis-key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const p3 = await freePort();
  let tls: Proc | undefined;
  try {
    tls = await startRedis(p3, ['--port', '0', '--tls-port', String(p3), '--tls-cert-file', cert, '--tls-key-file', key,
      '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no']);
  } catch (e) {
    return void console.log(`# this redis-server has no TLS: ${(e as Error).message.split('\n')[0]}`);
  }
  const env = { NODE_EXTRA_CA_CERTS: cert };
  const w = await worker([], `rediss://127.0.0.1:${p3}`, env);
  try {
    const r = await submit([join(tmp, 'dir1', 'dup.png'), '-m', ckpt, '-o', join(tmp, 'q', 'tls')], `rediss://127.0.0.1:${p3}`, env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 file\(s\): 1 predicted/);
    // plain redis:// to the TLS port does not get through
    const plain = await submit([join(tmp, 'dir2', 'dup.png'), '-m', ckpt, '-o', join(tmp, 'q', 'tls2')], `redis://127.0.0.1:${p3}`, env);
    assert.equal(plain.status, 1);
  } finally {
    await stop(w);
    await stop(tls);
  }
});
