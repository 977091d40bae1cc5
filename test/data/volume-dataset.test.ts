// Volume datasets (issue 17 part 1): layouts, modalities, labels, geometry checks, resampling,
// normalisation, lazy loading, and errors that name the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { scanVolumes, isVolumeFolder } from '../../src/data/volumes/volume-layout.js';
import { loadCase, datasetCtStats } from '../../src/data/volumes/volume-load.js';
import { VolumeStore } from '../../src/data/volumes/volume-store.js';
import { BRATS_REGIONS, expandPlanes, labelsFromPlanes, planeNames, planeValues, toLabelMap, foregroundLocations, type LabelSpec } from '../../src/data/labels.js';
import { resampleVolume, resampleOnto, resampledAffine } from '../../src/data/volumes/resample.js';
import { normalizeChannel, ctStatistics } from '../../src/data/volumes/intensity.js';
import { readNiftiChannels } from '../../src/data/formats/nifti.js';
import { tempDir } from './util.js';
import { ball, diag, makeVolume, saveVolume } from './volume-util.js';

const D = [8, 7, 6] as [number, number, number]; // X, Y, Z

async function modalitySet(dir: string, cases = 3): Promise<void> {
  for (let i = 0; i < cases; i++) {
    await saveVolume(join(dir, 'images', `case${i}_0000.nii.gz`), makeVolume(D, (x, y, z) => x + 10 * y + 100 * z + i));
    await saveVolume(join(dir, 'images', `case${i}_0001.nii.gz`), makeVolume(D, (x) => -x));
    await saveVolume(join(dir, 'masks', `case${i}.nii.gz`), makeVolume(D, ball(3, 3, 3, 2, 2)), 'uint8');
  }
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => { assert.match(e.message, re); return true; });
}

test('images/<case>_0000 + _0001 + masks/<case>: channels in order, [C, Z, Y, X], label values kept', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await modalitySet(dir);
    assert.ok(await isVolumeFolder(dir));
    const ds = await scanVolumes(dir, { seed: 1 });
    assert.equal(ds.layout, 'folder');
    assert.deepEqual(ds.modalities, ['0000', '0001']);
    assert.deepEqual(ds.cases.map((c) => c.id), ['case0', 'case1', 'case2']);
    assert.deepEqual(ds.cases.map((c) => c.split).sort(), ['train', 'train', 'val']);
    const v = await loadCase(ds.cases[1], { modalities: 2, normalize: 'none', labels: { kind: 'classes', values: [2], background: true } });
    assert.equal(v.channels, 2);
    assert.deepEqual(v.dims, D);
    const [X, Y] = D;
    const at = (c: number, x: number, y: number, z: number) => v.image[c * X * Y * 6 + z * X * Y + y * X + x];
    assert.equal(at(0, 2, 3, 4), 2 + 30 + 400 + 1);
    assert.equal(at(1, 5, 0, 0), -5);
    assert.equal(v.labels![3 * X * Y + 3 * X + 3], 2);
    assert.equal(v.foreground.length, 1);
    assert.ok(v.foreground[0].length > 20);
    const y = expandPlanes(v.labels!, { kind: 'classes', values: [2], background: true });
    const n = X * Y * 6;
    assert.equal(y[3 * X * Y + 3 * X + 3], 0);
    assert.equal(y[n + 3 * X * Y + 3 * X + 3], 1);
    assert.equal(y[0] + y[n], 1); // one-hot with background
  } finally {
    await cleanup();
  }
});

