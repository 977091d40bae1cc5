// Prediction: padding/cropping to any size, tiling with blending, flip TTA, plan caching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { createPredictor, threshold } from '../../src/infer/predict.js';
import type { Field } from '../../src/infer/grid.js';
import { labelMap } from '../../src/data/labels.js';
import { reflectIndex, paddingFor, reflectPad, crop } from '../../src/infer/pad.js';
import { tileLayout, Blender, windowStarts } from '../../src/infer/tiles.js';
import { flipN } from '../../src/infer/tta.js';
import { Rng } from '../../src/data/rng.js';
import { NativeBackend, nativeAvailable, bf16Support } from '../../src/engine/backends/native.js';

const backend = new ReferenceBackend({ dtype: 'float32' });
const tiny = (extra = {}) => new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, seed: 3, ...extra });

function randomImage(h: number, w: number, c = 1, seed = 1): Field {
  const r = new Rng(seed);
  return { data: Float32Array.from({ length: c * h * w }, () => r.next()), channels: c, sizes: [h, w] };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

test('reflect index mirrors without repeating the edge, also for pads larger than the image', () => {
  assert.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5].map((i) => reflectIndex(i, 3)), [1, 2, 1, 0, 1, 2, 1, 0, 1]);
  assert.equal(reflectIndex(7, 1), 0);
  assert.deepEqual(paddingFor([37, 53], 4), { start: [1, 1], size: [40, 56] });
});

test('odd sizes (37x53) are padded and cropped back to the original size', () => {
  const model = tiny();
  const p = createPredictor(model, { backend });
  const img = randomImage(37, 53);
  const out = p.predict(img);
  assert.deepEqual([out.channels, ...out.sizes], [1, 37, 53]);
  assert.equal(out.data.length, 37 * 53);
  // same as padding by hand, predicting the padded image and cropping
  const pad = paddingFor([37, 53], 4);
  const [ph, pw] = pad.size;
  const padded = p.predict({ data: reflectPad(img.data, 1, [37, 53], pad), channels: 1, sizes: [ph, pw] });
  assert.equal(maxDiff(out.data, crop(padded.data, 1, pad.size, pad.start, [37, 53])), 0);
  for (const v of out.data) assert.ok(v >= 0 && v <= 1);
});

test('a tile that covers the image gives exactly the untiled prediction', () => {
  const model = tiny();
  const img = randomImage(32, 24);
  const whole = createPredictor(model, { backend }).predict(img);
  for (const tile of [32, 64]) {
    const tiled = createPredictor(model, { backend, tile, overlap: 0.5 }).predict(img);
    assert.equal(maxDiff(tiled.data, whole.data), 0, `tile ${tile}`);
  }
  // a tile covering only the height: still one window per axis where it covers
  const tall = createPredictor(model, { backend, tile: [32, 16], overlap: 0.5 }).predict(img);
  assert.equal(tall.data.length, whole.data.length);
});

test('blending windows of one map reproduces the map (weights normalise, windows land in place)', () => {
  const H = 45, W = 70, K = 2;
  const truth = randomImage(H, W, K, 9).data as Float32Array;
  for (const kind of ['gaussian', 'linear'] as const) {
    const layout = tileLayout([H, W], [16, 24], 0.3, kind);
    assert.ok(layout.windows.length > 4);
    const b = new Blender(K, [H, W], layout);
    for (const win of layout.windows) b.add(win, crop(truth, K, [H, W], win, layout.tile));
    assert.ok(maxDiff(b.result(), truth) < 1e-6, kind);
  }
  assert.deepEqual(windowStarts(100, 40, 0.25), [0, 30, 60]);
  assert.deepEqual(windowStarts(30, 40, 0.25), [0]);
});

