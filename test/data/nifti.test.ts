import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { readNifti, stackSlices, volumeSlice, writeNifti, type Volume } from '../../src/data/formats/nifti.js';
import { garbage, sharedData, skipUnless, tempDir } from './util.js';

test('NIfTI round trip (.nii and .nii.gz; uint8, int16, float32), slices', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const dims: [number, number, number] = [5, 4, 3];
    const data = Float32Array.from({ length: 60 }, (_, i) => i % 5);
    const affine = [[-0.8, 0, 0, 10], [0, 0.9, 0, -5], [0, 0, 2.5, 1], [0, 0, 0, 1]];
    const vol: Volume = { dims, spacing: [0.8, 0.9, 2.5], data, affine };
    for (const [name, datatype] of [['a.nii', 'uint8'], ['b.nii.gz', 'int16'], ['c.nii.gz', 'float32']] as const) {
      await writeNifti(join(dir, name), vol, { datatype });
      const back = await readNifti(join(dir, name));
      assert.deepEqual(back.dims, dims, name);
      assert.deepEqual(back.spacing.map((v) => Math.fround(v)), vol.spacing.map((v) => Math.fround(v)), name);
      assert.deepEqual(back.data, data, name);
      assert.deepEqual(back.affine.map((r) => r.map((v) => Math.fround(v))), affine.map((r) => r.map((v) => Math.fround(v))), name);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['a.nii', 'b.nii.gz', 'c.nii.gz']); // atomic: no temp files
    const s = volumeSlice(vol, 2);
    assert.deepEqual([s.width, s.height, s.channels], [5, 4, 1]);
    assert.deepEqual(s.data, data.subarray(40, 60));
    assert.deepEqual(stackSlices([0, 1, 2].map((z) => volumeSlice(vol, z))), data);
    await garbage(join(dir, 'bad.nii.gz'));
    await assert.rejects(readNifti(join(dir, 'bad.nii.gz')), /bad\.nii\.gz: cannot read NIfTI/);
  } finally {
    await cleanup();
  }
});

const brats = join(sharedData, 'brats2015-6cases');
test('reads a BraTS label volume (240x240x155, 1 mm, classes 0..4)', { skip: skipUnless(brats) }, async () => {
  const v = await readNifti(join(brats, 'labels', 'brats_pat0005_train.nii.gz'));
  assert.deepEqual(v.dims, [240, 240, 155]);
  assert.deepEqual(v.spacing, [1, 1, 1]);
  const classes = new Set(v.data);
  assert.ok([...classes].every((c) => Number.isInteger(c) && c >= 0 && c <= 4));
  assert.ok(classes.size > 2);
});
