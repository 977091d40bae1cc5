import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFolder, scanFolder } from '../../src/data/images/folder.js';
import { garbage, png, tempDir } from './util.js';

const disk = (x: number, y: number) => ((x - 8) ** 2 + (y - 8) ** 2 < 25 ? 255 : 0);

/** A small binary dataset: n RGB 16x16 images with disk masks. */
async function makeSet(dir: string, n = 5): Promise<void> {
  for (let i = 0; i < n; i++) {
    await png(join(dir, 'images', `im${i}.png`), 16, 16, 3, (x, y, c) => (disk(x, y) ? 200 : 20) + c + i);
    await png(join(dir, 'masks', `im${i}.png`), 16, 16, 1, disk);
  }
}

async function expectError(dir: string, re: RegExp, opts = {}): Promise<void> {
  await assert.rejects(loadFolder(dir, opts), (e: Error) => {
    assert.match(e.message, re);
    return true;
  });
}

test('binary layout loads, resizes, and masks are 0/1', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await makeSet(dir);
    const { dataset, samples } = await loadFolder(dir, { size: { width: 8, height: 8 } });
    assert.deepEqual(dataset.classes, ['foreground']);
    assert.equal(samples.length, 5);
    const s = samples[0];
    assert.deepEqual([s.image.width, s.image.height, s.image.channels, s.mask.channels], [8, 8, 3, 1]);
    assert.ok(s.mask.data.every((v) => v === 0 || v === 1));
    assert.equal(s.mask.data[4 * 8 + 4], 1);
    assert.equal(s.mask.data[0], 0);
    const inv = await loadFolder(dir, { invertMasks: true });
    assert.equal(inv.samples[0].mask.data[0], 1);
    assert.equal(inv.samples[0].mask.data[8 * 16 + 8], 0);
  } finally {
    await cleanup();
  }
});

test('per-class layout masks/<class>/<stem>.png gives one plane per class', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (let i = 0; i < 2; i++) {
      await png(join(dir, 'images', `a${i}.png`), 8, 8, 1, (x) => x * 30);
      await png(join(dir, 'masks', 'cell', `a${i}.png`), 8, 8, 1, (x) => (x < 4 ? 255 : 0));
      await png(join(dir, 'masks', 'nucleus', `a${i}.png`), 8, 8, 1, (x) => (x === 2 ? 1 : 0)); // {0,1} masks are fine
    }
    const { dataset, samples } = await loadFolder(dir);
    assert.deepEqual(dataset.classes, ['cell', 'nucleus']);
    assert.equal(samples[0].mask.channels, 2);
    assert.deepEqual(Array.from(samples[0].mask.data.subarray(0, 8)), [1, 1, 1, 1, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(samples[0].mask.data.subarray(64, 72)), [0, 0, 1, 0, 0, 0, 0, 0]);
    await garbage(join(dir, 'masks', 'cell', 'zzz.png'));
    await expectError(dir, /masks\/cell\/zzz\.png: mask without image/);
  } finally {
    await cleanup();
  }
});

test('split.csv is used; a seeded split otherwise', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await makeSet(dir, 10);
    const a = await scanFolder(dir, { seed: 3 });
    const b = await scanFolder(dir, { seed: 3 });
    const c = await scanFolder(dir, { seed: 4 });
    const splits = (d: typeof a) => d.samples.map((s) => s.split).join();
    assert.equal(splits(a), splits(b));
    assert.notEqual(splits(a), splits(c));
    assert.deepEqual(['train', 'val', 'test'].map((s) => a.samples.filter((x) => x.split === s).length), [8, 1, 1]);
    await writeFile(join(dir, 'split.csv'), 'id,split\n' + a.samples.map((s, i) => `${s.id},${i < 5 ? 'test' : 'train'}`).join('\n') + '\n');
    const d = await scanFolder(dir);
    assert.equal(d.samples.filter((s) => s.split === 'test').length, 5);
    const only = await loadFolder(dir, { split: 'train' });
    assert.equal(only.samples.length, 5);
    await writeFile(join(dir, 'split.csv'), 'id,split\nim0,train\n');
    await expectError(dir, /split\.csv: image .*im1\.png is not listed/);
    await writeFile(join(dir, 'split.csv'), 'id,split\nim0,holdout\n');
    await expectError(dir, /split\.csv: line 2/);
    await writeFile(join(dir, 'split.csv'), 'id,split\nghost,train\n');
    await expectError(dir, /split\.csv: line 2: no image for id "ghost"/);
  } finally {
    await cleanup();
  }
});

