// PyTorch state_dict import: config inference, `module.` prefix, num_batches_tracked, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPyTorch, inferPyTorchConfig, exportPyTorch } from '../../src/io/pytorch.js';
import { readSafetensors, writeSafetensors, type TensorIn } from '../../src/io/safetensors.js';
import { SegModel } from '../../src/models/model.js';

const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pt-'));

test('imports the peer fixtures with the right config', () => {
  const m = importPyTorch(join(FIX, 'peer-ds/weights.safetensors'));
  assert.deepEqual([m.config.arch, m.config.filters, m.config.inChannels, m.config.classes, m.config.deepSupervision], ['unetpp', [2, 4, 8, 16], 3, 1, true]);
  assert.equal(m.params.count(), 9087);
  assert.equal(importPyTorch(join(FIX, 'peer-unet/weights.safetensors')).config.arch, 'unet');
  assert.equal(importPyTorch(join(FIX, 'peer-nods/weights.safetensors')).config.deepSupervision, false);
});

test('infers the config without metadata, accepts a module. prefix', () => {
  const f = readSafetensors(join(FIX, 'peer-ds/weights.safetensors'));
  const renamed: Record<string, TensorIn> = {};
  for (const [n, t] of Object.entries(f.tensors)) renamed[`module.${n}`] = t as TensorIn;
  const p = join(dir, 'ddp.safetensors');
  writeSafetensors(p, renamed); // no metadata
  assert.deepEqual(inferPyTorchConfig(readSafetensors(p)), { arch: 'unetpp', preset: 'bn', filters: [2, 4, 8, 16], inChannels: 3, classes: 1, deepSupervision: true, dims: 2, norm: 'batch' });
  const a = importPyTorch(p);
  const b = importPyTorch(join(FIX, 'peer-ds/weights.safetensors'));
  for (const n of b.params.names()) assert.deepEqual(a.params.get(n).data, b.params.get(n).data, n);
});

test('errors name missing, unexpected and mis-shaped tensors', () => {
  const f = readSafetensors(join(FIX, 'peer-nods/weights.safetensors'));
  const t = { ...f.tensors } as Record<string, TensorIn>;
  delete t['conv0_1.bn2.running_var'];
  t['extra.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
  t['final.bias'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
  const p = join(dir, 'bad.safetensors');
  writeSafetensors(p, t, f.metadata);
  assert.throws(() => importPyTorch(p), (e: Error) =>
    e.message.includes('bad.safetensors') && /missing \(1\): conv0_1\.bn2\.running_var/.test(e.message) &&
    /unexpected \(1\): extra\.weight/.test(e.message) && /wrong shape \(1\): final\.bias \[2\] \(expected \[1\]\)/.test(e.message));
  // Config overrides that contradict the weights are reported the same way.
  assert.throws(() => importPyTorch(join(FIX, 'peer-nods/weights.safetensors'), { config: { inChannels: 1 } }), /wrong shape.*conv0_0\.conv1\.weight \[2,3,3,3\] \(expected \[2,1,3,3\]\)/s);
});

test('export writes num_batches_tracked and peer metadata; re-import is exact', () => {
  const m = new SegModel({ filters: [2, 4, 8], deepSupervision: true, seed: 3 });
  const p = join(dir, 'ours.safetensors');
  exportPyTorch(p, m, { note: 'x' });
  const f = readSafetensors(p);
  assert.equal(f.tensors['conv1_1.bn2.num_batches_tracked'].dtype, 'I64');
  assert.deepEqual(f.tensors['conv1_1.bn2.num_batches_tracked'].shape, []);
  assert.deepEqual([f.metadata.arch, f.metadata.filters, f.metadata.in_channels, f.metadata.classes, f.metadata.deep_supervision, f.metadata.note],
    ['unetpp', '2,4,8', '3', '1', 'True', 'x']);
  const back = importPyTorch(p);
  for (const n of m.params.names()) assert.deepEqual(back.params.get(n).data, m.params.get(n).data, n);
});