test('sliding windows over a larger image: right size, probabilities, one plan per window shape', () => {
  const model = tiny();
  const p = createPredictor(model, { backend, tile: 16, overlap: 0.25, batch: 3 });
  const img = randomImage(37, 41);
  const out = p.predict(img);
  assert.equal(out.data.length, 37 * 41);
  for (const v of out.data) assert.ok(v >= 0 && v <= 1);
  p.predict(randomImage(37, 41, 1, 2));
  assert.equal(p.plansCompiled, 1);
  // close to the untiled result away from window borders (same network, different context)
  const whole = createPredictor(model, { backend }).predict(img);
  let mean = 0;
  for (let i = 0; i < out.data.length; i++) mean += Math.abs(out.data[i] - whole.data[i]) / out.data.length;
  assert.ok(mean < 0.05, `mean difference ${mean}`);
});

test('predictMany: inputs sharing runs (zero slots in a last, partial run) each get their own prediction', () => {
  const model = tiny();
  const imgs = [1, 2, 3].map((seed) => randomImage(20, 28, 1, seed));
  for (const o of [{}, { tile: 16, overlap: 0.25, batch: 3 }, { tta: true, batch: 2 }]) {
    const p = createPredictor(model, { backend, ...o });
    const many = p.predictMany(imgs);
    imgs.forEach((img, i) => {
      // the reference backend computes each batch item alone: the same numbers to the bit
      assert.equal(maxDiff(many[i].data, p.predict(img).data), 0, `${JSON.stringify(o)} input ${i}`);
    });
    assert.ok(maxDiff(many[0].data, many[1].data) > 1e-5, 'different inputs, different maps');
  }
});

test('flip TTA is flip-equivariant and averages the four flips', () => {
  const model = tiny();
  const H = 20, W = 28; // padded to 20x28 (multiples of 4): padding commutes with flips
  const img = randomImage(H, W);
  const tta = createPredictor(model, { backend, tta: true });
  const plain = createPredictor(model, { backend });
  const out = tta.predict(img);
  for (const f of [{ h: true, v: false }, { h: false, v: true }]) {
    const flipped = new Float32Array(H * W);
    flipN(img.data, flipped, 0, 1, [H, W], [f.v, f.h]);
    const outF = tta.predict({ ...img, data: flipped });
    const back = new Float32Array(H * W);
    flipN(outF.data, back, 0, 1, [H, W], [f.v, f.h]);
    assert.ok(maxDiff(back, out.data) < 1e-6, JSON.stringify(f));
    // without TTA a random network is not equivariant: the check above has teeth
    const plainF = plain.predict({ ...img, data: flipped });
    flipN(plainF.data, back, 0, 1, [H, W], [f.v, f.h]);
    assert.ok(maxDiff(back, plain.predict(img).data) > 1e-4);
  }
  const mean = new Float64Array(H * W);
  for (const f of [{ h: false, v: false }, { h: true, v: false }, { h: false, v: true }, { h: true, v: true }]) {
    const x = new Float32Array(H * W);
    flipN(img.data, x, 0, 1, [H, W], [f.v, f.h]);
    const y = plain.predict({ ...img, data: x }).data;
    const yb = new Float32Array(H * W);
    flipN(y, yb, 0, 1, [H, W], [f.v, f.h]);
    yb.forEach((v, i) => (mean[i] += v / 4));
  }
  assert.ok(maxDiff(mean, out.data) < 1e-6);
});

