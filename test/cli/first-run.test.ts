// `unetpp train -d DIR` on volume datasets as users bring them (issue 23, the first-run defects),
// through the CLI: an MSD-layout dataset with dataset.json (a background class, names kept, and the
// Dice printed in training equal to eval's on the same checkpoint), cases far smaller than the
// patch (2x2x2 and 256x256x3: padded, trained and predicted), a two-case dataset without a split
// file, label values outside --labels (--other), NaN voxels, and errors that name the flag or the
// file; and a 2D folder of three image sizes without split.csv (DSB2018 in miniature). Native backend
// where built, else skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { ball, makeVolume, saveVolume } from '../data/volume-util.js';
import { png } from '../data/util.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
// one layout and thread count for train and eval, so that their runs compute the same numbers
const env = { ...process.env, UNETPP_LAYOUT: 'nhwc', UNETPP_THREADS: '1' };
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env });
const native = nativeAvailable();
const skip = native.ok ? false : `native backend unavailable (${native.reason})`;
// --no-plan: these runs check the fixed defaults a run falls back to without a plan (test/plan covers planning)
const TINY = ['--filters', '4,8,16', '--no-progress', '--no-plot', '--no-plan'];

function tmp(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-first-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('MSD layout with dataset.json: a background class, names kept; training validation Dice equals eval on the checkpoint', { skip }, async () => {
  const { dir, done } = tmp();
  try {
    const data = join(dir, 'Task04_Hippocampus');
    const vols = syntheticVolumes({ count: 5, dims: [14, 16, 12], seed: 2, radius: [2, 4] });
    for (const v of vols) {
      await saveVolume(join(data, 'imagesTr', `hippocampus_${v.id}.nii.gz`), { ...v, data: v.image });
      await saveVolume(join(data, 'labelsTr', `hippocampus_${v.id}.nii.gz`), { ...v, data: Float32Array.from(v.labels!) }, 'uint8');
    }
    writeFileSync(join(data, 'dataset.json'), JSON.stringify({ modality: { 0: 'MRI' }, labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' } }));
    writeFileSync(join(data, 'split.csv'), 'id,split\n' + vols.map((v, i) => `hippocampus_${v.id},${i < 3 ? 'train' : 'val'}`).join('\n') + '\n');
    const run = join(dir, 'run');
    const t = cli(['train', '-d', data, '-o', run, '--epochs', '2', '--patch', '8', '--samples-per-epoch', '4', '--monitor', 'dice', ...TINY]);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /classes background, Anterior, Posterior; patch 8x8x8/);
    const { meta } = readCheckpointMeta(join(run, 'best.safetensors'));
    assert.equal(meta.model.classes, 3);
    assert.equal(meta.model.multiclass, 'softmax');
    assert.deepEqual(meta.labels, { kind: 'classes', values: [1, 2], names: ['Anterior', 'Posterior'], background: true });
    assert.deepEqual(meta.classNames, ['background', 'Anterior', 'Posterior']);
    const log = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { dice: number; best: boolean });
    const best = log.filter((r) => r.best).pop()!;
    // raw predictions: the post-processing chosen after training is item 4's, printed with its own Dice
    const e = cli(['eval', '-d', data, '-m', join(run, 'best.safetensors'), '--split', 'val', '--no-hd95', '--no-postprocess', '-o', join(dir, 'eval')]);
    assert.equal(e.status, 0, e.stderr);
    const summary = readFileSync(join(dir, 'eval', 'summary.csv'), 'utf8').split('\n').find((l) => l.startsWith('dice,'))!;
    const evalDice = Number(summary.split(',')[1]);
    assert.ok(Math.abs(evalDice - best.dice) < 1e-6, `training validation Dice ${best.dice}, eval ${evalDice}`);
    const header = readFileSync(join(dir, 'eval', 'metrics.csv'), 'utf8').split('\n')[0];
    assert.ok(header.includes('dice:Anterior') && header.includes('dice:Posterior') && !header.includes('background'), header);
    // --labels 1,2 keeps dataset.json's names
    const l = cli(['train', '-d', data, '-o', join(dir, 'run2'), '--epochs', '1', '--patch', '8', '--samples-per-epoch', '2', '--labels', '1,2', ...TINY]);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, /classes background, Anterior, Posterior/);
  } finally {
    done();
  }
});

test('cases smaller than the patch are padded: a 2x2x2 and a 256x256x3 volume train and predict', { skip }, async () => {
  const { dir, done } = tmp();
  try {
    const data = join(dir, 'small');
    await saveVolume(join(data, 'images', 'tiny.nii.gz'), makeVolume([2, 2, 2], (x, y, z) => 1 + x + 2 * y + 4 * z));
    await saveVolume(join(data, 'labels', 'tiny.nii.gz'), makeVolume([2, 2, 2], (x, y, z) => (x + y + z > 1 ? 1 : 0)), 'uint8');
    await saveVolume(join(data, 'images', 'flat.nii.gz'), makeVolume([256, 256, 3], (x, y) => 1 + ball(128, 128, 1, 40)(x, y, 1)));
    await saveVolume(join(data, 'labels', 'flat.nii.gz'), makeVolume([256, 256, 3], (x, y) => ball(128, 128, 1, 40)(x, y, 1)), 'uint8');
    await saveVolume(join(data, 'images', 'tiny2.nii.gz'), makeVolume([2, 3, 2], (x) => 1 + x));
    await saveVolume(join(data, 'labels', 'tiny2.nii.gz'), makeVolume([2, 3, 2], (x) => x), 'uint8');
    writeFileSync(join(data, 'split.csv'), 'id,split\ntiny,train\nflat,train\ntiny2,val\n');
    const run = join(dir, 'run');
    const t = cli(['train', '-d', data, '-o', run, '--epochs', '1', '--patch', '4x32x32', '--samples-per-epoch', '4', ...TINY]);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /on 2 train \/ 1 val volumes/);
    for (const [name, dims] of [['tiny', [2, 2, 2]], ['flat', [256, 256, 3]]] as const) {
      const p = cli(['predict', join(data, 'images', `${name}.nii.gz`), '-m', join(run, 'best.safetensors'), '-o', join(dir, 'pred')]);
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, /windows of 4x32x32/);
      const out = await readNifti(join(dir, 'pred', `${name}.nii.gz`));
      assert.deepEqual(out.dims.slice(0, 3), dims);
      for (const v of out.data) assert.ok(v === 0 || v === 1, `label ${v}`);
    }
  } finally {
    done();
  }
});

