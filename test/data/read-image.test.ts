import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { readImage, readMaskRaw, writeImagePng, writeMaskPng } from '../../src/data/images/read-image.js';
import { garbage, png, tempDir } from './util.js';

test('8-bit grey/RGB PNG, 16-bit PNG, JPEG and TIFF read as CHW in [0, 1]', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await png(join(dir, 'g.png'), 3, 2, 1, (x, y) => x * 100 + y);
    const g = await readImage(join(dir, 'g.png'));
    assert.deepEqual([g.width, g.height, g.channels], [3, 2, 1]);
    assert.deepEqual(Array.from(g.data, (v) => Math.round(v * 255)), [0, 100, 200, 1, 101, 201]);

    await png(join(dir, 'c.png'), 2, 1, 3, (x, _y, c) => (c === 0 ? 255 : c === 1 ? x * 51 : 0));
    const c = await readImage(join(dir, 'c.png'));
    assert.equal(c.channels, 3);
    assert.deepEqual(Array.from(c.data, (v) => Math.round(v * 255)), [255, 255, 0, 51, 0, 0]); // planes R, G, B

    const img16 = { width: 2, height: 2, channels: 1, data: Float32Array.from([0, 1 / 65535, 0.5, 1]) };
    await writeImagePng(join(dir, 'd16.png'), img16, 16);
    const r16 = await readImage(join(dir, 'd16.png'));
    assert.deepEqual(Array.from(r16.data, (v) => Math.round(v * 65535)), [0, 1, 32768, 65535]);

    const px = new Uint8Array(8 * 8 * 3).fill(128);
    await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).jpeg({ quality: 95 }).toFile(join(dir, 'j.jpg'));
    await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).tiff().toFile(join(dir, 't.tif'));
    for (const f of ['j.jpg', 't.tif']) {
      const im = await readImage(join(dir, f));
      assert.equal(im.channels, 3, f);
      assert.ok(Math.abs(im.data[0] - 128 / 255) < 0.02, f);
    }
    // conversion and resize while decoding
    const grey = await readImage(join(dir, 'c.png'), { channels: 1 });
    assert.ok(Math.abs(grey.data[0] - 0.299) < 1e-6);
    const big = await readImage(join(dir, 'g.png'), { channels: 3, resize: { width: 6, height: 4 } });
    assert.deepEqual([big.width, big.height, big.channels, big.sourceWidth, big.sourceHeight], [6, 4, 3, 3, 2]);
  } finally {
    await cleanup();
  }
});

test('corrupt, truncated and missing files give an error naming the file', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await garbage(join(dir, 'bad.png'));
    await assert.rejects(readImage(join(dir, 'bad.png')), (e: Error) => e.message.includes(join(dir, 'bad.png')));
    await png(join(dir, 'ok.png'), 64, 64, 3, (x, y) => (x * y) % 256);
    const full = await sharp(join(dir, 'ok.png')).toBuffer();
    await sharp(full.subarray(0, full.length >> 1)).toFile(join(dir, 'cut.png')).catch(() => {});
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'cut.png'), full.subarray(0, full.length >> 1));
    await assert.rejects(readImage(join(dir, 'cut.png')), /cut\.png/);
    await assert.rejects(readImage(join(dir, 'nope.png')), /nope\.png/);
    await assert.rejects(readMaskRaw(join(dir, 'bad.png')), /bad\.png/);
  } finally {
    await cleanup();
  }
});

test('writeMaskPng writes 0/255 grey atomically (no temp files left)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const p = join(dir, 'm.png');
    await writeMaskPng(p, Float32Array.from([0, 0.2, 0.7, 1]), 2, 2);
    const m = await readMaskRaw(p);
    assert.deepEqual(Array.from(m.values), [0, 0, 255, 255]);
    assert.deepEqual(await readdir(dir), ['m.png']);
    await assert.rejects(writeMaskPng(p, new Float32Array(3), 2, 2), /m\.png/);
  } finally {
    await cleanup();
  }
});
