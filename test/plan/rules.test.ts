// The planning rules on numbers with known answers (nnU-Net's published rules, worked by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batchSize, builtNetwork, filtersFor, initialPatch, medianShapeAt, normalizationFor, parseDuration, scheduleFor,
  shrinkPatch, targetSpacing, topology, MIN_STEPS,
} from '../../src/plan/rules.js';

test('target spacing: the median per axis', () => {
  const spacings = [[0.8, 1, 1], [1, 1, 1.2], [1.2, 0.9, 1], [1, 1, 1], [0.9, 1.1, 1]];
  const sizes = spacings.map(() => [40, 50, 36]);
  assert.deepEqual(targetSpacing(spacings, sizes), { spacing: [1, 1, 1], rule: 'median' });
});

test('target spacing: an axis > 3x coarser with < 1/3 of the voxels takes its 10th percentile', () => {
  const spacings = [[1, 1, 5], [1, 1, 4], [1, 1, 6], [1, 1, 3.5], [1, 1, 5]];
  const sizes = spacings.map(() => [64, 64, 12]);
  const t = targetSpacing(spacings, sizes);
  // sorted z: 3.5 4 5 5 6; the 10th percentile sits 0.4 of the way from 3.5 to 4
  assert.deepEqual(t.spacing, [1, 1, 3.7]);
  assert.match(t.rule, /axis z .*10th percentile/);
  // coarse spacing but as many voxels: the median stays (nnU-Net needs both)
  assert.equal(targetSpacing(spacings, spacings.map(() => [64, 64, 64])).rule, 'median');
  // the percentile never goes finer than the other axes
  const fine = targetSpacing([[1, 1, 4], [1, 1, 4], [1, 1, 0.5], [1, 1, 0.5], [1, 1, 4]], spacings.map(() => [64, 64, 12]));
  assert.ok(Math.abs(fine.spacing[2] - 1) < 1e-4, `${fine.spacing}`);
});

test('median shape in the target spacing', () => {
  const sizes = [[100, 100, 10], [80, 80, 20], [120, 100, 10]];
  const spacings = [[1, 1, 4], [1, 1, 2], [0.5, 1, 4]];
  assert.deepEqual(medianShapeAt(sizes, spacings, [1, 1, 4]), [80, 100, 10]);
});

test('topology: isotropic patches pool every axis until a feature map would fall below 4 voxels; patch padded to 2^pools', () => {
  // nnU-Net's Hippocampus: median 36x50x35 at 1 mm -> 3 poolings per axis, patch 40x56x40
  const t = topology([1, 1, 1], [36, 50, 35]);
  assert.deepEqual(t.pools, [3, 3, 3]);
  assert.deepEqual(t.patch, [40, 56, 40]);
  assert.equal(t.poolPerLevel.length, 3);
  assert.deepEqual(t.kernelPerLevel.at(-1), [3, 3, 3]);
  const b = builtNetwork(t);
  assert.equal(b.depth, 3);
  assert.deepEqual(b.pools, [[2, 2, 2], [2, 2, 2], [2, 2, 2]]);
  assert.deepEqual(b.kernels, [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]);
  assert.deepEqual(b.patch, [40, 56, 40]);
  for (const [i, p] of t.patch.entries()) assert.equal(p % 2 ** t.pools[i], 0);
});