test('bad inputs: each error names the file', async () => {
  const cases: [string, (dir: string) => Promise<void>, RegExp, object?][] = [
    ['no images folder', (dir) => png(join(dir, 'masks', 'x.png'), 2, 2, 1, () => 0), /images: images folder not found/],
    ['missing mask', async (dir) => {
      await makeSet(dir, 2);
      await png(join(dir, 'images', 'extra.png'), 16, 16, 3, () => 1);
    }, /images\/extra\.png: missing mask .*masks\/extra\.png/],
    ['mask without image', async (dir) => {
      await makeSet(dir, 2);
      await png(join(dir, 'masks', 'orphan.png'), 16, 16, 1, () => 0);
    }, /masks\/orphan\.png: mask without image/],
    ['size mismatch', async (dir) => {
      await makeSet(dir, 2);
      await png(join(dir, 'masks', 'im1.png'), 15, 16, 1, () => 0);
    }, /masks\/im1\.png: mask is 15x16 but its image is 16x16/],
    ['corrupt image', async (dir) => {
      await makeSet(dir, 2);
      await garbage(join(dir, 'images', 'im1.png'));
    }, /images\/im1\.png: cannot read image/],
    ['corrupt mask', async (dir) => {
      await makeSet(dir, 2);
      await garbage(join(dir, 'masks', 'im0.png'));
    }, /masks\/im0\.png: cannot read image/],
    ['grey values in a mask', async (dir) => {
      await makeSet(dir, 2);
      await png(join(dir, 'masks', 'im1.png'), 16, 16, 1, (x) => x * 10);
    }, /masks\/im1\.png: mask value 10 at \(1,0\)/],
    ['mixed grey and RGB', async (dir) => {
      await makeSet(dir, 2);
      await png(join(dir, 'images', 'im1.png'), 16, 16, 1, () => 9);
    }, /images\/im1\.png: is grey but .*im0\.png is RGB: mixed inputs/],
    ['no images at all', async (dir) => {
      await png(join(dir, 'masks', 'x.png'), 2, 2, 1, () => 0);
      await writeFile(join(dir, 'notes.txt'), 'hi');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(dir, 'images'));
    }, /images: empty folder/],
    ['two images with one stem', async (dir) => {
      await makeSet(dir, 1);
      await png(join(dir, 'images', 'im0.tif'), 16, 16, 3, () => 1);
    }, /two files share the stem "im0"/],
  ];
  for (const [name, build, re, opts] of cases) {
    const { dir, cleanup } = await tempDir();
    try {
      await build(dir);
      await assert.rejects(loadFolder(dir, opts), (e: Error) => {
        assert.match(e.message, re, name);
        return true;
      }, name);
    } finally {
      await cleanup();
    }
  }
});

test('explicit options accept what is otherwise an error', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await makeSet(dir, 2);
    await png(join(dir, 'images', 'im1.png'), 16, 16, 1, () => 9);
    await png(join(dir, 'masks', 'im0.png'), 16, 16, 1, (x) => (x < 8 ? 40 : 200));
    const { samples } = await loadFolder(dir, { channels: 3, thresholdMasks: true });
    assert.ok(samples.every((s) => s.image.channels === 3));
    assert.deepEqual(Array.from(samples[0].mask.data.subarray(6, 10)), [0, 0, 1, 1]);
    const grey = await loadFolder(dir, { channels: 1, thresholdMasks: true });
    assert.ok(grey.samples.every((s) => s.image.channels === 1));
  } finally {
    await cleanup();
  }
});

test('inference folders: requireMasks false allows images without masks', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await png(join(dir, 'test_images', 'x.png'), 4, 4, 1, () => 0);
    const d = await scanFolder(dir, { imagesDir: 'test_images', requireMasks: false });
    assert.deepEqual(d.samples.map((s) => [s.id, s.masks.length]), [['x', 0]]);
  } finally {
    await cleanup();
  }
});
