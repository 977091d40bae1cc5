// 3D training data (issue 17 part 3): random patches [C, D, H, W] with foreground oversampling,
// seeded and resumable, and 3D augmentation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { scanVolumes } from '../../src/data/volumes/volume-layout.js';
import { VolumeStore } from '../../src/data/volumes/volume-store.js';
import { PatchLoader, isForegroundDraw } from '../../src/data/loaders/patch-loader.js';
import { drawTransform3d, DEFAULT_AUGMENT_3D } from '../../src/data/augmentation/augment3d.js';
import { patchStart, readPatch } from '../../src/data/loaders/patches.js';
import type { LoadedVolume } from '../../src/data/volumes/volume-load.js';
import { BRATS_REGIONS } from '../../src/data/labels.js';
import { Rng } from '../../src/data/rng.js';
import { sharedData, skipUnless, tempDir } from './util.js';
import { ball, makeVolume, saveVolume } from './volume-util.js';

/** An in-memory volume: image value = its flat index, label = a small ball. */
function memVolume(X: number, Y: number, Z: number): LoadedVolume {
  const n = X * Y * Z;
  const labels = new Uint8Array(n);
  const b = ball(X - 3, Y - 3, Z - 3, 1.5);
  for (let i = 0; i < n; i++) labels[i] = b(i % X, Math.floor(i / X) % Y, Math.floor(i / (X * Y)));
  const g = { dims: [X, Y, Z] as [number, number, number], spacing: [1, 1, 1] as [number, number, number], affine: [] };
  return { id: 'm', split: 'train', channels: 1, image: Float32Array.from({ length: n }, (_, i) => i), labels, foreground: [], ...g, source: g };
}

test('foreground draws: exactly the fraction, spread evenly', () => {
  const fg = Array.from({ length: 9 }, (_, g) => isForegroundDraw(g, 1 / 3));
  assert.deepEqual(fg, [false, false, true, false, false, true, false, false, true]);
  assert.equal(Array.from({ length: 100 }, (_, g) => isForegroundDraw(g, 0.5)).filter(Boolean).length, 50);
});

test('patchStart: inside the volume; centred on the given voxel unless that would leave the volume', () => {
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) {
    const s = patchStart([10, 12, 14], [4, 5, 6], rng);
    assert.ok(s.every((v, a) => v >= 0 && v + [4, 5, 6][a] <= [10, 12, 14][a]));
    const voxel = rng.int(10 * 12 * 14);
    const at = [Math.floor(voxel / 168), Math.floor(voxel / 14) % 12, voxel % 14];
    const f = patchStart([10, 12, 14], [4, 5, 6], rng, voxel);
    assert.ok(f.every((v, a) => v <= at[a] && at[a] < v + [4, 5, 6][a]), `${f} ${at}`);
    assert.ok(f.every((v, a) => v === 0 || v === [10, 12, 14][a] - [4, 5, 6][a] || v + Math.floor([4, 5, 6][a] / 2) === at[a]), `${f} ${at}`);
  }
});

test('readPatch: identity copies the window; flips and turns permute it exactly; rotations interpolate', () => {
  const v = memVolume(9, 8, 7);
  const id = readPatch(v, [1, 2, 3], [3, 4, 4]);
  assert.equal(id.image[0], 1 * 72 + 2 * 9 + 3);
  assert.equal(id.image[3 * 4 * 4 - 1], 3 * 72 + 5 * 9 + 6);
  const rng = new Rng(5);
  for (let i = 0; i < 20; i++) {
    const t = drawTransform3d([3, 4, 4], rng, { flip: true, rotate90: true });
    assert.ok(t.exact);
    const p = readPatch(v, [1, 2, 3], [3, 4, 4], t);
    assert.deepEqual(Array.from(p.image).sort((a, b) => a - b), Array.from(id.image).sort((a, b) => a - b));
  }
  // in-plane turn on an odd/even mix: 0 or 180 degrees only when H != W
  for (let i = 0; i < 20; i++) assert.ok(drawTransform3d([3, 4, 5], rng, { rotate90: true }).m[4] !== 0);
  // thick slices: rotations stay in-plane (z untouched)
  const aniso = drawTransform3d([4, 4, 4], new Rng(2), { affine: { p: 1, degrees: 10, scale: [1, 1] } }, true);
  assert.deepEqual([aniso.m[0], aniso.m[1], aniso.m[2], aniso.m[3], aniso.m[6]].map((x) => Math.abs(x)), [1, 0, 0, 0, 0]);
  const t = drawTransform3d([4, 4, 4], new Rng(2), { affine: { p: 1, degrees: 10, scale: [0.9, 1.1] } });
  assert.equal(t.exact, false);
  const r = readPatch(v, [1, 2, 2], [4, 4, 4], t);
  assert.ok(r.labels!.every((l) => l === 0 || l === 1));
  assert.ok(r.image.some((x) => !Number.isInteger(x)));
});

