// Prediction on volumes: the same predictor as images (one code path), with padding of odd
// sizes, sliding windows blended in 3D, flips over all three axes and the memory budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';
import { createPredictor } from '../../src/infer/predict.js';
import type { Field } from '../../src/infer/grid.js';
import { labelMap } from '../../src/data/labels.js';
import { paddingFor, reflectPad, crop } from '../../src/infer/pad.js';
import { flipN, allFlips } from '../../src/infer/tta.js';
import { PredictorCache, settingsFor } from '../../src/infer/predictor-cache.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { tileLayout, Blender } from '../../src/infer/tiles.js';
import { Rng } from '../../src/data/rng.js';

const native = nativeAvailable().ok ? new NativeBackend({ use: 'infer' }) : undefined;
const backend = native?.kernel('instancenorm') ? native : new ReferenceBackend({ dtype: 'float32' });
const tiny = () => new SegModel({ dims: 3, filters: [4, 8, 16], inChannels: 1, classes: 2, multiclass: 'softmax', deepSupervision: true, seed: 5 });

function volume(d: number, h: number, w: number, seed = 1): Field {
  const r = new Rng(seed);
  return { data: Float32Array.from({ length: d * h * w }, () => r.next()), channels: 1, sizes: [d, h, w] };
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('N-D padding and cropping: pad then crop back is the identity', () => {
  const v = volume(5, 7, 6);
  const pad = paddingFor([5, 7, 6], 4);
  assert.deepEqual(pad, { start: [1, 0, 1], size: [8, 8, 8] });
  const padded = reflectPad(v.data, 1, [5, 7, 6], pad);
  assert.equal(maxDiff(crop(padded, 1, [8, 8, 8], pad.start, [5, 7, 6]), v.data), 0);
  // reflect along depth: padded slice 0 mirrors original slice 1
  assert.equal(padded[0 * 64 + 0 * 8 + 1], v.data[1 * 42 + 0 * 6 + 0]);
});

test('flips over all axes: 8 for volumes, each its own inverse', () => {
  const v = volume(3, 4, 5);
  const flips = allFlips(3);
  assert.equal(flips.length, 8);
  for (const f of flips) {
    const once = new Float32Array(60), twice = new Float32Array(60);
    flipN(v.data, once, 0, 1, [3, 4, 5], f);
    flipN(once, twice, 0, 1, [3, 4, 5], f);
    assert.equal(maxDiff(twice, v.data), 0);
  }
  const dflip = new Float32Array(60);
  flipN(v.data, dflip, 0, 1, [3, 4, 5], [true, false, false]);
  assert.equal(dflip[0], v.data[2 * 20]);
});

test('3D blending: windows that are crops of one map blend back to exactly that map', () => {
  const sizes = [10, 13, 17], K = 2;
  const truth = volume(2 * 10, 13, 17, 8).data;  // [K, D, H, W]
  const layout = tileLayout(sizes, [6, 8, 8], 0.3, 'gaussian');
  assert.ok(layout.windows.length >= 8);
  const blender = new Blender(K, sizes, layout);
  for (const start of layout.windows) blender.add(start, crop(truth, K, sizes, start, layout.tile));
  assert.ok(maxDiff(blender.result(), truth) < 1e-6);
});

test('a 3D model predicts an odd-sized volume whole; explicit windows stay close to it; sizes are checked', () => {
  const model = tiny();
  const v = volume(13, 18, 21, 2);
  const whole = createPredictor(model, { backend }).predict(v);
  assert.deepEqual([whole.channels, ...whole.sizes], [2, 13, 18, 21]);
  assert.equal(whole.tiling!.reason, 'whole');
  for (let i = 0; i < 13 * 18 * 21; i++) assert.ok(Math.abs(whole.data[i] + whole.data[13 * 18 * 21 + i] - 1) < 1e-5);
  const tiled = createPredictor(model, { backend, tile: [12, 12, 16], overlap: 0.5 }).predict(v);
  assert.equal(tiled.tiling!.reason, 'explicit');
  assert.ok(tiled.tiling!.windows > 1);
  let mean = 0;
  for (let i = 0; i < whole.data.length; i++) mean += Math.abs(whole.data[i] - tiled.data[i]);
  // Windows of a few voxels see much less context than the whole volume: close, not equal.
  assert.ok(mean / whole.data.length < 0.06, `mean difference ${mean / whole.data.length}`);
  assert.equal(labelMap(whole).length, 13 * 18 * 21);
  assert.throws(() => createPredictor(model, { backend }).predict({ ...v, sizes: [18, 21], data: (v.data as Float32Array).subarray(0, 18 * 21) }), /model is 3D/);
  assert.throws(() => createPredictor(model, { backend, tile: [8, 8] }), /predict option tile: 2 sizes for a 3D model/);
});

test('a volume smaller than the window along an axis is zero-padded to the window and cropped back (as training pads patches)', () => {
  assert.deepEqual(paddingFor([2, 3, 20], 4, [8, 8, 8]), { start: [3, 2, 0], size: [8, 8, 20], zero: [true, true, false] });
  const model = tiny();
  for (const [d, h, w] of [[2, 2, 2], [3, 20, 21]]) {
    const v = volume(d, h, w, 3);
    const p = createPredictor(model, { backend, tile: [8, 8, 8] }).predict(v);
    assert.deepEqual(p.sizes, [d, h, w]);
    assert.deepEqual(p.tiling!.tile, [8, 8, 8]);
    const pad = paddingFor([d, h, w], 4, [8, 8, 8]);
    const padded = reflectPad(v.data, 1, [d, h, w], pad);
    const plane = pad.size[1] * pad.size[2];
    for (let z = 0; z < pad.size[0]; z++) if (z < pad.start[0] || z >= pad.start[0] + d) assert.ok(padded.subarray(z * plane, (z + 1) * plane).every((x) => x === 0), `slice ${z} is padding`);
    if (d === 2) {
      // one window: exactly the zero-padded input run whole, cropped back
      const whole = createPredictor(model, { backend }).predict({ data: padded, channels: 1, sizes: [8, 8, 8] });
      assert.ok(maxDiff(crop(whole.data, 2, pad.size, pad.start, [d, h, w]), p.data) < 1e-6);
    }
  }
});

test('volume TTA: the mean over the 8 flips is equivariant to flipping the input along depth', () => {
  const model = tiny();
  const v = volume(8, 8, 8, 4);
  const p = createPredictor(model, { backend, tta: true });
  const a = p.predict(v);
  const flipped = new Float32Array(512);
  flipN(v.data, flipped, 0, 1, [8, 8, 8], [true, false, false]);
  const b = p.predict({ ...v, data: flipped });
  const back = new Float32Array(a.data.length);
  flipN(b.data, back, 0, 2, [8, 8, 8], [true, false, false]);
  assert.ok(maxDiff(a.data, back) < 1e-5);
});

test('a checkpoint that records tta: the cache averages its flips unless told tta false; the window likewise', () => {
  const model = tiny();
  const v = volume(8, 8, 8, 4);
  const meta = completeMeta(model.config, { window: [8, 8, 8] }, 'train');
  const entry = (tta?: boolean) => ({ name: 'm', key: `m${tta}`, models: [model], meta: { ...meta, ...(tta === undefined ? {} : { tta }) } });
  const cache = new PredictorCache(backend);
  assert.deepEqual(settingsFor(entry(true), {}), { tile: [8, 8, 8], tta: true });
  assert.deepEqual(settingsFor(entry(true), { tta: false, tile: 4 }), { tta: false, tile: 4 });
  assert.deepEqual(settingsFor(entry(), {}), { tile: [8, 8, 8] });
  const flips = createPredictor(model, { backend, tile: [8, 8, 8], tta: true }).predict(v);
  const one = createPredictor(model, { backend, tile: [8, 8, 8] }).predict(v);
  assert.ok(maxDiff(flips.data, one.data) > 1e-4, 'the flips change the answer');
  assert.equal(maxDiff(cache.get(entry(true), {}).predictor.predict(v).data, flips.data), 0);
  assert.equal(maxDiff(cache.get(entry(true), { tta: false }).predictor.predict(v).data, one.data), 0);
  assert.equal(maxDiff(cache.get(entry(), {}).predictor.predict(v).data, one.data), 0);
});
