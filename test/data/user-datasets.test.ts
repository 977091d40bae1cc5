// Part 7 of issue 17: datasets as users bring them (split.csv variants, folder-per-split,
// JPEG masks), patches per epoch, and validation on images of any size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { loadFolder, scanFolder } from '../../src/data/images/folder.js';
import { BatchLoader, groupBySize } from '../../src/data/loaders/loader.js';
import { csvCells, parseSplitCsv, stemOf } from '../../src/data/split-csv.js';
import { syntheticNuclei } from '../../src/data/images/synthetic.js';
import { train } from '../../src/train/trainer.js';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/index.js';
import { png, tempDir } from './util.js';

const disk = (x: number, y: number) => ((x - 8) ** 2 + (y - 8) ** 2 < 25 ? 255 : 0);

async function makeSet(dir: string, n: number, prefix = 'im'): Promise<void> {
  for (let i = 0; i < n; i++) {
    await png(join(dir, 'images', `${prefix}${i}.png`), 16, 16, 1, (x, y) => (disk(x, y) ? 200 : 20) + i);
    await png(join(dir, 'masks', `${prefix}${i}.png`), 16, 16, 1, disk);
  }
}

test('split.csv: other key columns, extra columns, quoted cells, split names normalised', async () => {
  assert.deepEqual(csvCells('"a,b",  train ,"say ""hi"""'), ['a,b', 'train', 'say "hi"']);
  assert.equal(stemOf('images/case_01.nii.gz'), 'case_01');
  assert.equal(stemOf('C:\\data\\im3.PNG'), 'im3');
  const rows = parseSplitCsv('\uFEFFFileName,patient,Subset\r\nimages/a.png,p1,Training\nb.jpg,p2,validation\n"c",p3,valid\nd,p4,TESTING\n', 'x.csv');
  assert.deepEqual(rows.map((r) => [r.id, r.split]), [['a', 'train'], ['b', 'val'], ['c', 'val'], ['d', 'test']]);
  assert.throws(() => parseSplitCsv('path,kind\na,train\n', 'x.csv'), /x\.csv: header "path,kind" needs a key column/);
  assert.throws(() => parseSplitCsv('name,split\na,holdout\n', 'x.csv'), /x\.csv: line 2: expected a name and a split/);

  const { dir, cleanup } = await tempDir();
  try {
    await makeSet(dir, 4);
    await writeFile(join(dir, 'split.csv'), 'image,split,notes\nimages/im0.png,training,ok\nim1.png,validation,"blurry, keep"\nim2,valid,\nim3,testing,x\n');
    const d = await scanFolder(dir);
    assert.deepEqual(d.samples.map((s) => s.split), ['train', 'val', 'val', 'test']);
    await writeFile(join(dir, 'split.csv'), 'name,split\nim0,train\nim0,test\n');
    await assert.rejects(scanFolder(dir), /split\.csv: line 3: id "im0" listed twice/);
  } finally {
    await cleanup();
  }
});

test('folder-per-split layouts: train/images, valid/images, testing/images', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await makeSet(join(dir, 'train'), 3, 'a');
    await makeSet(join(dir, 'valid'), 2, 'b');
    await makeSet(join(dir, 'testing'), 1, 'c');
    const d = await scanFolder(dir);
    assert.deepEqual(d.samples.map((s) => `${s.id}:${s.split}`), ['c0:test', 'a0:train', 'a1:train', 'a2:train', 'b0:val', 'b1:val']);
    const val = await loadFolder(dir, { split: 'val' });
    assert.deepEqual(val.samples.map((s) => s.id), ['b0', 'b1']);
    // a test split without masks is fine (nothing trains on it)
    await png(join(dir, 'test', 'images', 'u0.png'), 16, 16, 1, () => 9);
    const withTest = await scanFolder(dir);
    assert.deepEqual(withTest.samples.find((s) => s.id === 'u0')?.masks, []);
    assert.deepEqual(withTest.classes, ['foreground']);
    // the same stem in two splits: ids get the split folder as a prefix
    await makeSet(join(dir, 'valid'), 1, 'a');
    const e = await scanFolder(dir);
    assert.ok(e.samples.some((s) => s.id === 'valid/a0' && s.split === 'val'));
    assert.ok(e.samples.some((s) => s.id === 'train/a0' && s.split === 'train'));
  } finally {
    await cleanup();
  }
});

test('JPEG masks are thresholded with one warning counting the ambiguous pixels', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (let i = 0; i < 2; i++) {
      await png(join(dir, 'images', `m${i}.png`), 16, 16, 1, () => 50);
      const px = new Uint8Array(256);
      for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) px[y * 16 + x] = x < 8 ? 250 : 3;
      px[0] = 128; // one clearly ambiguous pixel per mask, on top of JPEG's own ringing
      const path = join(dir, 'masks', `m${i}.jpg`);
      await mkdir(dirname(path), { recursive: true });
      await sharp(px, { raw: { width: 16, height: 16, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 95 }).toFile(path);
    }
    const warnings: string[] = [];
    const { samples } = await loadFolder(dir, { onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /2 JPEG masks thresholded at half scale; (\d+) of 512 pixels .* ambiguous.*save masks as PNG/);
    const n = Number(/; (\d+) of/.exec(warnings[0])![1]);
    assert.ok(n >= 2 && n < 40, `ambiguous count ${n}`);
    const m = samples[0].mask.data;
    assert.ok(m.every((v) => v === 0 || v === 1));
    assert.equal(m[16 + 2], 1);
    assert.equal(m[16 + 13], 0);
  } finally {
    await cleanup();
  }
});