test('modes and pruning: fast mode reads one head, level prunes, bad options are named', () => {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, deepSupervision: true, seed: 5 });
  const img = randomImage(16, 16);
  const acc = createPredictor(model, { backend, mode: 'accurate' }).predict(img);
  const fast1 = createPredictor(model, { backend, mode: 'fast', head: 1 }).predict(img);
  const fast2 = createPredictor(model, { backend, mode: 'fast' }).predict(img);
  const mean = fast1.data.map((v, i) => (v + fast2.data[i]) / 2);
  assert.ok(maxDiff(mean, acc.data) < 1e-6);
  const pruned = createPredictor(model, { backend, level: 1 });
  assert.deepEqual(pruned.model.headNames(), ['final1']);
  assert.ok(maxDiff(pruned.predict(img).data, fast1.data) < 1e-6);
  // L^d at the full depth is head d alone, not the accurate mean
  assert.ok(maxDiff(createPredictor(model, { backend, level: 2 }).predict(img).data, fast2.data) < 1e-6);
  assert.ok(maxDiff(fast2.data, acc.data) > 1e-4);
  // a pruned L^1 only needs multiples of 2
  assert.equal(pruned.predict(randomImage(7, 9)).data.length, 63);
  assert.throws(() => createPredictor(model, { backend, tile: 10 }), /option tile: 10 .*use 8 or 12/);
  assert.throws(() => createPredictor(model, { backend, overlap: 1 }), /option overlap/);
  assert.throws(() => createPredictor(model, { backend, mode: 'fast', head: 3 }), /option head: 3/);
  assert.throws(() => createPredictor(model, { backend }).predict(randomImage(8, 8, 3)), /3 channels, the model expects 1/);
});

// A predictor runs its own copy of the weights (its plans are frozen): changing the model
// afterwards does not reach it, and a predictor created after the change sees it. On the native
// backend too, where frozen plans fold batch norm into the weights once.
const nat = nativeAvailable();
for (const [name, make] of [['reference', () => backend], ['native', () => new NativeBackend()],
  ['native bf16', () => new NativeBackend({ precision: 'bf16', use: 'infer' })]] as const) {
  const skip = name !== 'reference' && !nat.ok ? nat.reason : name === 'native bf16' && !bf16Support().ok ? bf16Support().reason : false;
  test(`a predictor keeps the weights it was created with (${name})`, { skip }, () => {
    const model = tiny({ inChannels: 1, filters: [16, 32, 64], preset: 'bn' });
    const img = randomImage(16, 16);
    const p = createPredictor(model, { backend: make() });
    const before = p.predict(img).data;
    model.params.get('conv0_0.conv1.weight').data.fill(0.05);
    assert.equal(maxDiff(p.predict(img).data, before), 0, 'the first predictor changed');
    const changed = createPredictor(model, { backend: make() }).predict(img).data;
    assert.ok(maxDiff(changed, before) > 1e-3, 'a new predictor must see the new weights');
  });
}

test('threshold and label maps', () => {
  const p = { data: Float32Array.from([0.2, 0.6, 0.5, 0.9, 0.1, 0.3, 0.7, 0.2]), channels: 2, sizes: [2, 2] };
  assert.deepEqual([...threshold(p)], [0, 1, 0, 1, 0, 0, 1, 0]);
  assert.deepEqual([...labelMap(p, 'softmax')], [0, 0, 1, 0]);
  assert.deepEqual([...labelMap(p, 'sigmoid')], [0, 1, 2, 1]);
  assert.deepEqual([...labelMap({ ...p, channels: 1, data: p.data.slice(0, 4) })], [0, 1, 0, 1]);
  // against a plain argmax written here, on random maps with ties (rounded values) and volumes
  let seed = 7;
  const rnd = () => Math.round(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 8) / 8;
  for (const classes of [1, 2, 4]) {
    const n = 3 * 5 * 7, data = Float32Array.from({ length: classes * n }, rnd);
    for (const mc of ['softmax', 'sigmoid'] as const) {
      const want = Array.from({ length: n }, (_, i) => {
        if (classes === 1) return data[i] > 0.6 ? 1 : 0;
        let best = 0;
        for (let c = 1; c < classes; c++) if (data[c * n + i] > data[best * n + i]) best = c;
        return mc === 'softmax' ? best : data[best * n + i] > 0.6 ? best + 1 : 0;
      });
      assert.deepEqual([...labelMap({ data, channels: classes }, mc, 0.6)], want, `${classes} ${mc}`);
    }
  }
});
