// Files: masks of the image's size (odd sizes too), overlays, NIfTI volumes slice by slice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { createPredictor } from '../../src/infer/predict.js';
import { predictImageFile, predictPaths, predictVolume } from '../../src/infer/files.js';
import { readMaskRaw, readImage, writeImagePng } from '../../src/data/images/read-image.js';
import { readNifti, writeNifti } from '../../src/data/formats/nifti.js';
import { Rng } from '../../src/data/rng.js';

const backend = new ReferenceBackend({ dtype: 'float32' });

async function withTmp(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-files-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

const noise = (n: number, seed: number) => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.next()); };

test('an image file of odd size gives a 0/255 mask of that size, and an overlay', () => withTmp(async (dir) => {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: 3, classes: 1, seed: 2 });
  const p = createPredictor(model, { backend });
  await writeImagePng(join(dir, 'a.png'), { width: 53, height: 37, channels: 3, data: noise(3 * 53 * 37, 1) });
  const r = await predictImageFile(p, join(dir, 'a.png'), join(dir, 'out'), { overlay: true, probabilities: true });
  const m = await readMaskRaw(join(dir, 'out', 'a.png'));
  assert.deepEqual([m.width, m.height], [53, 37]);
  assert.ok([...m.values].every((v) => v === 0 || v === 255));
  const ov = await readImage(join(dir, 'out', 'a_overlay.png'));
  assert.deepEqual([ov.width, ov.height, ov.channels], [53, 37, 3]);
  assert.equal(r.outputs.length, 3);
  // no temporary files left behind
  assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['a.png', 'a_overlay.png', 'a_prob.png']);
}));

test('several classes write one mask per class folder; a folder predicts every image', () => withTmp(async (dir) => {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 3, seed: 2 });
  const p = createPredictor(model, { backend });
  await mkdir(join(dir, 'in'));
  for (const n of ['b', 'c']) await writeImagePng(join(dir, 'in', `${n}.png`), { width: 20, height: 12, channels: 1, data: noise(240, 3) });
  const res = await predictPaths(p, [join(dir, 'in')], join(dir, 'out'), { classNames: ['bg', 'one', 'two'] });
  assert.equal(res.length, 2);
  for (const c of ['bg', 'one', 'two']) assert.deepEqual((await readdir(join(dir, 'out', c))).sort(), ['b.png', 'c.png']);
  // softmax argmax: each pixel is in exactly one class mask
  const planes = await Promise.all(['bg', 'one', 'two'].map((c) => readMaskRaw(join(dir, 'out', c, 'b.png'))));
  for (let i = 0; i < 240; i++) assert.equal(planes.reduce((s, m) => s + (m.values[i] ? 1 : 0), 0), 1);
}));

test('a NIfTI volume is predicted slice by slice into a label volume with the same geometry', () => withTmp(async (dir) => {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, seed: 4 });
  const p = createPredictor(model, { backend });
  const affine = [[2, 0, 0, 1], [0, 2, 0, 2], [0, 0, 3, 3], [0, 0, 0, 1]];
  const vol = { dims: [13, 10, 3] as [number, number, number], spacing: [2, 2, 3] as [number, number, number], affine, data: noise(390, 5) };
  await writeNifti(join(dir, 'case.nii.gz'), vol, { datatype: 'float32' });
  const r = await predictVolume(p, [join(dir, 'case.nii.gz')], join(dir, 'out'));
  const out = await readNifti(r.outputs[0]);
  assert.deepEqual(out.dims, [13, 10, 3]);
  assert.deepEqual(out.spacing, [2, 2, 3]);
  assert.deepEqual(out.affine, affine);
  // slice 1 equals predicting that slice as an image
  const s1 = p.predict({ data: vol.data.subarray(130, 260), channels: 1, sizes: [10, 13] });
  for (let i = 0; i < 130; i++) assert.equal(out.data[130 + i], s1.data[i] > 0.5 ? 1 : 0);
  await assert.rejects(predictVolume(p, [join(dir, 'case.nii.gz'), join(dir, 'case.nii.gz')], join(dir, 'out')), /takes 1 channels/);
}));
