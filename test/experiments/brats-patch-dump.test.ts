// The BraTS PyTorch twin's patch files (experiments/common/patch-dump.ts): an epoch's batches
// round-trip byte for byte with their checksums, and on the real data (skipped without
// ../shared/data) the stream run.ts trains on is a pure function of its position: the loader's
// epoch generator (prefetching) gives what a fresh loader makes at that position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchDigest, epochFile, readPatchEpoch, writePatchEpoch, type DumpBatch } from '../../experiments/common/patch-dump.js';
import { DATA, PATCH_TRAINING, openBrats } from '../../experiments/brats/setup.js';
import { volumePatchLoader } from '../../src/train/volumes.js';
import { skipUnless } from '../data/util.js';

function batch(seed: number, n = 2, c = 2, k = 3, d = 4, h = 6, w = 8): DumpBatch {
  const size = d * h * w;
  return {
    x: Float32Array.from({ length: n * c * size }, (_, i) => Math.sin(seed * 1000 + i) * 3),
    y: Float32Array.from({ length: n * k * size }, (_, i) => ((seed + i) % 5 === 0 ? 1 : 0)),
    n, c, k, d, h, w, ids: Array.from({ length: n }, (_, i) => `case${seed}-${i}`), foreground: Array.from({ length: n }, (_, i) => i % 2 === 1),
  };
}

test('patch epoch file: batches, shapes, ids and checksums round-trip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'brats-dump-'));
  try {
    const batches = [batch(1), batch(2), batch(3)];
    const path = join(dir, epochFile(7));
    assert.equal(epochFile(7), 'epoch-007.safetensors');
    const info = writePatchEpoch(path, 7, batches, { seed: '0' });
    const f = readPatchEpoch(path);
    assert.equal(f.epoch, 7);
    assert.equal(f.metadata.seed, '0');
    assert.equal(f.batches.length, 3);
    f.batches.forEach((b, i) => {
      assert.deepEqual(b.xShape, [2, 2, 4, 6, 8]);
      assert.deepEqual(b.yShape, [2, 3, 4, 6, 8]);
      assert.deepEqual(b.x, batches[i].x);
      assert.deepEqual(b.y, batches[i].y);
      assert.deepEqual(b.info, info[i]);
      assert.deepEqual(b.info.ids, batches[i].ids);
      assert.equal(batchDigest(b), b.info.sha256);
    });
    assert.notEqual(info[0].sha256, info[1].sha256);
    const bad = { ...batch(4), k: 2 };
    assert.throws(() => writePatchEpoch(join(dir, 'bad.safetensors'), 1, [bad]), /lengths do not match/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real data: run.ts\'s patch stream is the same from the prefetching generator and from a fresh loader at that position', { skip: skipUnless(DATA), timeout: 120_000 }, async () => {
  const data = (await openBrats())!;
  const a = volumePatchLoader(data.train, PATCH_TRAINING);
  a.setState({ seed: 0, epoch: 2, batch: 0 }); // the trainer's epoch 3, entered as a resume does
  const it = a.epoch();
  const first = (await it.next()).value!, second = (await it.next()).value!;
  await it.return(undefined);
  assert.deepEqual([first.n, first.c, first.k, first.d, first.h, first.w], [2, 2, 3, 64, 64, 64]);
  const b = volumePatchLoader(data.train, PATCH_TRAINING);
  assert.equal(batchDigest(await b.makeBatch(2, 1)), batchDigest(second), 'batch 1 out of order, no prefetch');
  assert.equal(batchDigest(await b.makeBatch(2, 0)), batchDigest(first));
  assert.notEqual(batchDigest(await b.makeBatch(3, 0)), batchDigest(first), 'another epoch, other patches');
});