test('topology: a coarse axis pools later and gets 1-voxel kernels until its spacing catches up', () => {
  // [D, H, W] spacing 4 x 1 x 1 mm: H and W pool twice alone (spacing 1 -> 2 -> 4), then all three
  const t = topology([4, 1, 1], [20, 160, 160]);
  assert.deepEqual(t.poolPerLevel.slice(0, 2), [[1, 2, 2], [1, 2, 2]]);
  assert.deepEqual(t.poolPerLevel[2], [2, 2, 2]);
  assert.deepEqual(t.kernelPerLevel[0], [1, 3, 3]);
  assert.deepEqual(t.kernelPerLevel[1], [1, 3, 3]);
  assert.deepEqual(t.kernelPerLevel[2], [3, 3, 3]);
  assert.ok(t.pools[0] < t.pools[1], `${t.pools}`);
  assert.equal(t.pools[1], t.pools[2]);
  // a volume model pools and convolves per axis as planned: as many levels as the finest axis pools, its patch
  // as planned, a kernel per level (1x3x3 while the slices are thick)
  const b = builtNetwork(t);
  assert.equal(b.depth, t.pools[1]);
  assert.deepEqual(b.pools, t.poolPerLevel);
  assert.deepEqual(b.kernels, t.kernelPerLevel);
  assert.equal(b.kernels.length, b.depth + 1);
  assert.deepEqual(b.patch, t.patch);
  for (const [i, p] of t.patch.entries()) assert.equal(p % 2 ** t.pools[i], 0);
  // an image model pools both axes alike: only as often as every axis can, the patch rounded to 2^depth
  const t2 = topology([1, 1], [24, 100]);
  assert.ok(t2.pools[0] < t2.pools[1], `${t2.pools}`);
  const b2 = builtNetwork(t2);
  assert.equal(b2.depth, t2.pools[0]);
  assert.ok(b2.pools.every((f) => f.join() === '2,2'));
  assert.ok(b2.kernels.length === b2.depth + 1 && b2.kernels.every((k) => k.join() === '3,3'));
  // images keep 3x3 kernels whatever their spacing says
  const t3 = topology([3, 1], [40, 160]);
  assert.ok(t3.kernelPerLevel.some((k) => k.includes(1)), JSON.stringify(t3.kernelPerLevel));
  assert.ok(builtNetwork(t3).kernels.every((k) => k.join() === '3,3'));
  for (const v of b2.patch) assert.equal(v % 2 ** b2.depth, 0);
});

test('initial patch: the spacing\'s aspect ratio at 256^3, no larger than the median case', () => {
  // x (2x)(2x) = 256^3 -> x = 161.3
  assert.deepEqual(initialPatch([2, 1, 1], [1000, 1000, 1000]), [161, 323, 323]);
  assert.deepEqual(initialPatch([2, 1, 1], [100, 200, 150]), [100, 200, 150]);
  assert.deepEqual(initialPatch([1, 1], [300, 5000]), [300, 2048]);
});

test('shrinking: the axis largest relative to the median case loses a divisor step until it fits', () => {
  const median = [128, 256, 256];
  const { topology: t, shrunk } = shrinkPatch([1, 1, 1], median, [64, 256, 256], (p) => p[0] * p[1] * p[2] <= 64 * 160 * 160);
  assert.ok(shrunk > 0);
  assert.ok(t.patch[0] * t.patch[1] * t.patch[2] <= 64 * 160 * 160);
  // H and W shrink alternately; D, half its median, is never the largest relative to its median
  assert.equal(t.patch[0], 64);
  assert.ok(Math.abs(t.patch[1] - t.patch[2]) <= 32, `${t.patch}`);
  for (const [i, p] of t.patch.entries()) assert.equal(p % t.divisor[i], 0);
  assert.throws(() => shrinkPatch([1, 1, 1], median, [64, 64, 64], () => false), /no patch fits the memory budget.*--max-memory/);
});

test('filters double per level up to 320 (3D) / 512 (2D)', () => {
  assert.deepEqual(filtersFor(32, 5, 3), [32, 64, 128, 256, 320, 320]);
  assert.deepEqual(filtersFor(16, 3, 3), [16, 32, 64, 128]);
  assert.deepEqual(filtersFor(32, 6, 2), [32, 64, 128, 256, 512, 512, 512]);
});

