// Memory-bounded prediction: whole image when it fits the budget, sliding windows chosen to
// fit when not, the same masks either way (within the blending tolerance), clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';
import { createPredictor, threshold } from '../../src/infer/predict.js';
import type { Field } from '../../src/infer/grid.js';
import { parseMemory } from '../../src/infer/memory.js';
import { Rng } from '../../src/data/rng.js';

const backend = nativeAvailable().ok ? new NativeBackend({ use: 'infer' }) : new ReferenceBackend({ dtype: 'float32' });
const GB = 2 ** 30;

/** Smooth blobs, so that a model's probabilities are not all near 0.5. */
function blobs(h: number, w: number, seed: number): Field {
  const r = new Rng(seed);
  const centres = Array.from({ length: 12 }, () => [r.next() * h, r.next() * w, 6 + r.next() * 20]);
  const data = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
    data[y * w + x] = centres.some(([cy, cx, rad]) => (y - cy) ** 2 + (x - cx) ** 2 < rad * rad) ? 1 : 0;
  return { data, channels: 1, sizes: [h, w] };
}

/** A tiny model with confident outputs: its head scaled so that logits spread around 0
 *  (a random model's probabilities all sit near 0.5, where any comparison of masks is moot). */
function model(img: Field) {
  const m = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, seed: 7 });
  const p = createPredictor(m, { backend, maxMemory: 64 * GB }).predict(img).data;
  const logits = Array.from(p, (v) => Math.log(v / (1 - v))).sort((a, b) => a - b);
  const median = logits[logits.length >> 1], spread = logits[Math.floor(0.9 * logits.length)] - logits[Math.floor(0.1 * logits.length)];
  const w = m.params.get('final.weight').data, b = m.params.get('final.bias').data;
  const s = 6 / Math.max(spread, 1e-6);
  for (let i = 0; i < w.length; i++) w[i] *= s;
  b[0] = s * (b[0] - median);
  return m;
}

test('parseMemory reads the sizes people type and names a bad one', () => {
  assert.equal(parseMemory('4G'), 4 * GB);
  assert.equal(parseMemory('512MB'), 512 * 2 ** 20);
  assert.equal(parseMemory('1.5gib'), 1.5 * GB);
  assert.throws(() => parseMemory('lots', '--max-memory'), /--max-memory: expected a size/);
});

test('under a budget too small for the whole image, windows are chosen and the mask matches the whole-image one', () => {
  const img = blobs(400, 656, 3);
  const m = model(img);
  const whole = createPredictor(m, { backend, maxMemory: 64 * GB }).predict(img);
  assert.equal(whole.tiling!.reason, 'whole');
  assert.equal(whole.tiling!.windows, 1);
  // Budgets below the whole image's estimate must tile: lower it until there are 4+ windows.
  let budget = whole.tiling!.estimatedBytes - 1;
  while (createPredictor(m, { backend, maxMemory: budget }).predict(img).tiling!.windows < 4) budget -= 2 ** 20;
  const said: string[] = [];
  const p = createPredictor(m, { backend, maxMemory: budget, onTiling: (t) => said.push(`${t.reason} ${t.tile}`) });
  const tiled = p.predict(img);
  const t = tiled.tiling!;
  assert.equal(t.reason, 'budget');
  assert.ok(t.windows > 1, `${t.windows} windows`);
  assert.ok(t.estimatedBytes <= budget);
  assert.ok(t.tile[0] % 4 === 0 && t.tile[1] % 4 === 0);
  assert.equal(said.length, 1);
  p.predict(img);
  assert.equal(said.length, 1, 'the same tiling is told once');
  let diff = 0, agree = 0, fg = 0;
  const a = threshold(whole), b = threshold(tiled);
  for (let i = 0; i < a.length; i++) { diff += Math.abs(whole.data[i] - tiled.data[i]); agree += a[i] === b[i] ? 1 : 0; fg += a[i]; }
  assert.ok(fg / a.length > 0.1 && fg / a.length < 0.9, `foreground ${fg / a.length}: the comparison needs both classes`);
  // Windows see less context at their borders, where the Gaussian weights are small.
  assert.ok(diff / a.length < 0.01, `mean |p_whole - p_tiled| = ${diff / a.length}`);
  assert.ok(agree / a.length > 0.99, `masks agree on ${(100 * agree / a.length).toFixed(2)}% of pixels`);
});

test('an explicit tile wins over the budget; a budget too small for any window names the option', () => {
  const img = blobs(64, 64, 1);
  const m = model(img);
  const p = createPredictor(m, { backend, maxMemory: 64 * GB, tile: 32 });
  assert.equal(p.predict(img).tiling!.reason, 'explicit');
  assert.throws(() => createPredictor(m, { backend, maxMemory: 1000 }).predict(img), /predict option maxMemory: .* is too small for this model/);
  assert.throws(() => createPredictor(m, { backend, maxMemory: -1 }), /predict option maxMemory/);
});
