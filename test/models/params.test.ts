// Parameter counts of DESIGN.md, exactly: they pin the architecture (channels, heads, up-sampling).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegModel } from '../../src/models/model.js';
import { WIDE_UNET_FILTERS } from '../../src/models/config.js';

const count = (cfg: ConstructorParameters<typeof SegModel>[0]) => new SegModel(cfg).params.count();

test('paper preset: UNet++ L4, U-Net, wide U-Net', () => {
  assert.equal(count({ preset: 'paper', inChannels: 1 }), 9_041_601);
  assert.equal(count({ preset: 'paper', arch: 'unet', inChannels: 1 }), 7_759_521);
  assert.equal(count({ preset: 'paper', arch: 'unet', inChannels: 1, filters: WIDE_UNET_FILTERS }), 9_282_246);
});

test('paper preset: pruned UNet++ L1/L2/L3', () => {
  assert.deepEqual([1, 2, 3].map((level) => count({ preset: 'paper', inChannels: 1, level })), [100_961, 511_105, 2_204_961]);
});

test('bn preset, 3 channels, deep supervision: the PyTorch NestedUNet', () => {
  const m = new SegModel({ preset: 'bn', inChannels: 3, deepSupervision: true });
  assert.equal(m.params.count(), 9_163_428);
  assert.deepEqual(m.headNames(), ['final1', 'final2', 'final3', 'final4']);
  assert.ok(m.params.has('conv0_4.bn2.running_var') && !m.params.get('conv0_4.bn2.running_var').trainable);
});

test('prune keeps the nodes i + j <= d and head d, sharing arrays', () => {
  const m = new SegModel({ deepSupervision: true, filters: [4, 8, 16, 32, 64] });
  const p = m.prune(2);
  assert.deepEqual(p.headNames(), ['final2']);
  assert.ok(p.params.has('conv0_2.conv1.weight') && !p.params.has('conv0_3.conv1.weight') && !p.params.has('conv3_0.conv1.weight'));
  assert.equal(p.params.get('conv0_0.conv1.weight').data, m.params.get('conv0_0.conv1.weight').data);
  assert.ok(p.params.count() < m.params.count());
});

test('bad options and sizes get errors naming them', () => {
  assert.throws(() => new SegModel({ filters: [32] }), /filters/);
  assert.throws(() => new SegModel({ arch: 'unet', deepSupervision: true }), /deepSupervision/);
  assert.throws(() => new SegModel({ deepSupervision: true }).prune(5), /level must be 1..4/);
  assert.throws(() => new SegModel({}).prune(2), /deep supervision/);
});
