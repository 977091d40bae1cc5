// Post-processing rules through the checkpoint and the CLI: the rules live in the checkpoint's
// meta (updateMeta keeps the weights and every other key; the meta validator refuses a bad rule);
// `unetpp postprocess` chooses on the validation split and records the rules (not with
// --dry-run); eval and predict apply them (not with --no-postprocess).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { openVolumes, volumePipeline, type VolumeData } from '../../src/data/volumes/volume-dataset.js';
import { loadModelWithMeta, readCheckpointMeta, saveModel, updateMeta } from '../../src/io/checkpoint.js';
import type { PostprocessRule } from '../../src/io/checkpoint-meta.js';
import { volumeRunMeta } from '../../src/train/run-meta.js';
import { loadModelSource } from '../../src/cli/model-source.js';
import { checkpointEntry, ensembleEntry } from '../../src/infer/model-entry.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { SegModel } from '../../src/models/model.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
const model = () => new SegModel({ dims: 3, inChannels: 1, classes: 3, multiclass: 'softmax', filters: [4, 8], deepSupervision: true, seed: 5 });
/** The meta `unetpp train` writes for a volume dataset (patch 16). */
const metaFor = (m: SegModel, vd: VolumeData) => volumeRunMeta(m.config, volumePipeline(vd), [16, 16, 16], { source: 'train' });
const setRules = (path: string, rules: PostprocessRule[]) => updateMeta(path, (meta) => ({ ...meta, postprocess: rules }));

test('rules in the meta: updateMeta keeps weights and other keys, atomically; a bad rule is refused; ensembles have none', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-pp-'));
  try {
    const data = join(tmp, 'vols');
    await writeSyntheticVolumes(data, { count: 2, dims: [8, 8, 8], channels: 1, seed: 4 });
    const vd = await openVolumes(data, { labels: { kind: 'classes', values: [1, 2], background: true } });
    const path = join(tmp, 'm.safetensors');
    const m = model();
    saveModel(path, m, metaFor(m, vd), { note: 'kept' });
    const rules = [{ values: [1, 2], keep: 'largest' as const, diceBefore: 0.81, diceAfter: 0.83 }, { values: [2], keep: 'min-size' as const, minVoxels: 12 }];
    setRules(path, rules);
    const back = loadModelWithMeta(path);
    assert.deepEqual(back.meta.postprocess, rules);
    assert.deepEqual(back.meta.window, [16, 16, 16]);
    assert.deepEqual(back.extra, { note: 'kept' });
    assert.deepEqual(back.model.config, m.config);
    for (const n of m.params.names()) assert.deepEqual(back.model.params.get(n).data, m.params.get(n).data, n);
    assert.deepEqual(loadModelSource({ model: path }).meta.postprocess, rules);
    // rules chosen for one model are not a fold ensemble's
    assert.equal(ensembleEntry([checkpointEntry(path), checkpointEntry(path)], 'cv').meta.postprocess, undefined);
    assert.deepEqual(readdirSync(tmp).sort(), ['m.safetensors', 'vols']); // no temporary file left
    setRules(path, []); // chosen, nothing kept: recorded as such
    assert.deepEqual(readCheckpointMeta(path).meta.postprocess, []);
    const bad = [{ values: [1], keep: 'biggest' }] as unknown as PostprocessRule[];
    assert.throws(() => setRules(path, bad), /m\.safetensors: metadata field postprocess\[0\]\.keep: expected one of largest, min-size/);
    assert.deepEqual(readCheckpointMeta(path).meta.postprocess, [], 'a refused rule leaves the file as it was');
    saveModel(path, m, metaFor(m, vd));
    assert.equal(loadModelSource({ model: path }).meta.postprocess, undefined);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('unetpp postprocess chooses on the validation split and records the rules; eval and predict apply them', { timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-pp-cli-'));
  try {
    const data = join(tmp, 'vols');
    await writeSyntheticVolumes(data, { count: 5, dims: [20, 18, 16], channels: 1, seed: 4, splitFractions: [0.2, 0.4, 0.4] });
    const vd = await openVolumes(data, { labels: { kind: 'classes', values: [1, 2], background: true } });
    const ckpt = join(tmp, 'best.safetensors');
    // an untrained model: its predictions are noisy, which is what post-processing cleans
    const m = model();
    saveModel(ckpt, m, metaFor(m, vd));

    const dry = cli(['postprocess', '-m', ckpt, '-d', data, '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /\| rule \| Dice before \| Dice after \| change \| kept \|/);
    assert.match(dry.stdout, /keep the largest component of foreground \(1,2\)/);
    assert.match(dry.stdout, /\| label 1 \| [\d.]+ \| [\d.]+ \|/);
    assert.match(dry.stdout, /--dry-run: .* unchanged/);
    assert.equal(readCheckpointMeta(ckpt).meta.postprocess, undefined);

    const r = cli(['postprocess', '-m', ckpt, '-d', data]);
    assert.equal(r.status, 0, r.stderr);
    const rules = readCheckpointMeta(ckpt).meta.postprocess!;
    assert.ok(Array.isArray(rules));
    assert.match(r.stdout, new RegExp(`${rules.length} rule\\(s\\) kept .* written to`));
    // kept rules raised the mean Dice, each on top of the ones before
    for (const rule of rules) assert.ok(rule.diceAfter! > rule.diceBefore!, JSON.stringify(rule));
    const mean = /\| mean \| ([\d.]+) \| ([\d.]+) \|/.exec(r.stdout)!;
    assert.ok(Number(mean[2]) >= Number(mean[1]));

    // a rule that removes every foreground voxel shows where eval and predict apply the rules
    setRules(ckpt, [{ values: [1, 2], keep: 'min-size', minVoxels: 1_000_000 }]);
    const rowsOf = (dir: string) => readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const e = cli(['eval', '-d', data, '-m', ckpt, '--split', 'val', '--no-hd95', '-o', join(tmp, 'e1')]);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /post-processing: drop components under 1000000 voxels of 1,2/);
    const e0 = cli(['eval', '-d', data, '-m', ckpt, '--split', 'val', '--no-hd95', '--no-postprocess', '-o', join(tmp, 'e0')]);
    assert.equal(e0.status, 0, e0.stderr);
    const header = readFileSync(join(tmp, 'e1', 'metrics.csv'), 'utf8').split('\n')[0].split(',');
    const recall = header.indexOf('recall');
    assert.ok(recall > 0, header.join(','));
    assert.ok(rowsOf(join(tmp, 'e1')).every((row) => Number(row[recall]) === 0), 'nothing predicted, nothing recalled');
    assert.ok(rowsOf(join(tmp, 'e0')).some((row) => Number(row[recall]) > 0), 'the raw predictions find some foreground');

    const src = vd.dataset.cases.find((c) => c.split === 'val')!.images[0];
    const p1 = cli(['predict', src, '-m', ckpt, '-o', join(tmp, 'p1')]);
    const p0 = cli(['predict', src, '-m', ckpt, '-o', join(tmp, 'p0'), '--no-postprocess']);
    assert.equal(p1.status, 0, p1.stderr);
    assert.equal(p0.status, 0, p0.stderr);
    const stem = src.split('/').pop()!.replace(/(_0000)?\.nii(\.gz)?$/, '');
    const [a, b] = await Promise.all([readNifti(join(tmp, 'p1', `${stem}.nii.gz`)), readNifti(join(tmp, 'p0', `${stem}.nii.gz`))]);
    assert.ok(a.data.every((v) => v === 0));
    assert.ok(b.data.some((v) => v !== 0));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
