// The real data sets in ../shared/data (outside the repo): skipped where absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isbiSplit, loadFolder, scanFolder } from '../../src/data/images/folder.js';
import { sharedData, skipUnless } from './util.js';

const dsb = join(sharedData, 'dsb2018');
const isbi = join(sharedData, 'isbi2012-em');

test('dsb2018: split.csv gives 464 / 66 / 134, all pairs found', { skip: skipUnless(dsb) }, async () => {
  const d = await scanFolder(dsb);
  assert.deepEqual(d.classes, ['foreground']);
  const count = (s: string) => d.samples.filter((x) => x.split === s).length;
  assert.deepEqual([count('train'), count('val'), count('test')], [464, 66, 134]);
  assert.ok(d.samples.every((s) => s.masks.length === 1));
});

test('dsb2018: validation split loads at 96x96 (RGB, binary masks)', { skip: skipUnless(dsb) }, async () => {
  const { samples } = await loadFolder(dsb, { split: 'val', size: { width: 96, height: 96 } });
  assert.equal(samples.length, 66);
  for (const s of samples) {
    assert.deepEqual([s.image.channels, s.image.width, s.image.height, s.mask.channels], [3, 96, 96, 1]);
    assert.ok(s.mask.data.every((v) => v === 0 || v === 1));
  }
  const fg = samples.reduce((a, s) => a + s.mask.data.reduce((x, y) => x + y, 0), 0) / (66 * 96 * 96);
  assert.ok(fg > 0.02 && fg < 0.5, `foreground fraction ${fg}`);
});

test('isbi2012-em: 30 grey 512x512 pairs; inverted masks make membranes the target', { skip: skipUnless(isbi) }, async () => {
  const { dataset, samples } = await loadFolder(isbi, { invertMasks: true, splitOf: isbiSplit });
  assert.equal(dataset.samples.length, 30);
  assert.deepEqual(['train', 'val', 'test'].map((s) => dataset.samples.filter((x) => x.split === s).length), [20, 4, 6]);
  assert.deepEqual([samples[0].image.channels, samples[0].image.width, samples[0].image.height], [1, 512, 512]);
  const fg = samples.reduce((a, s) => a + s.mask.data.reduce((x, y) => x + y, 0), 0) / (30 * 512 * 512);
  assert.ok(fg > 0.15 && fg < 0.3, `membrane fraction ${fg} (README: 22%)`);
  const test = await scanFolder(isbi, { imagesDir: 'test_images', imagesOnly: true, splitFile: false });
  assert.equal(test.samples.length, 30);
});
