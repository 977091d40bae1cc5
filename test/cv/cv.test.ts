// `unetpp cv`: seeded folds stratified by foreground, trained here or as queue jobs on a
// real redis-server with a worker (same results), resumed, and predict --ensemble.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynthetic } from '../../src/data/images/synthetic.js';
import { makeFolds } from '../../src/cv/folds.js';
import { SegModel } from '../../src/models/model.js';
import { createPredictor } from '../../src/infer/predict.js';
import { createEnsemble } from '../../src/infer/ensemble.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { BACKEND, REDIS_MISSING, cli, freePort, startCli, startRedis, stop, type Proc } from '../helpers/services.js';

let tmp: string;
const TRAIN = ['--folds', '3', '--epochs', '2', '--batch-size', '2', '--filters', '4,8,16', '--seed', '5', '--backend', BACKEND];

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-cv-'));
  await writeSynthetic(join(tmp, 'syn'), { count: 14, width: 16, height: 16, channels: 1, seed: 3, nuclei: [0, 3] });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('folds are seeded, disjoint and stratified by foreground; test images stay out', async () => {
  const a = await makeFolds(join(tmp, 'syn'), 3, 5);
  const b = await makeFolds(join(tmp, 'syn'), 3, 5);
  assert.deepEqual(a, b);
  const all = a.folds.flat();
  assert.equal(new Set(all).size, all.length);
  assert.equal(all.length + a.heldOut.length, 14);
  const fg = new Set(a.foreground);
  const counts = a.folds.map((f) => f.filter((id) => fg.has(id)).length);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `foreground per fold ${counts}`);
  assert.notDeepEqual((await makeFolds(join(tmp, 'syn'), 3, 6)).folds, a.folds);
});

test('cv here, killed and resumed; the same folds as queue jobs on a worker give the same metrics; predict --ensemble', async () => {
  const local = join(tmp, 'cv');
  // killed (SIGKILL) during fold 1, then the same command again: it resumes fold 1 from its last epoch
  const killed = await startCli(['cv', '-d', join(tmp, 'syn'), '-o', local, ...TRAIN], /fold 1: epoch 1\/2/);
  killed.child.kill('SIGKILL');
  await killed.exited;
  assert.ok(!existsSync(join(local, 'fold1', 'result.json')));
  const r = cli(['cv', '-d', join(tmp, 'syn'), '-o', local, ...TRAIN]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /fold 1: resumed from .* after epoch 1/);
  assert.match(r.stdout, /\| mean ± sd \|/);
  const s = JSON.parse(readFileSync(join(local, 'summary.json'), 'utf8'));
  assert.equal(s.folds.length, 3);
  for (const k of [0, 1, 2]) assert.ok(existsSync(join(local, `fold${k}`, 'best.safetensors')));
  const again = cli(['cv', '-d', join(tmp, 'syn'), '-o', local, ...TRAIN]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /resuming the folds/);
  assert.deepEqual(JSON.parse(readFileSync(join(local, 'summary.json'), 'utf8')), s);
  const bad = cli(['cv', '-d', join(tmp, 'syn'), '-o', local, ...TRAIN.slice(2), '--folds', '4']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /holds 3 folds/);

  const p = cli(['predict', join(tmp, 'syn', 'images'), '--ensemble', local, '-o', join(tmp, 'ens'), '--backend', BACKEND]);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(readdirSync(join(tmp, 'ens')).length, 14);
  const missing = cli(['predict', join(tmp, 'syn', 'images'), '--ensemble', join(tmp, 'syn')]);
  assert.match(missing.stderr, /no folds\.json/);

  if (REDIS_MISSING) { test.skip(REDIS_MISSING); return; }
  const port = await freePort();
  let redis: Proc | undefined, w: Proc | undefined;
  try {
    redis = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    w = await startCli(['worker', '--redis', url, '--backend', BACKEND, '--queues', 'cv'], /waiting for jobs/);
    const q = cli(['cv', '-d', join(tmp, 'syn'), '-o', join(tmp, 'cvq'), ...TRAIN, '--redis', url]);
    assert.equal(q.status, 0, q.stderr);
    await new Promise((r) => setTimeout(r, 300)); // let the worker's output in (spawnSync held this loop)
    assert.match(w.out(), /fold 2 done/, q.stdout);
    const sq = JSON.parse(readFileSync(join(tmp, 'cvq', 'summary.json'), 'utf8'));
    assert.deepEqual(sq.folds.map((f: any) => f.metrics), s.folds.map((f: any) => f.metrics));
  } finally {
    await stop(w);
    await stop(redis);
  }
});

test('an ensemble predicts the mean of its members\' probabilities', () => {
  const backend = getBackend('reference', 'fp32', 'infer');
  const members = [1, 2, 3].map((seed) => createPredictor(new SegModel({ inChannels: 1, deepSupervision: true, filters: [4, 8, 16], seed }), { backend }));
  const img = { data: Float32Array.from({ length: 20 * 12 }, (_, i) => Math.sin(i)), channels: 1, sizes: [12, 20] };
  const e = createEnsemble(members).predict(img);
  const ps = members.map((m) => m.predict(img).data);
  for (let i = 0; i < e.data.length; i++) assert.equal(e.data[i], Math.fround(Math.fround(Math.fround(ps[0][i] + ps[1][i]) + ps[2][i]) / 3));
  assert.throws(() => createEnsemble([members[0], createPredictor(new SegModel({ inChannels: 3, filters: [4, 8] }), { backend })]), /model 1 takes 3 channels/);
});
