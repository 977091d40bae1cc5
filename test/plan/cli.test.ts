// `unetpp plan` (JSON, table, the cache that makes a second plan instant) and `unetpp train`
// planning by itself, an explicit flag overriding one item. Native backend (timed steps), else skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import type { DatasetPlan } from '../../src/io/dataset-plan.js';
import { writeFolderSet, type CaseSpec } from './datasets.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
const native = nativeAvailable();
const skip = native.ok ? false : `native backend unavailable (${native.reason})`;
// equal cases whose median is a valid patch (16 x 24 x 24, two poolings): no padding needed
const CASES: CaseSpec[] = (['train', 'train', 'train', 'val', 'test'] as const).map((split) => ({ dims: [24, 24, 16], spacing: [1, 1, 1], split }));

test('unetpp plan: JSON and table; a second plan reads the fingerprint and the step time from the cache', { skip }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'unetpp-plancli-'));
  try {
    await writeFolderSet(join(tmp, 'data'), CASES);
    const out = join(tmp, 'p', 'plan.json');
    // an hour: no patch is shrunk for time, whatever the load
    const r = cli(['plan', '-d', join(tmp, 'data'), '-o', out, '--time-budget', '1h', '--max-memory', '2G']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^patch\s+16x24x24 \(DxHxW\)$/m);
    assert.match(r.stdout, /^step time\s+[\d.]+ s \(CPU [\d.]+ s; measured, native/m);
    assert.match(r.stdout, /^schedule\s+1h: \d+ steps = \d+ epochs x \d+ steps/m);
    assert.match(r.stderr, /fingerprint computed/);
    const plan = JSON.parse(readFileSync(out, 'utf8')) as DatasetPlan;
    assert.deepEqual(plan.patch, [16, 24, 24]);
    assert.equal(plan.time.source, 'measured');
    assert.ok(plan.time.stepMs > 0 && plan.time.steps > 0);
    assert.equal(plan.memory.budgetBytes, 2 * 2 ** 30);
    assert.ok(existsSync(join(tmp, 'p', 'plan.fingerprint.json')));

    const t0 = Date.now();
    const again = cli(['plan', '-d', join(tmp, 'data'), '-o', out, '--time-budget', '1h', '--max-memory', '2G', '--json']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /fingerprint from the cache/);
    const cached = JSON.parse(again.stdout) as DatasetPlan;
    assert.equal(cached.time.source, 'cached');
    assert.equal(cached.time.stepMs, plan.time.stepMs);
    assert.ok(Date.now() - t0 < 15000, `second plan took ${Date.now() - t0} ms`);

    const bad = cli(['plan', '-d', join(tmp, 'data'), '--time-budget', 'soon']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--time-budget.*expected a duration such as 30m/);
  } finally { await rm(tmp, { recursive: true, force: true }); }
});

test('unetpp train plans when tuning flags are absent, saves the plan, and a flag overrides its item', { skip }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'unetpp-plantrain-'));
  try {
    await writeFolderSet(join(tmp, 'data'), CASES);
    const run = join(tmp, 'run');
    // a budget no machine load can bring under the time rules (no patch shrunk for time); --epochs and
    // --samples-per-epoch keep the run short
    // --optimizer other than the plan's: its own default lr, the plan's schedule
    const r = cli(['train', '-d', join(tmp, 'data'), '-o', run, '--time-budget', '10h', '--batch-size', '3', '--epochs', '2',
      '--samples-per-epoch', '12', '--optimizer', 'sgd', '--no-progress', '--no-plot']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /given on the command line instead: batchSize, epochs, optimizer$/m);
    // the run follows the saved plan (16 or 32 filters at the top, as the timing decided)
    const plan = JSON.parse(readFileSync(join(run, 'plan.json'), 'utf8')) as DatasetPlan;
    assert.deepEqual(plan.patch, [16, 24, 24]);
    assert.equal(plan.network.depth, 2);
    assert.match(r.stdout, new RegExp(`training 3D unetpp .*instance norm, filters ${plan.network.filters.join(',')}, .* patch 16x24x24`));
    assert.match(r.stdout, /done: 2 epochs \(epochs\)/);
    const recipe = plan.training.recipe;
    assert.ok(recipe && recipe.optimizer !== 'sgd', 'a 3D plan has a recipe (not SGD, or this check needs another optimiser)');
    assert.match(r.stdout, new RegExp(`^optimiser sgd, lr 0.0003, ${recipe.schedule} schedule( after \\d+% of the run)?, momentum 0.9$`, 'm'));
    // the saved plan followed with no tuning flag: its whole recipe
    const again = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'again'), '--plan', join(run, 'plan.json'),
      '--epochs', '1', '--samples-per-epoch', '4', '--no-progress', '--no-plot', '--tta']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /given on the command line instead: epochs, tta$/m);
    assert.match(again.stdout, /predict, eval and serve average the 8 flips of this model by default/);
    assert.equal(readCheckpointMeta(join(tmp, 'again', 'best.safetensors')).meta.tta, true);
    assert.match(again.stdout, new RegExp(`^optimiser ${recipe.optimizer}, lr ${recipe.lr}, ${recipe.schedule} schedule`, 'm'));
    const { meta } = readCheckpointMeta(join(run, 'best.safetensors'));
    assert.deepEqual(meta.plan?.patch, [16, 24, 24]);
    // volumes: the plan's one pass, recorded for predict / eval / serve
    assert.equal(plan.inference?.tta, false);
    assert.match(r.stdout, /^inference +one pass \(8 flips: /m);
    assert.equal(meta.tta, false);
    assert.doesNotMatch(r.stdout, /average the 8 flips/);
    assert.deepEqual(meta.window, [16, 24, 24]);

    // --no-plan: the fixed defaults (patch 64, the cases padded to it)
    const off = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'off'), '--no-plan', '--epochs', '1', '--samples-per-epoch', '2',
      '--filters', '4,8', '--no-progress', '--no-plot']);
    assert.equal(off.status, 0, off.stderr);
    assert.doesNotMatch(off.stdout, /planning/);
    assert.match(off.stdout, /patch 64x64x64/);
    assert.match(off.stdout, /^optimiser adam, lr 0.0003, constant schedule$/m);
    assert.ok(!existsSync(join(tmp, 'off', 'plan.json')));
    assert.equal(readCheckpointMeta(join(tmp, 'off', 'best.safetensors')).meta.tta, undefined);
  } finally { await rm(tmp, { recursive: true, force: true }); }
});