test('BraTS layout: <case>_<modality> next to labels/<case>, brainmask/, split from the name, regions', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const [i, split] of [[1, 'test'], [2, 'validation'], [3, 'train']] as const) {
      const id = `brats_pat000${i}_${split}`;
      await saveVolume(join(dir, 'images', `${id}_flair.nii.gz`), makeVolume(D, (x, y) => (x > 0 && y > 0 ? 5 + x : 0)));
      await saveVolume(join(dir, 'images', `${id}_t1c.nii.gz`), makeVolume(D, (x, y) => (x > 0 && y > 0 ? 3 * y : 0)));
      await saveVolume(join(dir, 'labels', `${id}.nii.gz`), makeVolume(D, (x, _y, z) => (z === 2 ? [0, 1, 2, 3, 4][x % 5] : 0))); // float32 labels
      await saveVolume(join(dir, 'brainmask', `${id}.nii.gz`), makeVolume(D, (x, y) => (x > 0 && y > 0 ? 1 : 0)), 'uint8');
    }
    const ds = await scanVolumes(dir);
    assert.deepEqual(ds.modalities, ['flair', 't1c']);
    assert.deepEqual(ds.cases.map((c) => [c.id, c.split]), [['brats_pat0001_test', 'test'], ['brats_pat0002_validation', 'val'], ['brats_pat0003_train', 'train']]);
    assert.ok(ds.cases[0].mask?.endsWith('brainmask/brats_pat0001_test.nii.gz'));
    const v = await loadCase(ds.cases[2], { labels: BRATS_REGIONS, normalize: 'mri' });
    assert.deepEqual(planeNames(BRATS_REGIONS), ['whole tumour', 'tumour core', 'enhancing tumour']);
    // MRI z-score inside the brain mask: mean 0, std 1 there; 0 outside
    const n = 8 * 7 * 6;
    let s = 0, s2 = 0, m = 0;
    for (let i = 0; i < n; i++) {
      const x = i % 8, y = Math.floor(i / 8) % 7;
      if (x > 0 && y > 0) { s += v.image[i]; s2 += v.image[i] ** 2; m++; } else assert.equal(v.image[i], 0);
    }
    assert.ok(Math.abs(s / m) < 1e-5 && Math.abs(s2 / m - 1) < 1e-4);
    const planes = expandPlanes(v.labels!, BRATS_REGIONS);
    const at = (p: number, x: number) => planes[p * n + 2 * 56 + x];
    assert.deepEqual([0, 1, 2, 3, 4].map((x) => [at(0, x), at(1, x), at(2, x)]), [[0, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]]);
    assert.equal(v.foreground.length, 3);
    await saveVolume(join(dir, 'labels', 'brats_pat0003_train.nii.gz'), makeVolume(D, (x) => (x === 4 ? 1.5 : 0)));
    await rejects(loadCase(ds.cases[2]), /labels\/brats_pat0003_train\.nii\.gz: label value 1\.5 at voxel \(4,0,0\) is not an integer/);
  } finally {
    await cleanup();
  }
});

test('nnU-Net / Decathlon layout: dataset.json, 4D imagesTr, imagesTs as test, label names', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'dataset.json'), JSON.stringify({ modality: { 0: 'FLAIR', 1: 'T1w' }, labels: { 0: 'background', 1: 'edema', 2: 'tumour' } }));
    for (let i = 0; i < 4; i++) {
      await saveVolume(join(dir, 'imagesTr', `BRATS_00${i}.nii.gz`), makeVolume(D, (x, _y, _z, c) => c * 100 + x, [1, 1, 1], 2));
      await saveVolume(join(dir, 'labelsTr', `BRATS_00${i}.nii.gz`), makeVolume(D, ball(4, 3, 3, 2, 1 + (i % 2))), 'uint8');
    }
    await saveVolume(join(dir, 'imagesTs', 'BRATS_100.nii.gz'), makeVolume(D, (x) => x, [1, 1, 1], 2));
    const ds = await scanVolumes(dir);
    assert.equal(ds.layout, 'nnunet');
    assert.equal(ds.fourD, true);
    assert.deepEqual(ds.modalities, ['FLAIR', 'T1w']);
    assert.deepEqual(ds.labels, { kind: 'classes', values: [1, 2], names: ['edema', 'tumour'], background: true });
    assert.equal(ds.cases.find((c) => c.id === 'BRATS_100')!.split, 'test');
    assert.equal(ds.cases.filter((c) => c.split === 'val').length, 1);
    const v = await loadCase(ds.cases[0], { modalities: 2, normalize: 'none', labels: ds.labels });
    assert.equal(v.image[8 * 7 * 6 + 3], 103);
    await saveVolume(join(dir, 'imagesTr', 'BRATS_001.nii.gz'), makeVolume(D, () => 1, [1, 1, 1], 3));
    await rejects(loadCase(ds.cases[1], { modalities: 2 }), /imagesTr\/BRATS_001\.nii\.gz: has 3 volumes along its 4th axis, but the dataset has 2 modalities/);
  } finally {
    await cleanup();
  }
});

