import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchLoader, type Batch } from '../../src/data/loaders/loader.js';
import { DEFAULT_AUGMENT } from '../../src/data/augmentation/augment.js';
import { syntheticNuclei } from '../../src/data/images/synthetic.js';

const samples = syntheticNuclei({ count: 10, width: 32, height: 32, seed: 1 });
const opts = { batchSize: 4, seed: 9, augment: DEFAULT_AUGMENT, normalize: { kind: 'zscore' as const } };

async function collect(l: BatchLoader, limit = Infinity): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of l.epoch()) {
    out.push(b);
    if (out.length >= limit) break;
  }
  return out;
}

test('batches have NCHW shapes, every sample once per epoch, reshuffled per epoch', async () => {
  const l = new BatchLoader(samples, opts);
  assert.equal(l.length, 3);
  const e0 = await collect(l);
  assert.deepEqual(e0.map((b) => b.n), [4, 4, 2]);
  assert.equal(e0[0].x.length, 4 * 3 * 32 * 32);
  assert.equal(e0[0].y.length, 4 * 1 * 32 * 32);
  assert.deepEqual(e0.flatMap((b) => b.ids).sort(), samples.map((s) => s.id).sort());
  assert.deepEqual(l.getState(), { seed: 9, epoch: 1, batch: 0 });
  const e1 = await collect(l);
  assert.notDeepEqual(e1.flatMap((b) => b.ids), e0.flatMap((b) => b.ids));
  assert.ok(e0[0].y.every((v) => v === 0 || v === 1));
  assert.equal(new BatchLoader(samples, { ...opts, dropLast: true }).length, 2);
});

test('same seed, same batches; prefetch does not change them', async () => {
  const a = await collect(new BatchLoader(samples, opts));
  const b = await collect(new BatchLoader(samples, { ...opts, prefetch: false }));
  assert.deepEqual(a, b);
  const c = await collect(new BatchLoader(samples, { ...opts, seed: 10 }));
  assert.notDeepEqual(a[0].x, c[0].x);
});

test('resuming from a saved state reproduces the run exactly', async () => {
  const ref = new BatchLoader(samples, opts);
  const all = [...(await collect(ref)), ...(await collect(ref))];
  const first = new BatchLoader(samples, opts);
  await collect(first); // epoch 0
  const part = await collect(first, 1); // one batch of epoch 1, then "crash"
  const saved = JSON.parse(JSON.stringify(first.getState()));
  assert.deepEqual(saved, { seed: 9, epoch: 1, batch: 1 });
  const resumed = new BatchLoader(samples, opts);
  resumed.setState(saved);
  const rest = await collect(resumed);
  assert.deepEqual([...part, ...rest], all.slice(3));
});

test('evaluation loader: fixed order, no augmentation, cache untouched; random crops', async () => {
  const before = samples[0].image.data.slice();
  const ev = await collect(new BatchLoader(samples, { batchSize: 3, shuffle: false, normalize: { kind: 'zscore' } }));
  assert.deepEqual(ev.flatMap((b) => b.ids), samples.map((s) => s.id));
  assert.deepEqual(samples[0].image.data, before);
  const raw = await collect(new BatchLoader(samples, { batchSize: 10, shuffle: false }));
  assert.deepEqual(raw[0].x.subarray(0, 3 * 32 * 32), samples[0].image.data);
  const cr = await collect(new BatchLoader(samples, { batchSize: 2, crop: { width: 16, height: 16 } }));
  assert.deepEqual([cr[0].h, cr[0].w, cr[0].x.length], [16, 16, 2 * 3 * 16 * 16]);
  assert.throws(() => new BatchLoader([...samples, syntheticNuclei({ count: 1, width: 16, height: 16 })[0]], { batchSize: 2 }), /syn_0000 is 16x16, expected 32x32/);
});
