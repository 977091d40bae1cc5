import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryScores, batchScores, labelMapScores, multiClassScores } from '../../src/metrics/segmentation.js';
import { boundary, edtSquared, hd95 } from '../../src/metrics/distance.js';
import { percentile } from '../../src/data/percentile.js';

/** A 0/1 plane with the rectangle [x0, x0+w) x [y0, y0+h) set. */
function rect(H: number, W: number, x0: number, y0: number, w: number, h: number): Float32Array {
  const m = new Float32Array(H * W);
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) m[y * W + x] = 1;
  return m;
}

test('IoU, Dice, precision, recall of two overlapping squares (by hand)', () => {
  // 10x10 squares, second shifted by 5 in x: intersection 50, union 150
  const a = rect(32, 32, 2, 2, 10, 10);
  const b = rect(32, 32, 7, 2, 10, 10);
  const s = binaryScores(a, b, [32, 32]);
  assert.equal(s.iou, 50 / 150);
  assert.equal(s.dice, (2 * 50) / 200);
  assert.equal(s.precision, 0.5);
  assert.equal(s.recall, 0.5);
});

test('probabilities are thresholded at 0.5 (p > 0.5)', () => {
  const p = Float32Array.from([0.5, 0.51, 0.9, 0.1]);
  const t = Float32Array.from([1, 1, 1, 0]);
  const s = binaryScores(p, t, [4, 1]);
  assert.equal(s.iou, 2 / 3);
  assert.equal(s.recall, 2 / 3);
  assert.equal(s.precision, 1);
});

test('empty vs empty scores 1 and HD95 is undefined; one empty side scores 0', () => {
  const z = new Float32Array(64);
  const e = binaryScores(z, z, [8, 8]);
  assert.deepEqual([e.iou, e.dice, e.precision, e.recall, e.hd95], [1, 1, 1, 1, undefined]);
  const one = rect(8, 8, 1, 1, 3, 3);
  const missed = binaryScores(z, one, [8, 8]);
  assert.deepEqual([missed.iou, missed.dice, missed.precision, missed.recall, missed.hd95], [0, 0, 0, 0, undefined]);
  const spurious = binaryScores(one, z, [8, 8]);
  assert.deepEqual([spurious.iou, spurious.precision, spurious.recall, spurious.hd95], [0, 0, 0, undefined]);
});

test('HD95 of a square and the same square shifted by s is s', () => {
  for (const s of [1, 3, 6]) {
    const a = rect(64, 64, 10, 10, 20, 20);
    const b = rect(64, 64, 10 + s, 10, 20, 20);
    assert.equal(binaryScores(a, b, [64, 64]).hd95, s, `shift ${s}`);
    // diagonal shift (s, s): distance sqrt(2) s from the far corners, s along the sides
    const d = rect(64, 64, 10 + s, 10 + s, 20, 20);
    const h = binaryScores(a, d, [64, 64]).hd95!;
    assert.ok(h >= s - 1e-9 && h <= Math.SQRT2 * s + 1e-9, `diagonal ${s}: ${h}`);
  }
  assert.equal(binaryScores(rect(32, 32, 4, 4, 8, 8), rect(32, 32, 4, 4, 8, 8), [32, 32]).hd95, 0);
});

test('HD95 in mm uses the spacing per axis', () => {
  const a = rect(64, 64, 10, 10, 20, 20);
  const bx = rect(64, 64, 14, 10, 20, 20); // shifted 4 columns
  const by = rect(64, 64, 10, 14, 20, 20); // shifted 4 rows
  assert.equal(binaryScores(a, bx, [64, 64], { spacing: [0.5, 2] }).hd95, 2);
  assert.equal(binaryScores(a, by, [64, 64], { spacing: [0.5, 2] }).hd95, 8);
});