test('bad input names the file and the fix: geometry, missing modality, corrupt gzip', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await modalitySet(dir, 2);
    const ds = await scanVolumes(dir);
    const c = ds.cases[0];
    await saveVolume(c.label!, makeVolume([8, 7, 5], () => 0), 'uint8');
    await rejects(loadCase(c), /masks\/case0\.nii\.gz: dims 8x7x5 differ from .*case0_0000\.nii\.gz \(8x7x6\): resample it onto the image grid/);
    await saveVolume(c.label!, makeVolume(D, () => 0, [1, 1, 2]), 'uint8');
    await rejects(loadCase(c), /masks\/case0\.nii\.gz: spacing 1x1x2 mm differs/);
    const shifted = makeVolume(D, () => 0);
    shifted.affine = diag([1, 1, 1], [0, 5, 0]);
    await saveVolume(c.label!, shifted, 'uint8');
    await rejects(loadCase(c), /masks\/case0\.nii\.gz: affine \(orientation\/origin\) differs .* row 1/);
    await saveVolume(c.images[1], makeVolume(D, () => 0, [2, 1, 1]));
    await rejects(loadCase(c), /case0_0001\.nii\.gz: spacing 2x1x1 mm differs from .*case0_0000/);
    // a truncated gzip
    const good = gzipSync(Buffer.alloc(2000, 1));
    await writeFile(c.images[1], good.subarray(0, good.length - 30));
    await rejects(readNiftiChannels(c.images[1]), /case0_0001\.nii\.gz: corrupt gzip \(.*\): .*copy or export it again/);
    await writeFile(join(dir, 'images', 'case9_0000.nii.gz'), 'x');
    await rejects(scanVolumes(dir), /images\/case9_0001\.nii\.gz: missing: case "case9" has case9_0000\.nii\.gz but other cases also have modality "0001"/);
  } finally {
    await cleanup();
  }
});

test('labels: integer-valued floats are fine; values outside the spec and fractions are errors', () => {
  const dims = [2, 2, 1];
  assert.deepEqual(Array.from(toLabelMap(Float32Array.from([0, 1, 4, 2]), 'l.nii', dims)), [0, 1, 4, 2]);
  assert.throws(() => toLabelMap(Float32Array.from([0, 0.5, 0, 0]), 'l.nii', dims), /l\.nii: label value 0\.5 at voxel \(1,0,0\)/);
  assert.throws(() => toLabelMap(Float32Array.from([0, 3, 0, 0]), 'l.nii', dims, { kind: 'classes', values: [1, 2, 4] }), /l\.nii: label value 3 .* not in the labels given \(1,2,4\)/);
  const f = foregroundLocations(Uint8Array.from([0, 1, 2, 2, 0, 1]), { kind: 'classes', values: [1, 2] });
  assert.deepEqual(f.map((a) => Array.from(a)), [[1, 5], [2, 3]]);
  assert.equal(foregroundLocations(new Uint8Array(100000).fill(1), { kind: 'binary' }, 1000)[0].length, 1000);
});

