// The volume workflow's entry points: openVolumes (stores per split, normalisation chosen per
// modality, CT statistics), --labels parsing, and predictions written back on the files' grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openVolumes, parseLabelSpec, writeCasePrediction, defaultNorm } from '../../src/data/volumes/volume-dataset.js';
import { BRATS_REGIONS } from '../../src/data/labels.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { PatchLoader } from '../../src/data/loaders/patch-loader.js';
import { tempDir } from './util.js';
import { ball, makeVolume, saveVolume } from './volume-util.js';

test('--labels syntax', () => {
  assert.deepEqual(parseLabelSpec('1,2,4'), { kind: 'classes', values: [1, 2, 4], background: false });
  assert.deepEqual(parseLabelSpec('1, 2', true), { kind: 'classes', values: [1, 2], background: true });
  assert.equal(parseLabelSpec('BraTS'), BRATS_REGIONS);
  assert.deepEqual(parseLabelSpec('wt=1+2+3+4,et=4'), { kind: 'regions', regions: [{ name: 'wt', values: [1, 2, 3, 4] }, { name: 'et', values: [4] }] });
  assert.throws(() => parseLabelSpec('1,x'), /--labels: "x" is not a label value/);
  assert.deepEqual(['CT', 'ct', 'FLAIR', 'T1'].map(defaultNorm), ['ct', 'ct', 'mri', 'mri']);
});

test('openVolumes: an nnU-Net CT dataset at a target spacing; patches; a prediction written back on the source grid', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'CT' }, labels: { background: 0, liver: 1 }, file_ending: '.nii.gz' }));
    for (let i = 0; i < 5; i++) {
      await saveVolume(join(dir, 'imagesTr', `liver_${i}_0000.nii.gz`), makeVolume([20, 16, 8], (x, y, z) => (ball(10, 8, 4, 3)(x, y, z) ? 60 + x : -1000 + y), [0.8, 0.8, 2.5]));
      await saveVolume(join(dir, 'labelsTr', `liver_${i}.nii.gz`), makeVolume([20, 16, 8], ball(10, 8, 4, 3), [0.8, 0.8, 2.5]), 'uint8');
    }
    const vd = await openVolumes(dir, { spacing: [1.6, 1.6, 2.5], seed: 0 });
    assert.deepEqual(vd.normalize, ['ct']);
    assert.deepEqual(vd.classNames, ['background', 'liver']);
    assert.ok(vd.ct[0]!.lo >= 60 && vd.ct[0]!.hi <= 79);
    assert.equal(vd.splits.train!.length, 4);
    assert.equal(vd.splits.val!.length, 1);
    const v = await vd.splits.val!.get(0);
    assert.deepEqual(v.dims, [10, 8, 8]);
    assert.deepEqual(v.spacing, [1.6, 1.6, 2.5]);
    assert.deepEqual(v.source.dims, [20, 16, 8]);
    assert.ok(Math.max(...v.image) <= (vd.ct[0]!.hi - vd.ct[0]!.mean) / vd.ct[0]!.std + 1e-5, 'clipped');
    const b = await new PatchLoader(vd.splits.train!, { patch: [4, 8, 8], batchSize: 2, samplesPerEpoch: 4 }).makeBatch(0, 0);
    assert.deepEqual([b.c, b.k, b.d, b.h, b.w], [1, 2, 4, 8, 8]);
    // "predict" the truth at the training spacing and write it onto the source grid
    const out = join(dir, 'pred.nii.gz');
    await writeCasePrediction(out, v.labels!, v);
    const p = await readNifti(out);
    assert.deepEqual(p.dims, [20, 16, 8]);
    assert.deepEqual(p.affine, v.source.affine);
    const truth = await readNifti(vd.dataset.cases.find((c) => c.id === v.id)!.label!);
    let agree = 0;
    for (let i = 0; i < p.data.length; i++) agree += p.data[i] === truth.data[i] ? 1 : 0;
    assert.ok(agree / p.data.length > 0.95, `${agree} of ${p.data.length}`);
  } finally {
    await cleanup();
  }
});

