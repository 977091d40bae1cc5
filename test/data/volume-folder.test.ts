// NIfTI volume datasets: images/<stem>.nii.gz + masks/<stem>.nii.gz load as 2D axial slices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNifti, type Volume } from '../../src/data/formats/nifti.js';
import { loadFolder } from '../../src/data/images/folder.js';

const eye = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
const volume = (X: number, Y: number, Z: number, f: (x: number, y: number, z: number) => number): Volume => {
  const data = new Float32Array(X * Y * Z);
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) data[(z * Y + y) * X + x] = f(x, y, z);
  return { dims: [X, Y, Z], spacing: [1, 1, 2], data, affine: eye };
};

test('volumes load as slices with binary masks (any non-zero label), split by volume id', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-vol-'));
  try {
    await mkdir(join(dir, 'images')); await mkdir(join(dir, 'masks'));
    for (const id of ['a', 'b']) {
      await writeNifti(join(dir, 'images', `${id}.nii.gz`), volume(6, 4, 3, (x, y, z) => x + 10 * y + 100 * z));
      await writeNifti(join(dir, 'masks', `${id}.nii.gz`), volume(6, 4, 3, (x, _y, z) => (x === z ? 4 : x === 5 ? 1 : 0)), { datatype: 'uint8' });
    }
    await writeFile(join(dir, 'split.csv'), 'id,split\na,train\nb,test\n');
    const { samples } = await loadFolder(dir, { split: 'test' });
    assert.deepEqual(samples.map((s) => s.id), ['b_z0', 'b_z1', 'b_z2']);
    const s1 = samples[1];
    assert.equal(s1.image.width, 6); assert.equal(s1.image.height, 4);
    assert.equal(s1.image.data[2 * 6 + 3], 3 + 20 + 100); // raw intensities, slice z = 1
    assert.deepEqual([...s1.mask.data.subarray(0, 6)], [0, 1, 0, 0, 0, 1]);
    const resized = await loadFolder(dir, { split: 'train', size: { width: 12, height: 8 } });
    assert.equal(resized.samples.length, 3);
    assert.equal(resized.samples[0].mask.data.length, 96);
    assert.ok(resized.samples[0].mask.data.every((v) => v === 0 || v === 1));
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a label volume of another size names the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-vol-'));
  try {
    await mkdir(join(dir, 'images')); await mkdir(join(dir, 'masks'));
    await writeNifti(join(dir, 'images', 'a.nii.gz'), volume(6, 4, 3, () => 1));
    await writeNifti(join(dir, 'masks', 'a.nii.gz'), volume(6, 4, 2, () => 0));
    await assert.rejects(loadFolder(dir, {}), /masks\/a\.nii\.gz: label volume is 6x4x2 but its image is 6x4x3/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
