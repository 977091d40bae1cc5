// Volumes end to end through the CLI (issue 17): train a tiny 3D UNet++ on a synthetic volume
// dataset written as NIfTI (two modalities, labels 1 and 2), predict a case back onto its own
// grid and affine, and evaluate per volume and per class in mm. Native backend where built
// (the reference backend would take minutes), else skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
const native = nativeAvailable();

test('volumes: train (3D patches), predict (labels on the input grid), eval (per class, mm)', { skip: native.ok ? false : `native backend unavailable (${native.reason})` }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-vol-'));
  try {
    const data = join(tmp, 'vols');
    await writeSyntheticVolumes(data, { count: 6, dims: [24, 20, 16], channels: 2, seed: 3, splitFractions: [0.5, 0.17, 0.33] });
    const run = join(tmp, 'run');
    const t = cli(['train', '-d', data, '-o', run, '--epochs', '2', '--patch', '16', '--filters', '4,8,16', '--labels', '1,2',
      '--samples-per-epoch', '4', '--no-progress', '--no-plot']);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /training 3D unetpp .*instance norm.* classes background, label 1, label 2; patch 16x16x16/);
    const meta = readCheckpointMeta(join(run, 'best.safetensors'));
    assert.equal(meta.meta.model.dims, 3);
    assert.equal(meta.meta.model.inChannels, 2);
    assert.equal(meta.meta.model.classes, 3);
    assert.equal(meta.meta.input.kind, 'volume');
    assert.deepEqual(meta.meta.labels, { kind: 'classes', values: [1, 2], background: true });
    assert.deepEqual(meta.meta.window, [16, 16, 16]);
    // post-processing chosen on the validation cases at the end, recorded in the meta (possibly no rule)
    assert.match(t.stdout, /post-processing chosen on the validation cases .*\n\| rule \| Dice before/);
    assert.ok(Array.isArray(meta.meta.postprocess));

    const src = join(data, 'images', 'synth_000_0000.nii.gz');
    const p = cli(['predict', src, join(data, 'images', 'synth_000_0001.nii.gz'), '--stack', '-m', join(run, 'best.safetensors'), '-o', join(tmp, 'pred')]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /tiling: .* windows of 16x16x16/);
    const [inp, out] = await Promise.all([readNifti(src), readNifti(join(tmp, 'pred', 'synth_000.nii.gz'))]);
    assert.deepEqual(out.dims.slice(0, 3), inp.dims.slice(0, 3));
    assert.deepEqual(out.affine, inp.affine);
    for (const v of out.data) assert.ok(v === 0 || v === 1 || v === 2, `label ${v}`);

    const e = cli(['eval', '-d', data, '-m', join(run, 'best.safetensors'), '--split', 'test', '-o', join(tmp, 'eval')]);
    assert.equal(e.status, 0, e.stderr);
    const csv = readFileSync(join(tmp, 'eval', 'metrics.csv'), 'utf8').split('\n');
    for (const col of ['dice:label 1', 'dice:label 2', 'hd95:label 1', 'asd:label 2']) assert.ok(csv[0].includes(col), `${col} in ${csv[0]}`);
    assert.equal(csv.filter((l) => l.startsWith('synth_')).length, 2);

    const bad = cli(['train', '-d', data, '-o', join(tmp, 'bad'), '--patch', '18', '--filters', '4,8,16', '--epochs', '1', '--no-progress']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--patch 18x18x18: every side must be a multiple of 2\^2 = 4 .*: use 16x16x16 or 20x20x20/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