test('a two-case dataset without split.csv, label values outside --labels, NaN voxels: seeded split, --other, errors naming flags and files', { skip }, async () => {
  const { dir, done } = tmp();
  try {
    const data = join(dir, 'two');
    for (const id of ['a', 'b']) {
      await saveVolume(join(data, 'images', `${id}.nii.gz`), makeVolume([12, 12, 8], (x, y) => 1 + x + y));
      // 5: the structure wanted; 7 and 9: others (as a multi-organ CT where only the liver is wanted)
      await saveVolume(join(data, 'labels', `${id}.nii.gz`), makeVolume([12, 12, 8], (x, y, z) => (ball(6, 6, 4, 3)(x, y, z) ? 5 : x < 2 ? 7 : y < 2 ? 9 : 0)), 'uint8');
    }
    const train = (...args: string[]) => cli(['train', '-d', data, '-o', join(dir, 'run'), '--epochs', '1', '--patch', '8', ...TINY, ...args]);
    const noOther = train('--labels', '5');
    assert.notEqual(noOther.status, 0);
    assert.match(noOther.stderr, /labels\/[ab]\.nii\.gz: label value 7 at voxel \(0,0,0\) is not in the labels given \(5\): .*--other background/);
    const bg = train('--labels', '5', '--other', 'background');
    assert.equal(bg.status, 0, bg.stderr);
    assert.match(bg.stdout, /split: seeded \(--seed 0, no split\.csv\): 1 train \/ 1 val \/ 0 test \(2 cases: 1 held out for validation\)/);
    assert.match(bg.stdout, /classes background, label 5; patch 8x8x8/);
    const ign = train('--labels', '5', '--other', 'ignore');
    assert.equal(ign.status, 0, ign.stderr);
    assert.match(ign.stdout, /classes background, label 5 \(other values ignored\)/);
    assert.match(ign.stdout, /epoch 1\/1 loss \d/);

    const fewer = train('--labels', '5', '--other', 'background', '--samples-per-epoch', '1', '--batch-size', '2');
    assert.notEqual(fewer.status, 0);
    assert.match(fewer.stderr, /--samples-per-epoch 1 makes no full batch of --batch-size 2/);
    assert.doesNotMatch(fewer.stderr, /samplesPerEpoch|dropLast|batchSize/);
    const odd = train('--patch', '6');
    assert.notEqual(odd.status, 0);
    assert.match(odd.stderr, /--patch 6x6x6: every side must be a multiple of 2\^2 = 4 .*: use 8x8x8 \(volumes smaller than it are padded\)/);
    const mixed = train('--patch', '30x64x7');
    assert.match(mixed.stderr, /--patch 30x64x7: .*use 28x64x4 or 32x64x8/);

    // NaN voxels: training and predict both name the file
    await saveVolume(join(data, 'images', 'b.nii.gz'), makeVolume([12, 12, 8], (x, y) => (x === 4 && y === 5 ? NaN : 1 + x)));
    const nan = train('--labels', '5', '--other', 'background');
    assert.notEqual(nan.status, 0);
    assert.match(nan.stderr, /images\/b\.nii\.gz: 8 non-finite voxels \(the first, NaN, at \(4,5,0\)\)/);
    assert.doesNotMatch(nan.stderr, /non-finite loss/);
    const p = cli(['predict', join(data, 'images', 'b.nii.gz'), '-m', join(dir, 'run', 'best.safetensors'), '-o', join(dir, 'pred')]);
    assert.notEqual(p.status, 0);
    assert.match(p.stderr, /images\/b\.nii\.gz: 8 non-finite voxels/);
  } finally {
    done();
  }
});

