// Checkpoints: params, config and meta round trip exactly, extra metadata kept, version 1 files
// read through upgradeV1, and a bad meta named by file and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadModelWithMeta, saveModel, readCheckpointMeta, updateMeta, upgradeV1 } from '../../src/io/checkpoint.js';
import { writeSafetensors, type TensorIn } from '../../src/io/safetensors.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { readMetaSidecar, importedMeta } from '../../src/io/meta-sidecar.js';
import type { CheckpointMeta } from '../../src/io/checkpoint-meta.js';
import { SegModel } from '../../src/models/model.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;
const tensorsOf = (m: SegModel): Record<string, TensorIn> =>
  Object.fromEntries(m.params.names().map((n) => [n, { dtype: 'F32' as const, shape: [...m.params.get(n).shape], data: m.params.get(n).data }]));

test('save/load round trip (full, pruned, paper preset), meta, extra keys, atomic', () => {
  const models = [
    new SegModel({ filters: [2, 4, 8, 16], deepSupervision: true, classes: 2, multiclass: 'sigmoid', seed: 4 }),
    new SegModel({ filters: [2, 4, 8, 16], deepSupervision: true, seed: 5 }).prune(2),
    new SegModel({ preset: 'paper', filters: [2, 4, 8], inChannels: 1, seed: 6 }),
  ];
  models.forEach((m, k) => {
    const p = join(dir, `m${k}.safetensors`);
    const meta = completeMeta(m.config, { training: { epoch: 7, status: 'running' } }, 'train');
    saveModel(p, m, meta, { note: 'kept' });
    const { model, meta: back, extra } = loadModelWithMeta(p);
    assert.deepEqual(model.config, m.config);
    assert.deepEqual(back, { ...meta, model: m.config });
    assert.deepEqual(extra, { note: 'kept' });
    assert.deepEqual(model.params.names().sort(), m.params.names().sort());
    for (const n of m.params.names()) {
      assert.deepEqual(model.params.get(n).data, m.params.get(n).data, n);
      assert.equal(model.params.get(n).trainable, m.params.get(n).trainable, n);
    }
    assert.deepEqual(readCheckpointMeta(p).meta.model, m.config);
  });
  assert.ok(readdirSync(dir).every((f) => !f.includes('.tmp-')));
  updateMeta(join(dir, 'm0.safetensors'), (m) => ({ ...m, training: { ...m.training!, status: 'finished' } }));
  const after = loadModelWithMeta(join(dir, 'm0.safetensors'));
  assert.deepEqual([after.meta.training?.status, after.extra.note], ['finished', 'kept']);
});

test('a PyTorch state_dict is not a checkpoint: the error says what to do; reserved keys', () => {
  assert.throws(() => loadModel(join(FIX, 'peer-ds/weights.safetensors')), /weights\.safetensors: not a unetpp checkpoint.*importPyTorch/);
  const m = new SegModel({ filters: [2, 4] });
  assert.throws(() => saveModel(join(dir, 'x.safetensors'), m, completeMeta(m.config, {}, 'train'), { unetpp: 'no' }), /reserved/);
});

test('version 1 files: upgradeV1 reads the old keys, derives the rest', () => {
  // 2D: normalize, classNames, inputSize as `unetpp train` wrote them at the end of a run
  const m2 = new SegModel({ filters: [2, 4], inChannels: 1, classes: 3, seed: 1 });
  const v1 = { format: 'unetpp-checkpoint', version: '1', config: JSON.stringify(m2.config), normalize: '{"kind":"zscore"}', classNames: '["a","b","c"]', inputSize: '64x48', epoch: '5', iou: '0.5', note: 'x' };
  writeSafetensors(join(dir, 'v1.safetensors'), tensorsOf(m2), v1);
  const { model, meta, extra } = loadModelWithMeta(join(dir, 'v1.safetensors'));
  assert.deepEqual(model.params.get('conv0_0.conv1.weight').data, m2.params.get('conv0_0.conv1.weight').data);
  assert.deepEqual(meta.input, { kind: 'image', normalize: { kind: 'zscore' }, resize: [64, 48] });
  assert.deepEqual(meta.classNames, ['a', 'b', 'c']);
  assert.deepEqual(meta.labels, { kind: 'classes', values: [1, 2], background: true }); // softmax, 3 classes
  assert.deepEqual(meta.training, { epoch: 5, status: 'finished', monitor: 'iou', value: 0.5 });
  assert.equal(meta.provenance.source, 'legacy');
  assert.deepEqual(extra, { note: 'x' });
  // a run that had not ended wrote no preprocessing keys: defaults, status running; "N" sizes
  const bare = upgradeV1({ config: JSON.stringify(new SegModel({ filters: [2, 4], classes: 1 }).config), epoch: '2', inputSize: '96' });
  assert.deepEqual([bare.input, bare.classNames, bare.labels, bare.training?.status], [{ kind: 'image', normalize: { kind: 'none' }, resize: [96, 96] }, ['foreground'], { kind: 'binary' }, 'running']);
  // 3D: volumePipeline (JSON) and patch ("DxHxW") become the input, labels and window
  const m3 = new SegModel({ dims: 3, filters: [2, 4], inChannels: 2, classes: 3, seed: 2 });
  const pipeline = { modalities: ['t1', 'ct'], normalize: ['mri', 'ct'], ct: [null, { lo: -100, hi: 300, mean: 40, std: 80 }], spacing: [1, 1, 2],
    labels: { kind: 'classes', values: [1, 2], background: true }, classNames: ['background', 'label 1', 'label 2'] };
  const v3 = upgradeV1({ config: JSON.stringify(m3.config), volumePipeline: JSON.stringify(pipeline), patch: '16x32x24' }, 'old3d.safetensors');
  assert.deepEqual(v3.input, { kind: 'volume', modalities: ['t1', 'ct'], normalize: ['mri', 'ct'], ct: pipeline.ct, spacing: [1, 1, 2] });
  assert.deepEqual([v3.labels, v3.classNames, v3.window], [pipeline.labels, pipeline.classNames, [16, 32, 24]]);
  assert.throws(() => upgradeV1({ config: JSON.stringify(m3.config), patch: '16x32' }, 'old3d.safetensors'), /old3d\.safetensors: version 1 metadata "patch": "16x32" is not DxHxW/);
  assert.throws(() => upgradeV1({ config: '{bad' }, 'f.safetensors'), /f\.safetensors: version 1 metadata "config": not valid JSON/);
});