test('samplesPerEpoch: epochs of N draws, every image drawn evenly, seeded', () => {
  const s = syntheticNuclei({ count: 5, width: 24, height: 24, seed: 1, channels: 1 });
  const l = new BatchLoader(s, { batchSize: 4, seed: 7, crop: { width: 16, height: 16 }, samplesPerEpoch: 23 });
  assert.equal(l.length, 6);
  const order = l.order(0);
  assert.equal(order.length, 23);
  const counts = [0, 0, 0, 0, 0];
  for (const i of order) counts[i]++;
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, counts.join());
  assert.deepEqual(new BatchLoader(s, { batchSize: 4, seed: 7, samplesPerEpoch: 23 }).order(0), order);
  // without the option the order is the plain one-pass shuffle (old runs resume unchanged)
  assert.deepEqual(new BatchLoader(s, { batchSize: 4, seed: 7 }).order(0), order.slice(0, 5));
  const b = l.makeBatch(0, 5);
  assert.deepEqual([b.n, b.h, b.w], [3, 16, 16]);
  assert.throws(() => new BatchLoader(s, { batchSize: 1, samplesPerEpoch: 0 }), /samplesPerEpoch must be a positive integer/);
});

test('training on crops validates on whole images of any size (padded as the predictor does)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const all = syntheticNuclei({ count: 6, width: 37, height: 29, seed: 2, channels: 1 });
    const odd = syntheticNuclei({ count: 2, width: 21, height: 26, seed: 3, channels: 1 });
    const val = [...all.slice(4), ...odd];
    assert.equal(groupBySize(val).length, 2);
    const model = new SegModel({ preset: 'bn', filters: [4, 8, 16], inChannels: 1, deepSupervision: true, seed: 3 });
    const r = await train(model, { train: all.slice(0, 4), val }, {
      outDir: dir, epochs: 1, batchSize: 2, crop: { width: 16, height: 16 }, samplesPerEpoch: 6,
      backend: new ReferenceBackend(), log: null, progress: false, plot: false,
    });
    assert.equal(r.history[0].steps, 3);
    assert.ok(Number.isFinite(r.history[0].iou) && Number.isFinite(r.history[0].valLoss));
  } finally {
    await cleanup();
  }
});

test('CLI: train on a folder per split with JPEG masks and odd-sized images, --crop with --samples-per-epoch', async () => {
  const { spawnSync } = await import('node:child_process');
  const { repoRoot } = await import('./util.js');
  const { dir, cleanup } = await tempDir();
  try {
    for (const [split, n] of [['training', 3], ['validation', 2]] as const) {
      for (let i = 0; i < n; i++) {
        await png(join(dir, 'data', split, 'images', `${split}${i}.png`), 37, 45, 1, (x, y) => (disk(x % 16, y % 16) ? 220 : 30));
        const px = new Uint8Array(37 * 45);
        for (let y = 0; y < 45; y++) for (let x = 0; x < 37; x++) px[y * 37 + x] = disk(x % 16, y % 16);
        await mkdir(join(dir, 'data', split, 'masks'), { recursive: true });
        await sharp(px, { raw: { width: 37, height: 45, channels: 1 } }).toColourspace('b-w').jpeg().toFile(join(dir, 'data', split, 'masks', `${split}${i}.jpg`));
      }
    }
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'train', '-d', join(dir, 'data'), '-o', join(dir, 'run'),
      '--crop', '16', '--samples-per-epoch', '6', '--batch-size', '2', '--epochs', '1', '--filters', '4,8,16', '--no-progress', '--no-plot'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /on 3 train \/ 2 val images/);
    assert.match(r.stdout, /epoch 1\/1 .* iou \d/);
    assert.match(r.stderr, /JPEG masks thresholded at half scale/);
  } finally {
    await cleanup();
  }
});

test('mask files named <stem>_mask, _seg, _gt... pair with their image', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const [i, suffix] of ['_mask', '_segmentation', '_GT', ''].entries()) {
      await png(join(dir, 'images', `im${i}.png`), 16, 16, 1, () => 50);
      await png(join(dir, 'masks', `im${i}${suffix}.png`), 16, 16, 1, disk);
    }
    const d = await scanFolder(dir);
    assert.deepEqual(d.samples.map((s) => s.masks[0].replace(/.*masks\//, '')), ['im0_mask.png', 'im1_segmentation.png', 'im2_GT.png', 'im3.png']);
    await png(join(dir, 'masks', 'im3_mask.png'), 16, 16, 1, disk);
    await assert.rejects(scanFolder(dir), /masks\/im3_mask\.png: a second mask for image .*im3\.png \(also .*masks\/im3\.png\)/);
  } finally {
    await cleanup();
  }
});