test('PatchLoader: shapes, one-hot regions, a third on foreground, seeded and resumable', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (let i = 0; i < 3; i++) {
      await saveVolume(join(dir, 'images', `c${i}_0000.nii.gz`), makeVolume([20, 18, 16], (x, y, z) => x + y + z + i));
      await saveVolume(join(dir, 'images', `c${i}_0001.nii.gz`), makeVolume([20, 18, 16], (x) => x * i));
      // a small tumour: enhancing core (4) inside oedema (2)
      await saveVolume(join(dir, 'labels', `c${i}.nii.gz`), makeVolume([20, 18, 16], (x, y, z) => ball(14, 12, 10, 1)(x, y, z) ? 4 : ball(14, 12, 10, 2.5)(x, y, z) ? 2 : 0), 'uint8');
    }
    const ds = await scanVolumes(dir, { splitOf: () => 'train' });
    const store = new VolumeStore(ds.cases, { modalities: 2, labels: BRATS_REGIONS });
    const opts = { patch: [8, 8, 8] as [number, number, number], batchSize: 3, samplesPerEpoch: 12, seed: 4, augment: DEFAULT_AUGMENT_3D };
    const l = new PatchLoader(store, opts);
    assert.equal(l.length, 4);
    const b = await l.makeBatch(0, 1);
    assert.deepEqual([b.n, b.c, b.k, b.d, b.h, b.w], [3, 2, 3, 8, 8, 8]);
    assert.equal(b.x.length, 3 * 2 * 512);
    assert.equal(b.y.length, 3 * 3 * 512);
    assert.deepEqual(b.foreground, [false, false, true]);
    const wt = (slot: number) => b.y.subarray(slot * 3 * 512, slot * 3 * 512 + 512).reduce((a, v) => a + v, 0);
    assert.ok(wt(2) > 0, 'the foreground draw holds tumour');
    // regions nest: enhancing inside core inside whole tumour
    for (let s = 0; s < 3; s++) for (let i = 0; i < 512; i++) {
      const [w, c, e] = [0, 1, 2].map((p) => b.y[(s * 3 + p) * 512 + i]);
      assert.ok(w >= c && c >= e);
    }
    const again = await new PatchLoader(store, opts).makeBatch(0, 1);
    assert.deepEqual(Array.from(again.x), Array.from(b.x));
    const other = await new PatchLoader(store, { ...opts, seed: 5 }).makeBatch(0, 1);
    assert.notDeepEqual(Array.from(other.x), Array.from(b.x));
    // resume: the rest of an epoch from a saved position equals the uninterrupted run
    const full: string[] = [];
    for await (const x of l.epoch()) full.push(x.ids.join() + x.x[7]);
    const r = new PatchLoader(store, opts);
    r.setState({ seed: 4, epoch: 0, batch: 2 });
    const rest: string[] = [];
    for await (const x of r.epoch()) rest.push(x.ids.join() + x.x[7]);
    assert.deepEqual(rest, full.slice(2));
    assert.deepEqual(r.getState(), { seed: 4, epoch: 1, batch: 0 });
    assert.throws(() => new PatchLoader(store, { ...opts, samplesPerEpoch: 2 }), /2 draws per epoch make no full batch of 3/);
    // a dataset larger than memory: nothing cached, every draw decodes its case again, same batches
    const tiny = new VolumeStore(ds.cases, { modalities: 2, labels: BRATS_REGIONS, cacheBytes: 0 });
    const lazy = await new PatchLoader(tiny, opts).makeBatch(0, 1);
    assert.deepEqual(Array.from(lazy.x), Array.from(b.x));
    assert.equal(tiny.cachedBytes, 0);
    assert.equal(tiny.loads, 3);
    // a patch deeper than the volume: the volume is padded along z (centred, zeros), never an error
    const deep = await new PatchLoader(store, { ...opts, patch: [32, 8, 8], augment: null }).makeBatch(0, 0);
    assert.equal(deep.x.length, 3 * 2 * 32 * 8 * 8);
    for (let z = 0; z < 8; z++) for (let i = 0; i < 64; i++) assert.equal(deep.x[z * 64 + i], 0, 'padding above the volume');
  } finally {
    await cleanup();
  }
});

