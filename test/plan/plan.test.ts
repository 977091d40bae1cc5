// Fingerprints and plans of small synthetic datasets with known shapes, spacings and anisotropy
// (timings stand in for the timed steps, so the rules' choices are exact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintDataset, derivePlan, planTable, type VolumeFingerprint, type ImageFingerprint } from '../../src/plan/index.js';
import { writeSynthetic } from '../../src/data/images/synthetic.js';
import { labelAt, writeCtMriSet, writeFolderSet, fakeMeasure, type CaseSpec } from './datasets.js';
import { tileLayout } from '../../src/infer/tiles.js';
import { bf16Support } from '../../src/engine/backends/native.js';
import type { ProbeResult, ProbeSpec } from '../../src/plan/step-probe.js';
import { SegModel } from '../../src/models/model.js';

const tmp = () => mkdtemp(join(tmpdir(), 'unetpp-plan-'));
const GiB = 2 ** 30;

const ISO: CaseSpec[] = [
  { dims: [30, 40, 20], spacing: [1, 1, 1], split: 'train' },
  { dims: [34, 44, 24], spacing: [0.9, 1, 1.2], split: 'train' },
  { dims: [32, 42, 22], spacing: [1.1, 1, 1], split: 'train' },
  { dims: [28, 38, 26], spacing: [1, 0.8, 1], split: 'val' },
  { dims: [36, 46, 20], spacing: [1, 1.1, 0.9], split: 'test' },
];