test('labelsFromPlanes inverts expandPlanes (classes, softmax, binary, regions); sigmoid classes take the most probable plane', () => {
  const cases: [LabelSpec, number[]][] = [
    [{ kind: 'classes', values: [2, 5, 7], background: true }, [0, 2, 5, 7]],
    [{ kind: 'classes', values: [3, 9] }, [0, 3, 9]],
    [{ kind: 'binary' }, [0, 1]],
    [BRATS_REGIONS, [0, 1, 2, 4]], // 3 has 1's planes (whole + core): written as 1
  ];
  for (const [spec, values] of cases) {
    const labels = Uint8Array.from({ length: 500 }, (_, i) => values[(i * 7 + (i >> 3)) % values.length]);
    const planes = expandPlanes(labels, spec); // 0/1 planes as probabilities
    const got = labelsFromPlanes({ data: planes, channels: planes.length / labels.length }, spec);
    assert.deepEqual([...got], [...labels], JSON.stringify(spec));
  }
  // two sigmoid class planes above the threshold: the more probable one's value, as labelMap
  const p = Float32Array.from([0.7, 0.6, 0.2, /* plane 2 */ 0.9, 0.55, 0.3]);
  assert.deepEqual([...labelsFromPlanes({ data: p, channels: 2 }, { kind: 'classes', values: [3, 9] })], [9, 3, 0]);
  // regions: whole + core above, enhancing below -> 1 (necrosis); whole alone -> 2 (oedema)
  const r = Float32Array.from([0.9, 0.8, /* core */ 0.8, 0.1, /* enhancing */ 0.2, 0.1]);
  assert.deepEqual([...labelsFromPlanes({ data: r, channels: 3 }, BRATS_REGIONS)], [1, 2]);
  assert.deepEqual(planeValues(BRATS_REGIONS).map((c) => c.values), [[1, 2, 3, 4], [1, 3, 4], [4]]);
  assert.deepEqual(planeValues({ kind: 'classes', values: [2, 5], background: true }), [{ name: 'label 2', values: [2] }, { name: 'label 5', values: [5] }]);
});

test('resampling: trilinear reproduces a linear ramp, nearest keeps labels, affine and round trip', () => {
  const dims = [6, 5, 4];
  const ramp = makeVolume(dims as [number, number, number], (x, y, z) => 2 * x + 3 * y + 5 * z, [1, 1, 2]);
  const r = resampleVolume(ramp.data, 1, dims, [1, 1, 2], [0.5, 1, 1], 'linear');
  assert.deepEqual(r.dims, [12, 5, 8]);
  const at = (x: number, y: number, z: number) => r.data[z * 60 + y * 12 + x];
  assert.ok(Math.abs(at(3, 2, 3) - (2 * 1.5 + 3 * 2 + 5 * 1.5)) < 1e-5);
  const lab = Uint8Array.from({ length: 120 }, (_, i) => (i % 6 < 3 ? 4 : 0));
  const rl = resampleVolume(lab, 1, dims, [1, 1, 2], [0.5, 1, 1], 'nearest');
  assert.ok(rl.data.every((v) => v === 0 || v === 4));
  assert.deepEqual(resampledAffine(diag([1, 1, 2], [7, 8, 9]), [1, 1, 2], [0.5, 1, 1]), diag([0.5, 1, 1], [7, 8, 9]));
  const back = resampleOnto(rl.data, 1, { dims: rl.dims, spacing: [0.5, 1, 1] }, { dims, spacing: [1, 1, 2] }, 'nearest');
  assert.deepEqual(Array.from(back), Array.from(lab));
});

test('normalisation: CT clip at dataset percentiles then z-score; MRI over non-zero voxels without a mask', () => {
  const fg = Float32Array.from({ length: 1001 }, (_, i) => i - 500); // -500..500
  const s = ctStatistics(fg);
  assert.ok(Math.abs(s.lo - -495) < 1e-9 && Math.abs(s.hi - 495) < 1e-9);
  assert.ok(Math.abs(s.mean) < 1e-9);
  const v = Float32Array.from([-1000, 0, 495, 2000]);
  normalizeChannel(v, 'ct', { ct: s });
  assert.ok(Math.abs(v[0] + 495 / s.std) < 1e-5 && v[1] === 0 && Math.abs(v[3] - v[2]) < 1e-6);
  const m = Float32Array.from([0, 2, 4, 0]);
  normalizeChannel(m, 'mri');
  assert.deepEqual(Array.from(m), [0, -1, 1, 0]);
  assert.throws(() => normalizeChannel(m, 'ct'), /needs the dataset statistics/);
});

