// What a first run on a new volume dataset needs from the data layer (issue 23): dataset.json's
// labels with a background class and their names, label values outside the spec mapped to
// background or ignored (left out of targets and scores), small cases padded into patches, a
// seeded split with a validation case for tiny datasets, and non-finite voxels named by file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rejects } from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanVolumes } from '../../src/data/volumes/volume-layout.js';
import { seededSplitSizes } from '../../src/data/split-csv.js';
import { loadCase, type LoadedVolume } from '../../src/data/volumes/volume-load.js';
import { openVolumes, resolveLabels } from '../../src/data/volumes/volume-dataset.js';
import { expandPlanes, ignoreMask, labelsFromPlanes, planeNames, toLabelMap, type LabelSpec } from '../../src/data/labels.js';
import { scoreLabelVolumes } from '../../src/metrics/volume.js';
import { patchStart, readPatch } from '../../src/data/loaders/patches.js';
import { PatchLoader } from '../../src/data/loaders/patch-loader.js';
import { MemoryVolumes } from '../../src/data/volumes/volume-store.js';
import { Rng } from '../../src/data/rng.js';
import { tempDir } from './util.js';
import { ball, makeVolume, saveVolume } from './volume-util.js';

const D: [number, number, number] = [8, 7, 6];

test('dataset.json labels: a background class first, names kept; --labels keeps the names; sigmoid has no background; ignore label', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'dataset.json'), JSON.stringify({ modality: { 0: 'MRI' }, labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' } }));
    for (let i = 0; i < 3; i++) {
      await saveVolume(join(dir, 'imagesTr', `hippocampus_00${i}.nii.gz`), makeVolume(D, (x) => 1 + x));
      await saveVolume(join(dir, 'labelsTr', `hippocampus_00${i}.nii.gz`), makeVolume(D, (x, y, z) => ball(4, 3, 3, 2, 1)(x, y, z) || (x === 0 ? 2 : 0)), 'uint8');
    }
    const ds = await scanVolumes(dir);
    assert.deepEqual(ds.labels, { kind: 'classes', values: [1, 2], names: ['Anterior', 'Posterior'], background: true });
    const vd = await openVolumes(dir);
    assert.deepEqual(vd.classNames, ['background', 'Anterior', 'Posterior']);
    assert.deepEqual(planeNames(resolveLabels('1,2', ds.labels, { softmax: true })), ['background', 'Anterior', 'Posterior']);
    assert.deepEqual(planeNames(resolveLabels('2', ds.labels, { softmax: true })), ['background', 'Posterior']);
    assert.deepEqual(planeNames(resolveLabels(undefined, ds.labels, { softmax: false })), ['Anterior', 'Posterior']);
    assert.deepEqual(resolveLabels('1', ds.labels, { softmax: true, other: 'ignore' }), { kind: 'classes', values: [1], names: ['Anterior'], background: true, other: 'ignore' });
    assert.throws(() => resolveLabels(undefined, undefined, { softmax: true, other: 'background' }), /--other: binary labels .* give --labels/);
    // nnU-Net v2 spelling with an ignore label
    await writeFile(join(dir, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2, ignore: 3 } }));
    assert.deepEqual((await scanVolumes(dir)).labels, { kind: 'classes', values: [1, 2], names: ['Anterior', 'Posterior'], background: true, other: 'ignore' });
  } finally {
    await cleanup();
  }
});