test('volume fingerprint: shapes, spacings, crop box, label frequencies, foreground intensities; cached until a file changes', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO);
    const { fingerprint, cached } = await fingerprintDataset(dir);
    assert.equal(cached, false);
    const fp = fingerprint as VolumeFingerprint;
    assert.equal(fp.kind, 'volume');
    assert.deepEqual(fp.cases.map((c) => c.shape), ISO.map((c) => c.dims));
    assert.deepEqual(fp.cases.map((c) => c.spacing), ISO.map((c) => c.spacing));
    assert.deepEqual(fp.cases.map((c) => c.split), ISO.map((c) => c.split));
    const c0 = fp.cases[0];
    assert.deepEqual(c0.cropShape, c0.shape); // background 10, not 0: nothing to crop
    assert.equal(c0.cropFraction, 1);
    // label counts: exactly the ellipsoid's voxels
    const [X, Y, Z] = ISO[0].dims;
    const want = new Map<number, number>();
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) { const v = labelAt(ISO[0].dims)(x, y, z); want.set(v, (want.get(v) ?? 0) + 1); }
    assert.deepEqual(c0.labelCounts, Object.fromEntries([...want].sort((a, b) => a[0] - b[0]).map(([v, n]) => [String(v), n])));
    // foreground intensity 100 + x, x in the middle half of the axis
    const s = c0.intensity[0]!;
    assert.equal(s.samples, want.get(1)! + want.get(2)!);
    assert.ok(s.min >= 100 + X / 4 && s.max <= 100 + (3 * X) / 4, `${s.min}..${s.max}`);
    assert.ok(Math.abs(s.mean - (100 + X / 2)) < 1, `${s.mean}`);
    assert.ok(s.p00_5 <= s.median && s.median <= s.p99_5);
    assert.ok(fp.intensity[0]!.samples > 0);

    const again = await fingerprintDataset(dir, { cached: fp });
    assert.equal(again.cached, true);
    await utimes(join(dir, 'images', 'case2.nii.gz'), new Date(), new Date(Date.now() + 5000));
    assert.equal((await fingerprintDataset(dir, { cached: fp })).cached, false);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('plan of an isotropic set: median spacing, patch from the median case (multiples of 2^depth), batch and normalisation rules', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO);
    const { fingerprint } = await fingerprintDataset(dir);
    const p = await derivePlan(fingerprint, { timeBudgetSeconds: 3600, maxMemory: 4 * GiB, measureFn: fakeMeasure(50) });
    // planned from train + val (test held out): spacings x 1 0.9 1.1 1, y 1 1 1 0.8, z 1 1.2 1 1
    assert.equal(p.dataset.planned, 4);
    assert.deepEqual(p.spacing, [1, 1, 1]);
    assert.equal(p.spacingRule, 'median');
    assert.equal(p.cropToNonzero, false);
    assert.deepEqual(p.normalize, ['zscore']);
    assert.equal(p.dims, 3);
    assert.equal(p.patch.length, 3);
    const ms = p.network.poolPerAxis.reduce((acc, f) => acc.map((v, k) => v * f[k]), [1, 1, 1]);
    for (const [i, v] of p.patch.entries()) {
      const m = ms[i];
      assert.equal(v % m, 0, `patch ${p.patch} axis ${i}`);
      assert.ok(v >= p.medianShape[i] && v < p.medianShape[i] + m, `patch ${p.patch} vs median ${p.medianShape}`); // the median case, rounded up
    }
    // median 24 x 41 x 31: D pools twice (24 -> 12 -> 6), H and W three times: the model pools per axis (nnU-Net's
    // [1, 2, 2] at the level where D is too short), three levels, each axis a multiple of its own 2^pools
    const pools = p.network.poolPerAxis[0].map((_, k) => p.network.poolPerAxis.filter((l) => l[k] === 2).length);
    assert.deepEqual(p.medianShape, [24, 41, 31]);
    assert.deepEqual(pools, [2, 3, 3]);
    assert.equal(p.network.pooling, 'as planned');
    assert.deepEqual(p.network.pools, [[2, 2, 2], [2, 2, 2], [1, 2, 2]]);
    assert.equal(p.network.depth, 3);
    assert.deepEqual(p.patch, [24, 48, 32]);
    assert.deepEqual(p.network.filters, [32, 64, 128, 256]);
    // batch: >= 2 and at most 5% of the dataset's voxels (tiny here, so 2)
    assert.equal(p.batchSize, 2);
    assert.match(p.notes.join('\n'), /batch 2: the minimum \(5% of the dataset/);
    // 50 ms at batch 2 with 16 filters -> 200 ms with 32: 18000 steps in the hour (>= MIN_STEPS: 32 filters)
    assert.equal(p.time.stepMs, 200);
    assert.ok(p.time.steps > 16000 && p.time.steps <= 18000, `${p.time.steps}`);
    assert.equal(p.time.samplesPerEpoch, p.time.stepsPerEpoch * 2);
    assert.ok(p.training.timeLimitSeconds < 3600);
    assert.ok(p.memory.step.total > p.memory.step.arena && p.memory.step.total < 4 * GiB);
    assert.match(planTable(p), /patch\s+\d+x\d+x\d+ \(DxHxW\)/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('plan of an anisotropic set: 10th-percentile spacing on the coarse axis, fewer poolings there, pooled per axis', async () => {
  const dir = await tmp();
  try {
    const zs = [5, 4, 6, 3.5, 5];
    await writeFolderSet(dir, zs.map((z, i) => ({ dims: [64, 64, 12], spacing: [1, 1, z], split: i === 4 ? 'val' : 'train' })));
    const { fingerprint } = await fingerprintDataset(dir);
    const p = await derivePlan(fingerprint, { timeBudgetSeconds: 3600, maxMemory: 6 * GiB, measureFn: fakeMeasure(100) });
    assert.deepEqual(p.spacing, [1, 1, 3.7]);
    assert.match(p.spacingRule!, /axis z .*10th percentile/);
    // the median case at 3.7 mm: z 12 * 5 / 3.7 = 16 slices; in-plane 64
    assert.deepEqual(p.medianShape, [16, 64, 64]);
    const pools = p.network.poolPerAxis[0].map((_, k) => p.network.poolPerAxis.filter((l) => l[k] === 2).length);
    assert.ok(pools[0] < pools[1] && pools[1] === pools[2], `pools ${pools}`);
    assert.deepEqual(p.network.kernelPerAxis[0], [1, 3, 3]); // z is > 2x coarser at the top level
    assert.deepEqual(p.network.poolPerAxis[0], [1, 2, 2]);
    assert.equal(p.network.pooling, 'as planned');
    assert.deepEqual(p.network.pools, p.network.poolPerAxis);
    assert.equal(p.network.depth, pools[1]);
    assert.match(p.notes.join('\n'), /per-axis pooling: 1x2x2, 2x2x2, .*; kernels 1x3x3, /);
    assert.doesNotMatch(p.notes.join('\n'), /not built/);
    assert.match(planTable(p), /pooling 1x2x2, 2x2x2, .* \(DxHxW\); kernels 1x3x3, /);
    // the model is built with the rules' kernels (its params counted with them)
    assert.deepEqual(p.network.kernels, p.network.kernelPerAxis);
    assert.equal(p.network.params, new SegModel({ dims: 3, filters: p.network.filters, inChannels: 1, classes: p.dataset.classes.length,
      deepSupervision: true, pools: p.network.pools, kernels: p.network.kernels }).params.count());
    // the patch keeps the aspect ratio of the spacing: 16 slices of 3.7 mm against 64 pixels of 1 mm
    assert.deepEqual(p.patch, [16, 64, 64]);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('normalisation: CT by modality name with dataset statistics; MRI z-score in the non-zero mask when cropping helped', async () => {
  const dir = await tmp();
  try {
    const cases: CaseSpec[] = [0, 1, 2, 3].map((i) => ({ dims: [32, 32, 32], spacing: [1, 1, 1], split: i < 3 ? 'train' : 'val' }));
    await writeCtMriSet(dir, cases, 7); // a zero border of 7: the box keeps (18/32)^3 = 18% of a case
    const { fingerprint } = await fingerprintDataset(dir);
    const fp = fingerprint as VolumeFingerprint;
    assert.deepEqual(fp.modalities, ['CT', 'T1']);
    assert.deepEqual(fp.cases[0].cropShape, [18, 18, 18]);
    const p = await derivePlan(fp, { timeBudgetSeconds: 1800, maxMemory: 4 * GiB, measureFn: fakeMeasure(100) });
    assert.equal(p.cropToNonzero, true);
    assert.deepEqual(p.normalize, ['ct', 'mri']);
    // CT: the foreground's 0.5 / 99.5 percentiles (-1000 + 100 + x) and its mean
    const ct = p.ct![0]!;
    assert.ok(ct.lo >= -900 + 8 && ct.hi <= -900 + 24 && ct.lo < ct.hi, JSON.stringify(ct));
    assert.ok(Math.abs(ct.mean - (-900 + 16)) < 1, JSON.stringify(ct));
    assert.equal(p.ct![1], null);
    assert.deepEqual(p.dataset.classes, ['background', 'lower', 'upper']);
    // cropped cases: the median case is the box
    assert.deepEqual(p.medianShape, [18, 18, 18]);
    assert.match(planTable(p), /normalise\s+CT: ct, T1: mri/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('2D: image sizes, channels and class frequencies; the patch from the median image; z-score per image', async () => {
  const dir = await tmp();
  try {
    await writeSynthetic(dir, { count: 12, width: 72, height: 40, channels: 1, seed: 1, splitFractions: [0.6, 0.2, 0.2] });
    const { fingerprint } = await fingerprintDataset(dir);
    const fp = fingerprint as ImageFingerprint;
    assert.equal(fp.kind, 'image');
    assert.equal(fp.cases.length, 12);
    assert.ok(fp.cases.every((c) => c.width === 72 && c.height === 40 && c.channels === 1));
    assert.ok(fp.cases.every((c) => c.classFractions[0] > 0 && c.classFractions[0] < 1));
    const p = await derivePlan(fp, { timeBudgetSeconds: 600, maxMemory: 4 * GiB, measureFn: fakeMeasure(50) });
    assert.equal(p.dims, 2);
    assert.equal(p.kind, 'image');
    assert.deepEqual(p.medianShape, [40, 72]);
    // 40 -> 20 -> 10 -> 5 and 72 -> 36 -> 18 -> 9: three poolings each (a lone axis pools on only from 12)
    assert.deepEqual(p.patch, [40, 72]);
    assert.equal(p.network.pooling, 'as planned');
    assert.equal(p.network.depth, 3);
    assert.equal(p.normalize, 'zscore');
    assert.equal(p.foregroundFraction, undefined);
    assert.equal(p.network.norm, 'instance');
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('2D validation time: windows over each validation image as it is, not the median image', async () => {
  const dir = await tmp();
  try {
    await writeSynthetic(dir, { count: 20, width: 72, height: 40, channels: 1, seed: 1, splitFractions: [0.6, 0.2, 0.2] });
    const fp = (await fingerprintDataset(dir)).fingerprint as ImageFingerprint;
    const withVal = (sizes: number[][]) => {
      const cases = fp.cases.map((c) => ({ ...c }));
      cases.filter((c) => c.split === 'val').forEach((c, i) => { [c.height, c.width] = sizes[i % sizes.length]; });
      return { ...fp, cases };
    };
    const val = fp.cases.filter((c) => c.split === 'val').length;
    assert.ok(val >= 3, `${val} validation images`);
    const stepMs = 60, validationMs = stepMs / 3; // fakeMeasure's validation run
    const planOf = (sizes: number[][]) =>
      derivePlan(withVal(sizes), { timeBudgetSeconds: 600, maxMemory: 4 * GiB, measureFn: fakeMeasure(stepMs) });
    const near = await planOf([[40, 72], [41, 72], [42, 72]]); // three sizes: validated in windows of the patch
    const far = await planOf([[40, 72], [41, 72], [400, 720]]);
    assert.match(far.notes.join('\n'), /validation runs in windows of the patch/);
    assert.deepEqual(far.patch, near.patch);
    const windows = (v: number[]) => tileLayout(v.map((x, k) => Math.max(x, far.patch[k])), far.patch, 0.25, 'linear').windows.length;
    const perRun = Math.min(4, windows(far.medianShape)); // the windows a timed validation run holds (up to 4)
    const runs = (sizes: number[][]) => sizes.reduce((n, v) => n + Math.ceil(windows(v) / perRun), 0);
    const sizesOf = (s: number[][]) => Array.from({ length: val }, (_, i) => s[i % s.length]);
    assert.equal(far.time.validationSeconds, +((runs(sizesOf([[40, 72], [41, 72], [400, 720]])) * validationMs) / 1000).toFixed(1));
    assert.ok(far.time.validationSeconds > 5 * near.time.validationSeconds, `${far.time.validationSeconds} vs ${near.time.validationSeconds}`);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a budget that buys < 250 steps: 16 filters, then a smaller patch, down to half per axis', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO);
    const { fingerprint } = await fingerprintDataset(dir);
    const roomy = await derivePlan(fingerprint, { timeBudgetSeconds: 3600, maxMemory: 4 * GiB, measureFn: fakeMeasure(100) });
    // 2 s a step (16 filters, batch 2): 60 steps in 2 minutes
    const p = await derivePlan(fingerprint, { timeBudgetSeconds: 120, maxMemory: 4 * GiB, measureFn: fakeMeasure(2000) });
    assert.deepEqual(p.network.filters.slice(0, 2), [16, 32]);
    assert.ok(p.patch.reduce((a, b) => a * b) < roomy.patch.reduce((a, b) => a * b), `${p.patch} vs ${roomy.patch}`);
    for (const [k, v] of p.patch.entries()) assert.ok(v >= roomy.patch[k] / 2, `${p.patch} vs ${roomy.patch}`);
    assert.match(p.notes.join('\n'), new RegExp(`patch shrunk from ${roomy.patch.join('x')} for the time budget`));
    assert.ok(p.time.steps >= 1 && p.time.epochs >= 1);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a plan says it was timed under load when other processes took the cores, not for its own probes', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO.slice(0, 3));
    const { fingerprint } = await fingerprintDataset(dir);
    const idle = await derivePlan(fingerprint, { timeBudgetSeconds: 3600, maxMemory: 4 * GiB, measureFn: fakeMeasure(100, 0.05) });
    assert.doesNotMatch(idle.notes.join('\n'), /under load/);
    const busy = await derivePlan(fingerprint, { timeBudgetSeconds: 3600, maxMemory: 4 * GiB, measureFn: fakeMeasure(100, 1.4) });
    assert.match(busy.notes.join('\n'), /timed under load \(other processes kept 1\.4 of \d+ cores busy\)/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('precision: bf16 where this CPU has it and the planned step is faster so; --precision fp32 plans float32', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO.slice(0, 3));
    const { fingerprint } = await fingerprintDataset(dir);
    const calls: (string | undefined)[] = [];
    // a native-looking probe whose bf16 step takes `share` of the float32 one
    const probe = (share: number) => async (spec: ProbeSpec): Promise<ProbeResult> => {
      calls.push(spec.precision);
      const r = await fakeMeasure(100)(spec);
      return { ...r, backend: 'native', stepMs: r.stepMs * (spec.precision === 'bf16' ? share : 1) };
    };
    const o = { timeBudgetSeconds: 3600, maxMemory: 4 * GiB };
    const fast = await derivePlan(fingerprint, { ...o, measureFn: probe(0.55) });
    const slow = await derivePlan(fingerprint, { ...o, measureFn: probe(0.95) });
    calls.length = 0;
    const fixed = await derivePlan(fingerprint, { ...o, measureFn: probe(0.55), precision: 'fp32' });
    assert.ok(!calls.includes('bf16'), 'no bf16 probe with --precision fp32');
    assert.equal(fixed.training.precision, undefined);
    if (!bf16Support().ok) {
      assert.equal(fast.training.precision, undefined);
      return;
    }
    // volumes stay float32 until bf16 training is measured on real volumes; images take it
    assert.equal(fast.training.precision?.value, 'fp32');
    assert.match(fast.training.precision!.why, /\(1\.82x\), but its Dice on real volumes is not measured yet/);
    assert.equal(slow.training.precision?.value, 'fp32');
    const img = await tmp();
    try {
      await writeSynthetic(img, { count: 12, width: 72, height: 40, channels: 1, seed: 1, splitFractions: [0.6, 0.2, 0.2] });
      const fp2 = (await fingerprintDataset(img)).fingerprint;
      const fast2 = await derivePlan(fp2, { ...o, measureFn: probe(0.55) }), slow2 = await derivePlan(fp2, { ...o, measureFn: probe(0.95) });
      assert.equal(fast2.training.precision?.value, 'bf16');
      assert.match(fast2.training.precision!.why, /^0\.\d+ s a step against 0\.\d+ s in fp32 \(1\.82x\)$/);
      // the schedule follows the bf16 step: more steps in the same budget
      assert.equal(fast2.time.stepMs, +(0.55 * slow2.time.stepMs).toFixed(1));
      assert.ok(fast2.time.steps > 1.6 * slow2.time.steps, `${fast2.time.steps} vs ${slow2.time.steps}`);
    } finally { await rm(img, { recursive: true, force: true }); }
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('the step probe measures what other processes take from the cores while it times', async () => {
  const { measureStep } = await import('../../src/plan/measure.js');
  const spec = { config: { dims: 2 as const, filters: [4, 8], inChannels: 1, classes: 1 }, batch: 1, patch: [16, 16],
    loss: { kind: 'bce_dice' as const, bceWeight: 0.5 }, backend: 'reference' as const, minSteps: 2, maxSteps: 2, maxSeconds: 1, validationWindows: 0 };
  const r = await measureStep(spec);
  if (process.platform === 'linux') assert.ok(typeof r.otherCores === 'number' && r.otherCores >= 0, `otherCores ${r.otherCores}`);
});

test('without timing: no schedule, and the plan says so', async () => {
  const dir = await tmp();
  try {
    await writeFolderSet(dir, ISO.slice(0, 3));
    const { fingerprint } = await fingerprintDataset(dir);
    const p = await derivePlan(fingerprint, { timeBudgetSeconds: 1800, maxMemory: 4 * GiB, measure: false });
    assert.equal(p.time.source, 'none');
    assert.equal(p.time.steps, 0);
    assert.match(p.notes.join('\n'), /no schedule \(--no-measure\)/);
    assert.match(planTable(p), /schedule\s+not timed/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
