import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentPair, DEFAULT_AUGMENT, type AugmentOptions } from '../../src/data/augmentation/augment.js';
import { Rng } from '../../src/data/rng.js';
import { crop, normalize, randomCrop, resizeBilinear, resizeNearest, channelStats } from '../../src/data/images/transforms.js';

/** An asymmetric binary shape (an L plus a dot), so that every flip/rotation is distinct. */
function shape(h: number, w: number): Float32Array {
  const m = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inL = (x >= 6 && x < 12 && y >= 5 && y < h - 8) || (y >= h - 14 && y < h - 8 && x >= 6 && x < w - 10);
      const dot = (x - (w - 10)) ** 2 + (y - 9) ** 2 < 16;
      m[y * w + x] = inL || dot ? 1 : 0;
    }
  }
  return m;
}

test('image equal to its mask stays equal to it under flips and 90-degree turns (exactly)', () => {
  const h = 32;
  const w = 32;
  const m = shape(h, w);
  const seen = new Set<string>();
  for (let s = 0; s < 40; s++) {
    const out = augmentPair(m, 1, m, 1, h, w, new Rng(s), { flip: true, rotate90: true });
    assert.deepEqual(out.image, out.mask, `seed ${s}`);
    assert.equal(out.mask.reduce((a, b) => a + b, 0), m.reduce((a, b) => a + b, 0));
    seen.add(Array.from(out.mask).join(''));
  }
  assert.equal(seen.size, 8); // the 8 symmetries of the square
});

test('image equal to its mask stays aligned under affine + elastic (all channels, all classes)', () => {
  const h = 48;
  const w = 40; // not square: rotate90 uses 0/180 only
  const m = shape(h, w);
  const img = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) img.set(m, c * h * w);
  const mask2 = new Float32Array(2 * h * w);
  mask2.set(m, 0);
  mask2.set(m, h * w);
  const opts: AugmentOptions = { ...DEFAULT_AUGMENT, affine: { p: 1, degrees: 20, scale: [0.85, 1.15] }, elastic: { p: 1, alpha: 2, sigma: 5 }, brightness: 0, contrast: 0 };
  for (let s = 0; s < 20; s++) {
    const out = augmentPair(img, 3, mask2, 2, h, w, new Rng(s), opts);
    assert.ok(out.mask.every((v) => v === 0 || v === 1), 'mask stays binary');
    let differ = 0;
    let fg = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < h * w; i++) {
        const k = c < 2 ? c : 0;
        if ((out.image[c * h * w + i] > 0.5 ? 1 : 0) !== out.mask[k * h * w + i]) differ++;
        fg += out.mask[k * h * w + i];
      }
    }
    assert.ok(fg > 0);
    assert.ok(differ / fg < 0.03, `seed ${s}: ${differ} of ${fg} foreground pixels disagree`);
    assert.notDeepEqual(out.mask.subarray(0, h * w), m);
  }
});

test('augmentation is deterministic per seed; brightness/contrast touch the image only', () => {
  const h = 24;
  const w = 24;
  const img = Float32Array.from({ length: h * w }, (_, i) => (i % 7) / 7);
  const m = shape(h, w);
  const a = augmentPair(img, 1, m, 1, h, w, new Rng(5), DEFAULT_AUGMENT);
  const b = augmentPair(img, 1, m, 1, h, w, new Rng(5), DEFAULT_AUGMENT);
  assert.deepEqual(a, b);
  const j = augmentPair(img, 1, m, 1, h, w, new Rng(5), { brightness: 0.2, contrast: 0.3 });
  assert.deepEqual(j.mask, m);
  assert.notDeepEqual(j.image, img);
  assert.equal(img[1], Math.fround(1 / 7), 'input untouched');
});

test('resize: nearest keeps values, bilinear is exact on constants and on 2x upsampling', () => {
  const src = Float32Array.from([0, 1, 1, 0]);
  const up = resizeNearest(src, 1, 2, 2, 4, 4);
  assert.deepEqual(Array.from(up), [0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
  assert.deepEqual(Array.from(resizeNearest(up, 1, 4, 4, 2, 2)), [0, 1, 1, 0]);
  const c = resizeBilinear(new Float32Array(2 * 9).fill(0.3), 2, 3, 3, 7, 5);
  assert.ok(c.every((v) => Math.abs(v - 0.3) < 1e-6));
  const ramp = resizeBilinear(Float32Array.from([0, 1]), 1, 1, 2, 1, 4);
  assert.deepEqual(Array.from(ramp), [0, 0.25, 0.75, 1]); // half-pixel centres, clamped at the edges
});

test('crops and normalisation', () => {
  const src = Float32Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual(Array.from(crop(src, 1, 4, 4, 1, 2, 2, 3)), [6, 7, 0, 10, 11, 0]);
  const r = randomCrop(src, 1, src, 1, 4, 4, 2, 2, new Rng(1));
  assert.deepEqual(r.image, r.mask);
  const padded = randomCrop(src, 1, src, 1, 4, 4, 6, 6, new Rng(1));
  assert.equal(padded.image[0], 0);
  assert.equal(padded.image[1 * 6 + 1], 0); // centred: source (0,0) lands at (1,1)
  assert.equal(padded.image[2 * 6 + 2], 5);
  const z = normalize(Float32Array.from([1, 2, 3, 10, 10, 10]), 2, 3, { kind: 'zscore' });
  assert.ok(Math.abs(z[0] + Math.sqrt(1.5)) < 1e-3 && Math.abs(z[1]) < 1e-6 && z[3] === 0);
  assert.deepEqual(Array.from(normalize(Float32Array.from([2, 4, 6]), 1, 3, { kind: 'minmax' })), [0, 0.5, 1]);
  assert.deepEqual(Array.from(normalize(Float32Array.from([1, 3]), 1, 2, { kind: 'fixed', mean: [1], std: [2] })), [0, 1]);
  const st = channelStats([{ data: Float32Array.from([0, 2]), channels: 1, width: 2, height: 1 }]);
  assert.deepEqual(st, { mean: [1], std: [1] });
});
