// Stopping a prediction: the predictor checks its signal between windows and between the network's
// layers, throws the signal's reason, and its next run gives the bytes of an uninterrupted predictor;
// a SharedStop set by another thread is seen by a thread busy in synchronous work; the combinators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { createPredictor } from '../../src/infer/predict.js';
import type { Field } from '../../src/infer/grid.js';
import { predictWith } from '../../src/infer/predict-input.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { SharedStop, StoppedError, allStop, anyStop, deadlineStop, withReason, type StopSignal } from '../../src/util/stop.js';

const backend = new ReferenceBackend({ dtype: 'float32' });
const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, seed: 3 });
const image = (h: number, w: number): Field =>
  ({ data: Float32Array.from({ length: h * w }, (_, i) => Math.sin(i * 0.37)), channels: 1, sizes: [h, w] });

/** A signal that counts the checks made and turns aborted after `after` of them. */
function countingStop(after: number) {
  const s = { checks: 0, reason: new StoppedError('enough'), get aborted() { return ++s.checks > after; },
    throwIfAborted() { if (s.aborted) throw s.reason; } };
  return s;
}

test('a prediction stops at the check after its signal is aborted, with its reason; the next run is unharmed', () => {
  const img = image(40, 44);
  const opts = { backend, tile: 16, tta: true, batch: 2 };
  const want = createPredictor(model, opts).predict(img).data;
  // a full run counts its checks: one per window batch (sliding) plus one per kernel (plan)
  const count = countingStop(Number.MAX_SAFE_INTEGER);
  const p = createPredictor(model, opts);
  assert.deepEqual(p.predict(img, { signal: count }).data, want);
  const checks = count.checks;
  assert.ok(checks > 100, `a tiled TTA run checks often: ${checks}`);
  for (const after of [0, 1, 7, Math.floor(checks / 2), checks - 1]) {
    const stop = countingStop(after);
    assert.throws(() => p.predict(img, { signal: stop }), (e) => e === stop.reason, `stopped after ${after} checks`);
    assert.equal(stop.checks, after + 1, 'it stops at the first check that sees the signal aborted');
    // an interrupted plan run leaves nothing behind: the same bytes as a predictor never stopped
    assert.deepEqual(p.predict(img).data, want);
  }
  const aborted = AbortSignal.abort(new Error('gone'));
  assert.throws(() => p.predictMany([img, img], { signal: aborted }), /gone/);
});

test('predictWith checks its signal too, and a stop is not reported as the file\'s fault', async () => {
  const p = createPredictor(model, { backend });
  const meta = completeMeta(model.config, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train');
  const img = { width: 20, height: 24, channels: 1, data: new Float32Array(480).fill(0.5) };
  const stop = new StoppedError('told to stop');
  await assert.rejects(predictWith(p, meta, { kind: 'image', image: img, name: 'x' }, { signal: AbortSignal.abort(stop) }), (e) => e === stop);
  const late = countingStop(3);
  await assert.rejects(predictWith(p, meta, { kind: 'image', image: img, name: 'x' }, { signal: late }), (e) => e === late.reason);
  const got = await predictWith(p, meta, { kind: 'image', image: img, name: 'x' }, { signal: new AbortController().signal });
  assert.equal(got.kind, 'image');
});

test('a SharedStop set here is seen by a thread spinning in synchronous work', async () => {
  const stop = new SharedStop();
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const cell = new Int32Array(workerData, 0, 1);
    parentPort.postMessage('spinning');
    let n = 0;
    while (Atomics.load(cell, 0) === 0) n++; // never yields to its event loop
    parentPort.postMessage('stopped');`;
  const w = new Worker(code, { eval: true, workerData: stop.buffer });
  try {
    const said: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      w.on('message', (m: string) => { said.push(m); if (m === 'spinning') stop.stop(); else resolve(); });
      w.on('error', reject);
      setTimeout(() => reject(new Error(`the thread did not see the flag within 20 s: ${said}`)), 20000).unref();
    });
    await done;
    assert.deepEqual(said, ['spinning', 'stopped']);
    assert.equal(stop.aborted, true);
    assert.equal(new SharedStop(stop.buffer).aborted, true, 'the other side reads the same cell');
  } finally {
    await w.terminate();
  }
});

test('combinators: any, all (a batch stops when none of its jobs is wanted), deadline, reason', () => {
  const a = new SharedStop(undefined, 'a'), b = new SharedStop(undefined, 'b');
  const any = anyStop([a, undefined, b]);
  const all = allStop([a, b])!;
  assert.equal(any.aborted, false);
  b.stop();
  assert.equal(any.aborted, true);
  assert.equal(any.reason, 'b');
  assert.equal(all.aborted, false, 'one job of two is still wanted');
  a.stop();
  assert.equal(all.aborted, true);
  assert.throws(() => all.throwIfAborted(), (e) => e === 'a');
  assert.equal(allStop([a, undefined]), undefined, 'an entry that cannot stop keeps the whole running');
  assert.equal(allStop([]), undefined);
  assert.equal(deadlineStop(performance.now() + 60000).aborted, false);
  const past: StopSignal = deadlineStop(performance.now() - 1);
  assert.throws(() => past.throwIfAborted(), StoppedError);
  const ctl = new AbortController();
  const gone = withReason(ctl.signal, new Error('client gone'));
  assert.doesNotThrow(() => gone.throwIfAborted());
  ctl.abort();
  assert.throws(() => gone.throwIfAborted(), /client gone/);
});
