import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { syntheticNuclei, writeSynthetic } from '../../src/data/images/synthetic.js';
import { loadFolder } from '../../src/data/images/folder.js';
import { tempDir } from './util.js';

test('synthetic nuclei: deterministic per seed, prefix-stable, binary masks, varied', () => {
  const a = syntheticNuclei({ count: 12, seed: 3 });
  const b = syntheticNuclei({ count: 12, seed: 3 });
  assert.deepEqual(a, b);
  const longer = syntheticNuclei({ count: 20, seed: 3 });
  assert.deepEqual(longer[5].image, a[5].image);
  assert.notDeepEqual(syntheticNuclei({ count: 1, seed: 4 })[0].image, a[0].image);
  for (const s of a) {
    assert.deepEqual([s.image.width, s.image.height, s.image.channels, s.mask.channels], [96, 96, 3, 1]);
    assert.ok(s.mask.data.every((v) => v === 0 || v === 1));
    assert.ok(s.image.data.every((v) => v >= 0 && v <= 1));
  }
  const fg = a.map((s) => s.mask.data.reduce((x, y) => x + y, 0) / (96 * 96));
  assert.ok(Math.min(...fg) > 0.005 && Math.max(...fg) < 0.5, `foreground fractions ${fg}`);
  assert.ok(new Set(a.map((s) => s.split)).size >= 2);
  const grey = syntheticNuclei({ count: 2, seed: 3, channels: 1, width: 64, height: 48 });
  assert.deepEqual([grey[0].image.channels, grey[0].image.width, grey[0].image.height], [1, 64, 48]);
});

test('written synthetic folder loads back (images, masks, split.csv)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const made = await writeSynthetic(join(dir, 'syn'), { count: 6, seed: 1, width: 32, height: 32 });
    const { samples } = await loadFolder(join(dir, 'syn'));
    assert.deepEqual(samples.map((s) => [s.id, s.split]), made.map((s) => [s.id, s.split]));
    assert.deepEqual(samples[2].mask.data, made[2].mask.data);
    const err = samples[2].image.data.reduce((m, v, i) => Math.max(m, Math.abs(v - made[2].image.data[i])), 0);
    assert.ok(err <= 0.5 / 255 + 1e-6, `8-bit quantisation only, got ${err}`);
  } finally {
    await cleanup();
  }
});