const brats = join(sharedData, 'brats2015-6cases');
test('real data: brats2015-6cases scans as 2 train / 2 val / 2 test with two modalities and trains on patches', { skip: skipUnless(brats) }, async () => {
  const ds = await scanVolumes(brats);
  assert.deepEqual(ds.modalities, ['flair', 't1c']);
  assert.deepEqual(['train', 'val', 'test'].map((s) => ds.cases.filter((c) => c.split === s).length), [2, 2, 2]);
  assert.ok(ds.cases.every((c) => c.mask && c.label));
  const train = ds.cases.filter((c) => c.split === 'train');
  const store = new VolumeStore(train, { modalities: 2, labels: BRATS_REGIONS, normalize: 'mri', cropToNonzero: true });
  const l = new PatchLoader(store, { patch: [32, 64, 64], batchSize: 3, seed: 1, samplesPerEpoch: 3, augment: DEFAULT_AUGMENT_3D });
  const b = await l.makeBatch(0, 0);
  assert.deepEqual([b.n, b.c, b.k, b.d, b.h, b.w], [3, 2, 3, 32, 64, 64]);
  const size = 32 * 64 * 64;
  assert.ok(b.y.subarray(2 * 3 * size, 2 * 3 * size + size).some((v) => v === 1), 'the foreground patch holds whole tumour');
  const v = await store.get(0);
  assert.deepEqual(v.source.dims, [240, 240, 155]);
  assert.ok(v.crop && v.dims.every((d, a) => d < v.source.dims[a]), 'cropped to the brain mask');
  assert.equal(v.foreground.length, 3);
});

test('synthetic volumes: seeded, labelled lesion + core, train on patches in memory, and written as a dataset that reads back', async () => {
  const { syntheticVolumes, writeSyntheticVolumes } = await import('../../src/data/volumes/synthetic-volumes.js');
  const { MemoryVolumes } = await import('../../src/data/volumes/volume-store.js');
  const { openVolumes } = await import('../../src/data/volumes/volume-dataset.js');
  const a = syntheticVolumes({ count: 5, dims: [24, 20, 16], channels: 2, seed: 3 });
  const b = syntheticVolumes({ count: 5, dims: [24, 20, 16], channels: 2, seed: 3 });
  assert.deepEqual(Array.from(a[2].image.subarray(0, 50)), Array.from(b[2].image.subarray(0, 50)));
  assert.ok(a.every((v) => v.labels!.some((l) => l === 1) && v.labels!.some((l) => l === 2)));
  assert.deepEqual(['train', 'val', 'test'].map((s) => a.filter((v) => v.split === s).length), [3, 1, 1]);
  const spec = { kind: 'classes' as const, values: [1, 2], background: true };
  const l = new PatchLoader(new MemoryVolumes(a.filter((v) => v.split === 'train'), spec), { patch: [8, 16, 16], batchSize: 3, seed: 1, augment: DEFAULT_AUGMENT_3D });
  const batch = await l.makeBatch(0, 0);
  assert.deepEqual([batch.c, batch.k], [2, 3]);
  // one-hot with background: planes sum to 1 everywhere
  const size = 8 * 16 * 16;
  for (let i = 0; i < size; i++) assert.equal(batch.y[i] + batch.y[size + i] + batch.y[2 * size + i], 1);
  const { dir, cleanup } = await tempDir();
  try {
    await writeSyntheticVolumes(dir, { count: 5, dims: [24, 20, 16], channels: 2, seed: 3 });
    const vd = await openVolumes(dir, { labels: spec, normalize: 'none' });
    assert.equal(vd.dataset.modalities.length, 2);
    const v = await vd.splits.val!.get(0);
    const orig = a.find((x) => x.id === v.id)!;
    assert.deepEqual(Array.from(v.labels!), Array.from(orig.labels!));
    assert.deepEqual(Array.from(v.image.subarray(0, 100)), Array.from(orig.image.subarray(0, 100)));
  } finally {
    await cleanup();
  }
});

test('3D intensity augmentation: gamma keeps each channel\'s range, noise changes values, both seeded', async () => {
  const { augmentIntensity3d } = await import('../../src/data/augmentation/augment3d.js');
  const base = Float32Array.from({ length: 2 * 100 }, (_, i) => (i % 100) / 10 - 3 + (i >= 100 ? 5 : 0));
  const a = base.slice();
  augmentIntensity3d(a, 2, 100, new Rng(3), { gamma: { p: 1, range: [0.5, 0.6] } });
  for (const ch of [0, 1]) {
    const v = Array.from(a.subarray(ch * 100, ch * 100 + 100)), w = Array.from(base.subarray(ch * 100, ch * 100 + 100));
    assert.ok(Math.abs(Math.min(...v) - Math.min(...w)) < 1e-5 && Math.abs(Math.max(...v) - Math.max(...w)) < 1e-5);
    assert.ok(v[50] > w[50], 'gamma < 1 lifts the middle');
  }
  const n1 = base.slice(), n2 = base.slice();
  augmentIntensity3d(n1, 2, 100, new Rng(9), { noise: { p: 1, std: 0.5 } });
  augmentIntensity3d(n2, 2, 100, new Rng(9), { noise: { p: 1, std: 0.5 } });
  assert.deepEqual(Array.from(n1), Array.from(n2));
  assert.notDeepEqual(Array.from(n1), Array.from(base));
});
