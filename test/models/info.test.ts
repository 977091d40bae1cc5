// describeModel: DESIGN.md's 9.70 GFLOP per 96x96 image for the bn UNet++, consistent tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeModel, formatInfo } from '../../src/models/info.js';

test('bn UNet++ with deep supervision at 96x96: 9.70 GFLOP forward, 9,163,428 params', () => {
  const info = describeModel({ preset: 'bn', inChannels: 3, deepSupervision: true }, { size: 96 });
  assert.equal(info.params, 9_163_428);
  assert.ok(Math.abs(info.gflops - 9.70) < 0.005, `${info.gflops}`);
  assert.equal(info.blocks.reduce((s, b) => s + b.params, 0), info.params);
  assert.ok(Math.abs(info.blocks.reduce((s, b) => s + b.gflops, 0) - info.gflops) < 1e-9);
  assert.deepEqual(info.levels.map((l) => l.level), [1, 2, 3, 4]);
  assert.ok(info.levels.every((l, i) => i === 0 || l.gflops > info.levels[i - 1].gflops));
  const c00 = info.blocks.find((b) => b.node === 'conv0_4')!;
  assert.deepEqual([c00.inChannels, c00.outChannels, c00.outputSize], [192, 32, [96, 96]]);
  // Cost scales with the pixel count.
  assert.ok(Math.abs(describeModel({ deepSupervision: true }, { size: 192 }).gflops - 4 * info.gflops) < 1e-6);
  assert.match(formatInfo(info), /9\.70 GFLOP per image forward/);
});

test('paper preset pruned levels have the parameter counts of DESIGN.md', () => {
  const info = describeModel({ preset: 'paper', inChannels: 1 });
  assert.deepEqual(info.levels.map((l) => l.params), [100_961, 511_105, 2_204_961, 9_041_601]);
  assert.equal(describeModel({ preset: 'paper', arch: 'unet', inChannels: 1 }).levels.length, 0);
  assert.throws(() => describeModel({}, { size: 100 }), /multiple of 2\^4 = 16/);
});
