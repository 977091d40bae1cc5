// Checkpoints: params + config round trip exactly, extra metadata kept, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadModelWithMeta, saveModel, readCheckpointMeta } from '../../src/io/checkpoint.js';
import { SegModel } from '../../src/models/model.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;

test('save/load round trip (full, pruned, paper preset), metadata, atomic', () => {
  const models = [
    new SegModel({ filters: [2, 4, 8, 16], deepSupervision: true, classes: 2, multiclass: 'sigmoid', seed: 4 }),
    new SegModel({ filters: [2, 4, 8, 16], deepSupervision: true, seed: 5 }).prune(2),
    new SegModel({ preset: 'paper', filters: [2, 4, 8], inChannels: 1, seed: 6 }),
  ];
  models.forEach((m, k) => {
    const p = join(dir, `m${k}.safetensors`);
    saveModel(p, m, { epoch: '7' });
    const { model, metadata } = loadModelWithMeta(p);
    assert.deepEqual(model.config, m.config);
    assert.equal(metadata.epoch, '7');
    assert.deepEqual(model.params.names().sort(), m.params.names().sort());
    for (const n of m.params.names()) {
      assert.deepEqual(model.params.get(n).data, m.params.get(n).data, n);
      assert.equal(model.params.get(n).trainable, m.params.get(n).trainable, n);
    }
    assert.deepEqual(readCheckpointMeta(p).config, m.config);
  });
  assert.ok(readdirSync(dir).every((f) => !f.includes('.tmp-')));
});

test('a PyTorch state_dict is not a checkpoint: the error says what to do', () => {
  assert.throws(() => loadModel(join(FIX, 'peer-ds/weights.safetensors')), /weights\.safetensors: not a unetpp checkpoint.*importPyTorch/);
  assert.throws(() => saveModel(join(dir, 'x.safetensors'), new SegModel({ filters: [2, 4] }), { config: 'no' }), /reserved/);
});
