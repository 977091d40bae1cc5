// How the paper-table experiment configures a unit: the dataset's plan plus only the model flags,
// the seeds and the plan's own epochs (a fixed step budget). Pure functions on a real plan
// (test/fixtures/paper-table-plan.json), then what `unetpp train` makes of those flags: the plan's
// items, its steps per epoch, and no wall-clock limit. No training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { trainCommand } from '../../src/cli/commands/train.js';
import { applyConfig } from '../../src/cli/common.js';
import { planForTraining } from '../../src/cli/plan-train.js';
import type { DatasetPlan } from '../../src/plan/index.js';
import { SegModel } from '../../src/models/model.js';
import { UNIT_FLAG_KEYS, modelFlags, unitFlags, unitModelConfig } from '../../experiments/paper-table/recipe.js';
import { MODELS, SMOKE, wideFilters } from '../../experiments/paper-table/settings.js';
import { datasetFolder } from '../../experiments/paper-table/data.js';
import { loadFolder } from '../../src/data/images/folder.js';
import { sharedData } from '../data/util.js';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
const tmp = (name: string) => { const d = mkdtempSync(join(tmpdir(), `unetpp-${name}-`)); made.push(d); return d; };

const FIXTURE = 'test/fixtures/paper-table-plan.json';
const plan = JSON.parse(readFileSync(FIXTURE, 'utf8')) as DatasetPlan;
const MODEL_KEYS = ['arch', 'filters', 'deepSupervision', 'seed', 'modelSeed'];

test('a unit is the plan plus only model and seed flags, and the plan\'s epochs for every model', () => {
  assert.ok(plan.time.epochs > 0 && plan.time.stepsPerEpoch > 0, 'the fixture has a schedule');
  for (const seed of [0, 3]) {
    const all = MODELS.map((m) => unitFlags(plan, '/w/dsb2018/plan.json', m, seed));
    for (const f of all) {
      assert.deepEqual(Object.keys(f).filter((k) => !UNIT_FLAG_KEYS.includes(k)), []);
      const shared = Object.fromEntries(Object.entries(f).filter(([k]) => !MODEL_KEYS.includes(k)));
      assert.deepEqual(shared, { plan: '/w/dsb2018/plan.json', epochs: plan.time.epochs }, 'the same plan and step budget');
      assert.deepEqual([f.seed, f.modelSeed], [seed, seed]);
    }
    const [unet, wide, upp, ds] = all;
    assert.deepEqual([unet.arch, wide.arch, upp.arch, ds.arch], ['unet', 'unet', 'unetpp', 'unetpp']);
    assert.deepEqual([unet.filters, upp.filters, ds.filters], [undefined, undefined, undefined], 'the plan\'s filters');
    assert.equal(wide.filters, wideFilters(plan.network.filters).join(','));
    assert.deepEqual([upp.deepSupervision, ds.deepSupervision], [false, true]);
  }
  assert.deepEqual(modelFlags('wide-unet', [16, 32], 1), { arch: 'unet', filters: '18,35', seed: 1, modelSeed: 1 });
  // smoke changes the step budget only
  const smoke = unitFlags(plan, 'p.json', 'unetpp-ds', 0, true);
  assert.deepEqual([smoke.epochs, smoke.samplesPerEpoch], [SMOKE.epochs, SMOKE.stepsPerEpoch * plan.batchSize]);
  const unscheduled = { ...plan, time: { ...plan.time, epochs: 0, stepsPerEpoch: 0 } };
  assert.throws(() => unitFlags(unscheduled, 'p.json', 'unet', 0), /p\.json: the plan has no schedule/);
});