test('exact EDT matches brute force (random features, anisotropic spacing)', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const [h, w, sp] of [[17, 23, [1, 1]], [31, 9, [0.7, 1.9]], [1, 12, [1, 1]]] as [number, number, [number, number]][]) {
    const f = new Uint8Array(h * w).map(() => (rnd() < 0.05 ? 1 : 0));
    f[Math.floor(rnd() * h * w)] = 1;
    const d = edtSquared(f, [w, h], sp);
    for (let i = 0; i < h * w; i++) {
      let best = Infinity;
      for (let j = 0; j < h * w; j++) {
        if (!f[j]) continue;
        const dx = ((i % w) - (j % w)) * sp[0];
        const dy = (Math.floor(i / w) - Math.floor(j / w)) * sp[1];
        best = Math.min(best, dx * dx + dy * dy);
      }
      assert.ok(Math.abs(d[i] - best) < 1e-9, `pixel ${i}: ${d[i]} vs ${best}`);
    }
  }
});

test('boundary: the image edge counts as outside; percentile interpolates as numpy', () => {
  const full = new Uint8Array(9).fill(1);
  assert.deepEqual(Array.from(boundary(full, [3, 3])), [1, 1, 1, 1, 0, 1, 1, 1, 1]);
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  assert.equal(percentile([0, 10], 95), 9.5);
  assert.equal(hd95(new Uint8Array(4), full.subarray(0, 4), [2, 2]), undefined);
});

test('HD95 of two 512x512 rectangles lies between their sides\' shifts', () => {
  const a = rect(512, 512, 100, 100, 200, 250);
  const b = rect(512, 512, 110, 95, 210, 240);
  const h = binaryScores(a, b, [512, 512]).hd95!;
  assert.ok(h >= 10 && h <= 20, `hd95 ${h}`); // sides move by 10, 5, 20 and 15 pixels
});

test('multi-class: per class without background, then the mean', () => {
  const H = 16;
  const W = 16;
  const plane = H * W;
  // channel 0 background, 1 perfect, 2 half-overlapping
  const truth = new Float32Array(3 * plane);
  const prob = new Float32Array(3 * plane);
  truth.set(rect(H, W, 2, 2, 4, 4), plane);
  prob.set(rect(H, W, 2, 2, 4, 4), plane);
  truth.set(rect(H, W, 8, 8, 4, 4), 2 * plane);
  prob.set(rect(H, W, 10, 8, 4, 4), 2 * plane);
  const m = multiClassScores(prob, truth, 3, [W, H], { background: 0 });
  assert.equal(m.perClass.length, 2);
  assert.equal(m.perClass[0].iou, 1);
  assert.equal(m.perClass[1].iou, 8 / 24);
  assert.equal(m.mean.iou, (1 + 8 / 24) / 2);
  assert.equal(m.mean.hd95, (0 + 2) / 2);
  // the same as label maps
  const lp = new Float32Array(plane);
  const lt = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    lp[i] = prob[plane + i] ? 1 : prob[2 * plane + i] ? 2 : 0;
    lt[i] = truth[plane + i] ? 1 : truth[2 * plane + i] ? 2 : 0;
  }
  assert.deepEqual(labelMapScores(lp, lt, [1, 2], [W, H]).mean, m.mean);
  // a class absent from both: scores 1, HD95 left out of the class mean
  const absent = multiClassScores(new Float32Array(2 * plane), new Float32Array(2 * plane).fill(1, 0, plane), 2, [W, H]);
  assert.equal(absent.perClass[1].iou, 1);
  assert.equal(absent.mean.hd95, undefined);
});

test('batchScores gives one row per image of [N, K, H, W]', () => {
  const a = rect(8, 8, 0, 0, 4, 4);
  const prob = new Float32Array(2 * 64);
  const truth = new Float32Array(2 * 64);
  prob.set(a, 0);
  truth.set(a, 0);
  truth.set(a, 64);
  const rows = batchScores(prob, truth, 2, 1, [8, 8], { hd95: false });
  assert.deepEqual(rows.map((r) => r.iou), [1, 0]);
});