test('label values outside the spec: an error naming the file and --other by default; background or ignored with --other', () => {
  const dims = [5, 1, 1];
  const values = Float32Array.from([0, 5, 7, 5, 42]);
  assert.throws(() => toLabelMap(values, 'ct/liver_1.nii.gz', dims, { kind: 'classes', values: [5], background: true }),
    /ct\/liver_1\.nii\.gz: label value 7 at voxel \(2,0,0\) is not in the labels given \(5\): .*--other background .*--other ignore/);
  const bg: LabelSpec = { kind: 'classes', values: [5], background: true, other: 'background' };
  const map = toLabelMap(values, 'l.nii', dims, bg);
  assert.deepEqual(Array.from(expandPlanes(map, bg)), [1, 0, 1, 0, 1, /* liver */ 0, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(ignoreMask(map, bg)), [0, 0, 0, 0, 0]);
  const ign: LabelSpec = { ...bg, other: 'ignore' };
  assert.deepEqual(Array.from(expandPlanes(map, ign)), [1, 0, 0, 0, 0, /* liver */ 0, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(ignoreMask(map, ign)), [0, 0, 1, 0, 1]);
  // predictions only ever hold the spec's values
  const probs = { data: Float32Array.from([0.9, 0.2, 0.6, 0.1, 0.3, 0.1, 0.8, 0.4, 0.9, 0.7]), channels: 2 };
  assert.deepEqual(Array.from(labelsFromPlanes(probs, ign)), [0, 5, 0, 5, 5]);
  // metrics: ignored voxels count for no class (here a false positive at voxel 4 is forgiven)
  const pred = Uint8Array.from([0, 5, 0, 5, 5]);
  assert.equal(scoreLabelVolumes(pred, map, ign, dims, [1, 1, 1], { hd95: false }).mean.dice, 1);
  assert.ok(scoreLabelVolumes(pred, map, bg, dims, [1, 1, 1], { hd95: false }).mean.dice < 1);
});

/** A tiny in-memory case: image 1..n (so padding, 0, is told apart), label 1 at the first voxel. */
function small(dims: [number, number, number]): LoadedVolume {
  const n = dims[0] * dims[1] * dims[2];
  const labels = new Uint8Array(n);
  labels[0] = 1;
  const g = { dims, spacing: [1, 1, 1] as [number, number, number], affine: [] };
  return { id: 'small', split: 'train', channels: 1, image: Float32Array.from({ length: n }, (_, i) => i + 1), labels, foreground: [Int32Array.of(0)], ...g, source: g };
}

test('a case smaller than the patch is padded: centred, image 0 and background around it; foreground patches too', async () => {
  const v = small([2, 2, 2]);
  const start = patchStart([2, 2, 2], [4, 6, 4], new Rng(1));
  assert.deepEqual(start, [-1, -2, -1]);
  assert.deepEqual(patchStart([2, 2, 2], [4, 6, 4], new Rng(1), 0), start, 'a foreground draw lands on the same centred window');
  const p = readPatch(v, start, [4, 6, 4]);
  for (let z = 0; z < 4; z++) for (let y = 0; y < 6; y++) for (let x = 0; x < 4; x++) {
    const o = (z * 6 + y) * 4 + x, inside = z >= 1 && z < 3 && y >= 2 && y < 4 && x >= 1 && x < 3;
    assert.equal(p.image[o], inside ? 1 + ((z - 1) * 2 + (y - 2)) * 2 + (x - 1) : 0, `image at ${z},${y},${x}`);
    assert.equal(p.labels![o], inside && z === 1 && y === 2 && x === 1 ? 1 : 0);
  }
  // larger along some axes, smaller along others (256x256x3 in miniature): mixed
  const flat = small([12, 10, 3]);
  const b = await new PatchLoader(new MemoryVolumes([flat]), { patch: [8, 8, 8], batchSize: 2, samplesPerEpoch: 2, seed: 3 }).makeBatch(0, 0);
  assert.deepEqual([b.n, b.d, b.h, b.w], [2, 8, 8, 8]);
  for (let s = 0; s < 2; s++) for (let i = 0; i < 2 * 64; i++) assert.equal(b.x[s * 512 + i], 0, 'two padding slices above the volume');
  assert.ok(b.x.every((x) => Number.isFinite(x)));
  // an ignore label: the batch carries the mask
  const ign = await new PatchLoader(new MemoryVolumes([flat], { kind: 'binary' }), { patch: [4, 4, 4], batchSize: 1, samplesPerEpoch: 1, labels: { kind: 'classes', values: [2], other: 'ignore' } }).makeBatch(0, 0);
  assert.ok(ign.ignore && ign.ignore.length === 64);
});

test('seeded split of a small dataset: at least one validation case from two cases on', async () => {
  assert.deepEqual(seededSplitSizes(2, [0.8, 0.2, 0]), { train: 1, val: 1, note: '2 cases: 1 held out for validation' });
  assert.deepEqual(seededSplitSizes(1, [0.8, 0.2, 0]), { train: 1, val: 0, note: undefined });
  assert.deepEqual(seededSplitSizes(150, [0.8, 0.2, 0]), { train: 120, val: 30, note: undefined });
  assert.deepEqual(seededSplitSizes(3, [0.8, 0.1, 0.1]), { train: 2, val: 1, note: '3 cases: 1 held out for validation' });
  const { dir, cleanup } = await tempDir();
  try {
    for (const id of ['a', 'b']) {
      await saveVolume(join(dir, 'images', `${id}.nii.gz`), makeVolume(D, (x) => x));
      await saveVolume(join(dir, 'labels', `${id}.nii.gz`), makeVolume(D, ball(4, 3, 3, 2)), 'uint8');
    }
    const ds = await scanVolumes(dir, { seed: 3 });
    assert.deepEqual(ds.cases.map((c) => c.split).sort(), ['train', 'val']);
    assert.deepEqual(ds.splitSource, { kind: 'seeded', seed: 3, note: '2 cases: 1 held out for validation' });
  } finally {
    await cleanup();
  }
});

test('NaN or Inf voxels: an error naming the file and the first voxel, never a silent empty mask', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await saveVolume(join(dir, 'images', 'c_0000.nii.gz'), makeVolume(D, (x, y, z) => (x === 3 && y === 2 && z === 1 ? NaN : x)));
    await saveVolume(join(dir, 'images', 'c_0001.nii.gz'), makeVolume(D, (x) => (x === 7 ? Infinity : x)));
    await saveVolume(join(dir, 'labels', 'c.nii.gz'), makeVolume(D, ball(4, 3, 3, 2)), 'uint8');
    const [c] = (await scanVolumes(dir)).cases;
    await rejects(loadCase(c), /images\/c_0000\.nii\.gz: 1 non-finite voxel \(the first, NaN, at \(3,2,1\)\)/);
    await rejects(loadCase({ ...c, images: [c.images[1]] }), /images\/c_0001\.nii\.gz: 42 non-finite voxels \(the first, Infinity, at \(7,0,0\)\)/);
  } finally {
    await cleanup();
  }
});