test('batch: at least 2, at most 5% of the dataset\'s voxels, what memory allows, and enough steps for the budget', () => {
  const patchVoxels = 40 * 56 * 40;
  // plenty of everything: memory limits
  assert.deepEqual(batchSize({ memoryFit: 7, datasetVoxels: 1e9, patchVoxels, stepsAt2: 1e6 }), { batch: 7, why: 'limited by memory' });
  // 5% of a small dataset: 0.05 * 9.45M / 89.6k = 5.27 -> 5
  assert.equal(batchSize({ memoryFit: 64, datasetVoxels: 9.45e6, patchVoxels, stepsAt2: 1e6 }).batch, 5);
  // a budget of 1.5 x MIN_STEPS steps at batch 2 allows batch 3
  assert.equal(batchSize({ memoryFit: 64, datasetVoxels: 1e9, patchVoxels, stepsAt2: 1.5 * MIN_STEPS }).batch, 3);
  // the planner's memory fit stops at the step limit: the reason given is the steps
  assert.deepEqual(batchSize({ memoryFit: 3, datasetVoxels: 1e9, patchVoxels, stepsAt2: 1.5 * MIN_STEPS }),
    { batch: 3, why: `limited by keeping ${MIN_STEPS} steps in the time budget` });
  // Hippocampus at 30 min (~5600 steps at batch 2, 5% of its voxels = batch 5): updates win, batch 2
  assert.deepEqual(batchSize({ memoryFit: 64, datasetVoxels: 9.45e6, patchVoxels, stepsAt2: 5600 }),
    { batch: 2, why: `the minimum (keeping ${MIN_STEPS} steps in the time budget allows 1)` });
  // never below 2, and says why
  const tiny = batchSize({ memoryFit: 64, datasetVoxels: 1e5, patchVoxels, stepsAt2: 1e6 });
  assert.equal(tiny.batch, 2);
  assert.match(tiny.why, /minimum.*5% of the dataset/);
});

test('normalisation: CT by name -> dataset statistics; otherwise z-score, in the non-zero mask when cropping left < 3/4', () => {
  assert.equal(normalizationFor('CT', 1), 'ct');
  assert.equal(normalizationFor('ct ', 0.5), 'ct');
  assert.equal(normalizationFor('MRI', 1), 'zscore');
  assert.equal(normalizationFor('T1c', 0.6), 'mri');
  assert.equal(normalizationFor('FLAIR', 0.8), 'zscore');
});

test('schedule: steps from the time budget, epochs of ~1/20 of them filling it, validation under a tenth of an epoch', () => {
  // 1800 steps of 1 s: epochs of 90 steps + 5 s validation -> 19 epochs of 89 steps
  const s = scheduleFor({ budgetSeconds: 1800, stepSeconds: 1, validationSeconds: 5, batch: 2 });
  assert.equal(s.epochs, 19);
  assert.equal(s.stepsPerEpoch, Math.floor(1800 / 19 - 5));
  assert.equal(s.steps, s.epochs * s.stepsPerEpoch);
  assert.equal(s.samplesPerEpoch, 2 * s.stepsPerEpoch);
  assert.ok(s.steps + 19 * 5 <= 1800);
  // the limit passes within the last epoch, half an epoch before the budget ends
  assert.equal(s.timeLimitSeconds, Math.round(1800 - (s.stepsPerEpoch + 5) / 2));
  // slow validation: longer epochs so that it stays ~10%; the budget is still filled, not left half used
  const v = scheduleFor({ budgetSeconds: 1800, stepSeconds: 5, validationSeconds: 87, batch: 2 });
  assert.equal(v.epochs, 2);
  assert.ok(v.steps * 5 + v.epochs * 87 <= 1800 && v.steps * 5 + v.epochs * 87 > 1700, `${v.steps} steps`);
});

test('time budgets as people write them', () => {
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('2h30m'), 9000);
  assert.equal(parseDuration('1.5h'), 5400);
  assert.equal(parseDuration('90s'), 90);
  assert.throws(() => parseDuration('soon'), /expected a duration such as 30m/);
  assert.throws(() => parseDuration('0m'), /expected a duration/);
});