test('thick slices: the plan pools in-plane first with 1x3x3 kernels, train builds both, and predict pads per axis', { skip }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'unetpp-planpools-'));
  try {
    // 4 mm slices against 1 mm pixels: D pools later than H and W (nnU-Net's 1x2x2)
    const cases: CaseSpec[] = (['train', 'train', 'val', 'test'] as const).map((split) => ({ dims: [40, 40, 10], spacing: [1, 1, 4], split }));
    await writeFolderSet(join(tmp, 'data'), cases);
    const run = join(tmp, 'run');
    const r = cli(['train', '-d', join(tmp, 'data'), '-o', run, '--time-budget', '10h', '--epochs', '1', '--samples-per-epoch', '4',
      '--no-progress', '--no-plot']);
    assert.equal(r.status, 0, r.stderr);
    const plan = JSON.parse(readFileSync(join(run, 'plan.json'), 'utf8')) as DatasetPlan;
    assert.equal(plan.network.pooling, 'as planned');
    assert.deepEqual(plan.network.pools?.[0], [1, 2, 2]);
    assert.ok(plan.network.pools!.some((f) => f[0] === 2), JSON.stringify(plan.network.pools));
    // 4 mm against 1 mm: the top level convolves in-plane only (the rules' kernels, built)
    assert.deepEqual(plan.network.kernels?.[0], [1, 3, 3]);
    assert.deepEqual(plan.network.kernels, plan.network.kernelPerAxis);
    assert.deepEqual(plan.network.kernels?.at(-1), [3, 3, 3]);
    const text = plan.network.pools!.map((f) => f.join('x')).join(',');
    const ktext = plan.network.kernels!.map((k) => k.join('x')).join(',');
    assert.match(r.stdout, new RegExp(`training 3D unetpp .*, pools ${text}, kernels ${ktext}, `));
    assert.match(r.stdout, /^network .*; kernels 1x3x3, /m);
    assert.doesNotMatch(r.stdout, /not built/);
    const { meta } = readCheckpointMeta(join(run, 'best.safetensors'));
    assert.deepEqual(meta.model.pools, plan.network.pools);
    assert.deepEqual(meta.model.kernels, plan.network.kernels);
    // a case of another size: padded per axis to the model's multiples, cropped back
    const out = join(tmp, 'pred.nii.gz');
    const p = cli(['predict', join(tmp, 'data', 'images', 'case3.nii.gz'), '-m', join(run, 'best.safetensors'), '-o', out]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(existsSync(out));
    // the flag: named in its error
    const bad = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'bad'), '--no-plan', '--filters', '4,8,16', '--pools', '1x2x2']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /pools: needs 2 levels/);
    const worse = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'bad'), '--pools', '1x3x2']);
    assert.match(worse.stderr, /option '--pools <list>' argument '1x3x2' is invalid/);
    const kbad = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'bad'), '--no-plan', '--filters', '4,8,16', '--kernels', '1x3x3,3x3x3']);
    assert.notEqual(kbad.status, 0);
    assert.match(kbad.stderr, /--kernels: needs 3 levels \(0\.\.2, one per level of filters\)/);
    const kworse = cli(['train', '-d', join(tmp, 'data'), '-o', join(tmp, 'bad'), '--kernels', '1x2x3']);
    assert.match(kworse.stderr, /option '--kernels <list>' argument '1x2x3' is invalid. expected kernel sizes DxHxW of 1 or 3/);
    // info: the kernels given, counted and printed
    const info = cli(['info', '--dims', '3', '--filters', '4,8,16', '--kernels', '1x3x3,1x3x3,3x3x3', '--size', '16']);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^3D UNet\+\+ L2, preset bn, filters 4,8,16, kernels 1x3x3,1x3x3,3x3x3, /);
    const infoBad = cli(['info', '--dims', '3', '--filters', '4,8', '--kernels', '1x3x3']);
    assert.match(infoBad.stderr, /--kernels: needs 2 levels/);
  } finally { await rm(tmp, { recursive: true, force: true }); }
});