test('a bad meta is refused naming the file and the field', () => {
  const m = new SegModel({ filters: [2, 4], inChannels: 1, classes: 3, seed: 1 });
  const good = completeMeta(m.config, {}, 'train');
  const write = (name: string, meta: unknown) => {
    const p = join(dir, name);
    writeSafetensors(p, tensorsOf(m), { format: 'unetpp-checkpoint', unetpp: JSON.stringify(meta) });
    return p;
  };
  const pp = (rules: unknown) => ({ ...good, postprocess: rules }); // post-processing rules
  const cases: [string, unknown, RegExp][] = [
    ['names.safetensors', { ...good, classNames: ['a', 'b'] }, /names\.safetensors: metadata field classNames: 2 names for 3 class\(es\)/],
    ['labels.safetensors', { ...good, labels: { kind: 'binary' } }, /labels\.safetensors: metadata field labels: give 1 output plane\(s\) \(foreground\), the model has 3 class\(es\)/],
    ['norm.safetensors', { ...good, input: { kind: 'image', normalize: { kind: 'mean' } } }, /norm\.safetensors: metadata field input\.normalize\.kind: expected one of none, zscore, minmax, fixed, got "mean"/],
    ['window.safetensors', { ...good, window: [16, 16, 16] }, /window\.safetensors: metadata field window: 3 values, expected 2/],
    ['kind.safetensors', { ...good, input: { kind: 'volume', modalities: ['a'], normalize: ['mri'], ct: [null] } }, /kind\.safetensors: metadata field input\.kind: 'volume' for a 2D model/],
    ['status.safetensors', { ...good, training: { epoch: 1, status: 'paused' } }, /status\.safetensors: metadata field training\.status: expected one of running, finished, got "paused"/],
    ['model.safetensors', { ...good, model: { ...m.config, filters: [2] } }, /model\.safetensors: metadata field model: model option filters: needs 2 to 7 levels/],
    ['newer.safetensors', { ...good, version: 3 }, /newer\.safetensors: metadata field version: 3 was written by a newer unetpp/],
    ['pp.safetensors', pp({ values: [1], keep: 'largest' }), /pp\.safetensors: metadata field postprocess: expected a list of rules/],
    ['pp0.safetensors', pp([{ values: [1], keep: 'biggest' }]), /field postprocess\[0\]\.keep: expected one of largest, min-size/],
    ['pp1.safetensors', pp([{ values: [1], keep: 'largest' }, { values: [0], keep: 'largest' }]),
      /field postprocess\[1\]\.values: expected a list of integers >= 1/],
    ['pp2.safetensors', pp([{ values: [], keep: 'largest' }]), /field postprocess\[0\]\.values: is empty/],
    ['pp3.safetensors', pp([{ values: [256], keep: 'largest' }]), /field postprocess\[0\]\.values: label values are 1\.\.255/],
    ['pp4.safetensors', pp([{ values: [2], keep: 'min-size' }]), /field postprocess\[0\]\.minVoxels: 'min-size' needs a positive integer/],
  ];
  for (const [name, meta, re] of cases) assert.throws(() => loadModelWithMeta(write(name, meta)), re, name);
  writeSafetensors(join(dir, 'json.safetensors'), tensorsOf(m), { format: 'unetpp-checkpoint', unetpp: '{"version": 2,' });
  assert.throws(() => readCheckpointMeta(join(dir, 'json.safetensors')), /json\.safetensors: metadata "unetpp" is not valid JSON/);
  // writing checks too: a meta that does not fit the model is not written
  assert.throws(() => saveModel(join(dir, 'w.safetensors'), m, { ...good, classNames: ['x'] } as CheckpointMeta), /saveModel .*w\.safetensors: metadata field classNames/);
});

test('PyTorch weights: a sidecar gives part of the meta, the rest is derived; unknown keys are refused', () => {
  const m3 = new SegModel({ dims: 3, filters: [2, 4], inChannels: 1, classes: 2, seed: 2 });
  const side = join(dir, 'side.json');
  writeFileSync(side, JSON.stringify({ input: { kind: 'volume', modalities: ['ct'], normalize: ['zscore'], ct: [null] }, window: [16, 16, 16], classNames: ['bg', 'liver'] }));
  const meta = importedMeta(m3.config, readMetaSidecar(side), `--meta ${side}`);
  assert.deepEqual([meta.window, meta.classNames, meta.labels, meta.provenance.source], [[16, 16, 16], ['bg', 'liver'], { kind: 'classes', values: [1], background: true }, 'pytorch']);
  writeFileSync(side, JSON.stringify({ windows: [16, 16, 16] }));
  assert.throws(() => readMetaSidecar(side), /side\.json: metadata field windows: unknown here/);
  assert.throws(() => importedMeta(m3.config, { window: [16, 16] }, 'side.json'), /side\.json: metadata field window: 2 values, expected 3/);
});