test('volumeToSlices: the 3D cases as 2D samples (channels, spec planes), empty slices thinned', async () => {
  const { syntheticVolumes } = await import('../../src/data/volumes/synthetic-volumes.js');
  const { volumeToSlices } = await import('../../src/data/volumes/volume-slices.js');
  const [v] = syntheticVolumes({ count: 1, dims: [16, 12, 10], channels: 2, seed: 1, lesions: [1, 1], radius: [2, 3] });
  const spec = { kind: 'regions' as const, regions: [{ name: 'lesion', values: [1, 2] }, { name: 'core', values: [2] }] };
  const all = volumeToSlices(v, spec);
  assert.equal(all.length, 10);
  const s = all[4];
  assert.deepEqual([s.image.width, s.image.height, s.image.channels, s.mask.channels], [16, 12, 2, 2]);
  assert.equal(s.image.data[192 + 5], v.image[16 * 12 * 10 + 4 * 192 + 5]);
  const fgSlices = all.filter((x) => x.mask.data.some((m) => m > 0)).length;
  assert.equal(volumeToSlices(v, spec, { emptyFraction: 0 }).length, fgSlices);
  assert.ok(fgSlices < 10);
});

test('volumePipeline round-trips through JSON and prepares a new case as training did', async () => {
  const { openVolumes, volumePipeline, loadForPrediction } = await import('../../src/data/volumes/volume-dataset.js');
  const { writeSyntheticVolumes } = await import('../../src/data/volumes/synthetic-volumes.js');
  const { dir, cleanup } = await tempDir();
  try {
    await writeSyntheticVolumes(dir, { count: 4, dims: [20, 18, 12], channels: 2, seed: 5 });
    const vd = await openVolumes(dir, { spacing: [2, 2, 1.5], labels: { kind: 'classes', values: [1, 2], background: true } });
    const p = JSON.parse(JSON.stringify(volumePipeline(vd)));
    assert.deepEqual(p.normalize, ['mri', 'mri']);
    assert.deepEqual(p.classNames, ['background', 'label 1', 'label 2']);
    const c = vd.splits.val!.cases[0];
    const a = await vd.splits.val!.get(0);
    const b = await loadForPrediction(c.images, p, c.id);
    assert.deepEqual(b.dims, [10, 9, 8]);
    assert.deepEqual(Array.from(b.image), Array.from(a.image));
    assert.equal(b.labels, undefined);
    assert.deepEqual(b.source.dims, [20, 18, 12]);
  } finally {
    await cleanup();
  }
});

test('cropToNonzero: a case keeps the box of its non-zero voxels; predictions pad back onto the full grid', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const head = (x: number, y: number, z: number) => x >= 3 && x < 15 && y >= 2 && y < 12 && z >= 1 && z < 7;
    await saveVolume(join(dir, 'images', 'h_0000.nii.gz'), makeVolume([20, 16, 8], (x, y, z) => (head(x, y, z) ? 1 + x * 0.1 : 0), [0.8, 0.8, 2]));
    await saveVolume(join(dir, 'labels', 'h.nii.gz'), makeVolume([20, 16, 8], ball(9, 7, 4, 2.5), [0.8, 0.8, 2]), 'uint8');
    for (const spacing of [undefined, [1.6, 1.6, 2]] as const) {
      const vd = await openVolumes(dir, { cropToNonzero: true, spacing: spacing && [...spacing], splitOf: () => 'train' });
      const v = await vd.splits.train!.get(0);
      assert.deepEqual(v.crop, { start: [3, 2, 1], dims: [12, 10, 6] });
      assert.deepEqual(v.source.dims, [20, 16, 8]);
      // the cropped grid's first voxel sits where voxel (3, 2, 1) of the file does
      assert.deepEqual([0, 1, 2].map((r) => +v.affine[r][3].toFixed(4)), [2.4, 1.6, 2]);
      const out = join(dir, 'pred.nii.gz');
      await writeCasePrediction(out, v.labels!, v);
      const p = await readNifti(out);
      const truth = await readNifti(join(dir, 'labels', 'h.nii.gz'));
      let agree = 0;
      for (let i = 0; i < p.data.length; i++) agree += p.data[i] === truth.data[i] ? 1 : 0;
      if (!spacing) assert.equal(agree, p.data.length);
      else assert.ok(agree / p.data.length > 0.97, `${agree}/${p.data.length}`);
    }
  } finally {
    await cleanup();
  }
});