test('CT statistics from the training cases, and a lazy store with a bounded cache', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await modalitySet(dir, 3);
    const ds = await scanVolumes(dir);
    const ct = await datasetCtStats(ds.cases, ['ct', 'none'], 2);
    assert.ok(ct[0] && ct[1] === undefined && ct[0].hi > ct[0].lo);
    const one = (await loadCase(ds.cases[0], { modalities: 2 })).image.byteLength + 8 * 7 * 6;
    const store = new VolumeStore(ds.cases, { modalities: 2, normalize: ['ct', 'zscore'], ct, cacheBytes: Math.floor(one * 2.5) });
    await Promise.all([store.get(0), store.get(0)]);
    assert.equal(store.loads, 1);
    await store.get(1);
    await store.get(2); // evicts case 0, the least recently used
    assert.ok(store.cachedBytes <= one * 2.5);
    await store.get(2);
    assert.equal(store.loads, 3);
    await store.get(0);
    assert.equal(store.loads, 4);
  } finally {
    await cleanup();
  }
});

test('split.csv for volumes: any key column, every labelled case listed once', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await modalitySet(dir, 3);
    await writeFile(join(dir, 'split.csv'), 'case,fold,site\ncase0,training,a\ncase1,validation,b\ncase2,testing,c\n');
    assert.deepEqual((await scanVolumes(dir)).cases.map((c) => c.split), ['train', 'val', 'test']);
    await writeFile(join(dir, 'split.csv'), 'case,split\ncase0,train\ncase1,val\n');
    await rejects(scanVolumes(dir), /split\.csv: case case2 \(.*case2_0000\.nii\.gz\) is not listed/);
    await writeFile(join(dir, 'split.csv'), 'case,split\ncase0,train\ncase1,val\ncase2,test\ncase9,test\n');
    await rejects(scanVolumes(dir), /split\.csv: line 5: no case "case9"/);
  } finally {
    await cleanup();
  }
});

test('one folder per case (BraTS 2021): <case>/<case>_<modality> + <case>_seg', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (let i = 0; i < 3; i++) {
      const id = `BraTS2021_0000${i}`;
      for (const m of ['flair', 't1', 't1ce', 't2']) await saveVolume(join(dir, id, `${id}_${m}.nii.gz`), makeVolume(D, (x) => x + i));
      await saveVolume(join(dir, id, `${id}_seg.nii.gz`), makeVolume(D, ball(3, 3, 3, 2, 4)), 'uint8');
    }
    assert.ok(await isVolumeFolder(dir));
    const ds = await scanVolumes(dir, { seed: 2 });
    assert.equal(ds.layout, 'case-folders');
    assert.deepEqual(ds.modalities, ['flair', 't1', 't1ce', 't2']);
    assert.ok(ds.cases.every((c) => c.label?.endsWith('_seg.nii.gz') && c.images.length === 4));
    const v = await loadCase(ds.cases[0], { modalities: 4, labels: BRATS_REGIONS });
    assert.equal(v.channels, 4);
    await saveVolume(join(dir, 'BraTS2021_00002', 'BraTS2021_00002_t1.nii.gz'), makeVolume(D, () => 0));
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, 'BraTS2021_00002', 'BraTS2021_00002_t2.nii.gz'));
    await rejects(scanVolumes(dir), /BraTS2021_00002: has modalities flair, t1, t1ce but .* has flair, t1, t1ce, t2/);
  } finally {
    await cleanup();
  }
});