test('images of several sizes: random crops of the smallest, windowed validation, a smaller batch for fewer draws', { skip }, async () => {
  const { dir, done } = tmp();
  try {
    const data = join(dir, 'nuclei');
    const sizes = [[64, 64], [80, 64], [64, 64], [80, 64], [96, 72], [72, 88], [64, 64]];
    for (const [i, [w, h]] of sizes.entries()) {
      const disk = (x: number, y: number) => (x - w / 2) ** 2 + (y - h / 2) ** 2 < 100;
      await png(join(data, 'images', `n${i}.png`), w, h, 1, (x, y) => (disk(x, y) ? 200 : 40));
      await png(join(data, 'masks', `n${i}.png`), w, h, 1, (x, y) => (disk(x, y) ? 255 : 0));
    }
    writeFileSync(join(data, 'split.csv'), 'id,split\n' + sizes.map((_, i) => `n${i},${i < 4 ? 'train' : 'val'}`).join('\n') + '\n');
    // the defaults without a plan (unetpp plan chooses crop and batch itself)
    const t = cli(['train', '-d', data, '-o', join(dir, 'run'), '--epochs', '1', '--samples-per-epoch', '2', '--no-plan', ...TINY]);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /batch size 2: --samples-per-epoch 2 draws fewer than the default --batch-size 8/);
    assert.match(t.stdout, /training on random 64x64 crops: the training images come in 2 sizes/);
    assert.match(t.stdout, /validating in 64x64 windows: the validation images come in 3 sizes/);
    assert.match(t.stdout, /epoch 1\/1 loss [\d.]+ val loss [\d.]+ iou [\d.]+ dice [\d.]+/);
    const odd = cli(['train', '-d', data, '-o', join(dir, 'run2'), '--epochs', '1', '--crop', '62', '--no-plan', ...TINY]);
    assert.notEqual(odd.status, 0);
    assert.match(odd.stderr, /--crop 62x62: every side must be a multiple of 2\^2 = 4 .*: use 60x60 or 64x64$/m);
  } finally {
    done();
  }
});