test('the networks the unit flags build on the plan: UNet++ as planned, wide U-Net about its parameters', () => {
  const params = (m: (typeof MODELS)[number]) =>
    new SegModel(unitModelConfig(plan, unitFlags(plan, 'p.json', m, 0))).params.count();
  assert.equal(params('unetpp-ds'), plan.network.params, 'the plan\'s own network');
  assert.ok(Math.abs(params('wide-unet') / params('unetpp') - 1) < 0.1, 'wide U-Net within 10% of UNet++');
  assert.ok(params('unet') < params('wide-unet'));
});

test('unetpp train with a unit\'s flags: the plan\'s items and steps per epoch, its epochs, no time limit', async () => {
  const dir = tmp('paper-table-recipe');
  const planFile = join(dir, 'plan.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const log = console.log;
  for (const m of MODELS) {
    const flags = unitFlags(plan, planFile, m, 2);
    writeFileSync(join(dir, 'train.json'), JSON.stringify(flags));
    const cmd = trainCommand().exitOverride();
    let used: Record<string, any> = {};
    cmd.action(async (_opts, c) => {
      applyConfig(c); // as the runner passes them: --config train.json
      used = await planForTraining(dir, c.opts(), c);
    });
    console.log = () => {};
    try {
      await cmd.parseAsync(['-d', dir, '-o', join(dir, m), '--config', join(dir, 'train.json')], { from: 'user' });
    } finally {
      console.log = log;
    }
    assert.equal(used.epochs, plan.time.epochs, `${m}: the plan's epochs`);
    assert.equal(used.samplesPerEpoch, plan.time.stepsPerEpoch * plan.batchSize, `${m}: the plan's steps per epoch`);
    assert.equal(used.timeLimit, undefined, `${m}: no wall-clock limit`);
    assert.ok(!used.fitEpochsToTime, `${m}: epochs are not refitted to time`);
    assert.deepEqual([used.batchSize, used.crop, used.norm, used.lr], [plan.batchSize, plan.patch, plan.network.norm,
      plan.training.recipe?.lr], `${m}: the plan's batch, patch, norm and learning rate`);
    assert.deepEqual(used.filters, m === 'wide-unet' ? wideFilters(plan.network.filters) : plan.network.filters);
    assert.equal(used.earlyStop, false, 'no early stopping: every model trains the same steps');
  }
});

const isbi = join(sharedData, 'isbi2012-em');
test('ISBI 2012 as the runs see it: membranes as foreground, the fixed split; smoke: a few linked cases', {
  skip: existsSync(isbi) ? false : `${isbi} not found (real data lives outside the repo, in ../shared/data)`,
}, async () => {
  const work = tmp('paper-table-isbi');
  const dir = await datasetFolder(sharedData, work, 'isbi2012-em', true);
  assert.equal(dir, join(work, 'data', 'isbi2012-em-smoke'));
  const full = join(work, 'data', 'isbi2012-em');
  const rows = readFileSync(join(full, 'split.csv'), 'utf8').trim().split('\n').slice(1);
  const split = (id: string) => rows.find((r) => r.startsWith(`${id},`))?.split(',')[1];
  assert.deepEqual([rows.length, split('em_00'), split('em_19'), split('em_20'), split('em_23'), split('em_24'), split('em_29')],
    [30, 'train', 'train', 'val', 'val', 'test', 'test']);
  const { samples } = await loadFolder(dir, {});
  assert.deepEqual(['train', 'val', 'test'].map((sp) => samples.filter((x) => x.split === sp).length),
    [SMOKE.subset['isbi2012-em'].train, SMOKE.subset['isbi2012-em'].val, SMOKE.subset['isbi2012-em'].test]);
  const fg = samples[0].mask.data.reduce((a, b) => a + b, 0) / samples[0].mask.data.length;
  assert.ok(fg > 0.1 && fg < 0.35, `membranes are ~22% of the pixels, got ${fg}`);
  assert.ok(!readdirSync(join(work, 'data')).some((f) => f.endsWith('.partial')), 'no half-built folder left');
  assert.equal(await datasetFolder(sharedData, work, 'isbi2012-em', false), full, 'built once, then reused');
});
