// The paper-table runner in smoke mode on the real Hippocampus data (../shared/data): the dataset
// is planned once by `unetpp plan`, every model's unit trains with that plan plus only its model
// and seed flags, the result files hold per-case scores and the plan's facts, the report has
// every table, a re-run skips finished units, an interrupted one needs --resume, and a spent time
// budget starts nothing. About a minute on one busy core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { SegModel } from '../../src/models/model.js';
import type { DatasetPlan } from '../../src/plan/index.js';
import { main } from '../../experiments/paper-table/run.js';
import { readSeedRuns, seedRunFile } from '../../experiments/paper-table/results.js';
import { UNIT_FLAG_KEYS, unitModelConfig } from '../../experiments/paper-table/recipe.js';
import { MODELS, MODEL_LABELS, SMOKE } from '../../experiments/paper-table/settings.js';
import { sharedData } from '../data/util.js';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
/** A fresh temp folder, removed when the test process exits. */
const tmp = (name: string) => { const d = mkdtempSync(join(tmpdir(), `unetpp-${name}-`)); made.push(d); return d; };

const native = nativeAvailable();
const DS = 'hippocampus-msd';
const skip = !existsSync(join(sharedData, DS)) ? `${join(sharedData, DS)} not found (real data lives outside the repo, in ../shared/data)`
  : !native.ok ? `native backend unavailable (${native.reason}): the smoke run would take too long on the reference backend`
    : false;

const inUnit = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;

const title = 'paper-table --smoke on Hippocampus: one plan, four units, per-case result files, pruning, the report; skip, --resume';
test(title, { skip, timeout: 900_000 }, async () => {
  const work = tmp('paper-table');
  const args = ['--smoke', '--work', work, '--data', sharedData, '--quiet', '--datasets', DS];
  const r = (await main(args))!;
  assert.deepEqual(Object.values(r.outcomes), Array(4).fill('finished'), JSON.stringify(r.outcomes));
  assert.equal(r.results, join(work, 'results'), 'smoke results stay out of the repo');
  const plan = JSON.parse(readFileSync(join(work, DS, 'plan.json'), 'utf8')) as DatasetPlan;
  assert.equal(plan.created.timeBudget, SMOKE.planBudget);
  assert.deepEqual(JSON.parse(readFileSync(join(r.results, DS, 'plan.json'), 'utf8')), plan, 'the plan beside the results');

  const runs = readSeedRuns(r.results);
  assert.equal(runs.length, 4);
  const n = SMOKE.subset[DS].test;
  for (const res of runs) {
    const m = res.model, what = `${DS}-${m}`;
    assert.ok(statSync(join(r.results, seedRunFile(DS, m, 0))).size < 20_000, 'result file < 20 KB');
    assert.deepEqual([res.schema, res.seed, res.smoke, res.engine], [2, 0, true, 'plan']);
    const flags = res.settings.flags as Record<string, string | number | boolean>;
    assert.deepEqual(Object.keys(flags).filter((x) => !UNIT_FLAG_KEYS.includes(x)), [], `${what}: only plan, step, model and seed flags`);
    assert.equal(flags.plan, join(work, DS, 'plan.json'));
    const facts = res.settings.plan as { patch: number[]; filters: number[]; batchSize: number; made: string };
    assert.deepEqual([facts.patch, facts.filters, facts.batchSize, facts.made],
      [plan.patch, plan.network.filters, plan.batchSize, plan.created.at], `${what}: the plan's facts`);
    const full = new SegModel(unitModelConfig(plan, flags));
    assert.equal(res.params, full.params.count(), `${what} params`);
    assert.deepEqual([res.config.dims, res.config.arch, res.config.deepSupervision],
      [3, m.startsWith('unetpp') ? 'unetpp' : 'unet', m === 'unetpp-ds']);
    assert.ok(res.test.ids.length === n && res.test.dice.length === n && res.test.iou.length === n, `${what}: ${n} test cases`);
    assert.ok(res.test.dice.every(inUnit) && res.test.iou.every(inUnit), `${what} scores ${JSON.stringify(res.test)}`);
    res.test.dice.forEach((d, i) => assert.ok(d >= res.test.iou[i] - 1e-5, 'Dice >= IoU per case'));
    assert.deepEqual(Object.keys(res.test.perClass ?? {}), ['Anterior', 'Posterior'], 'class names from dataset.json');
    assert.ok(res.timing.msBatch1 > 0 && res.timing.msBatched > 0, `${what} timing`);
    // forward per median case; training per step of the plan's batch of patches (smoke: patches far smaller)
    assert.ok(res.gflops > 0 && res.trainGflopsPerStep > 0, `${what} FLOPs`);
    assert.ok(res.training.epochs === SMOKE.epochs && res.training.seconds >= 0);
    assert.equal(res.curves.epoch.length, res.training.epochs);
    assert.ok(res.machine.cores > 0 && res.date && res.command.includes('--smoke'));
    if (m !== 'unetpp-ds') { assert.equal(res.pruning, undefined); continue; }
    const depth = plan.network.depth;
    assert.deepEqual(res.pruning!.map((x) => x.level), [...Array.from({ length: depth }, (_, i) => i + 1), 'accurate']);
    for (const row of res.pruning!) {
      const want = row.level === 'accurate' ? full.params.count() : full.prune(row.level).params.count();
      assert.equal(row.params, want, `L${row.level} params`);
      assert.ok(row.timing.msBatch1 > 0 && row.gflops > 0 && row.dice.length === n && row.dice.every(inUnit));
    }
    assert.deepEqual(res.pruning![depth].dice, res.test.dice, 'accurate row = the run\'s test scores');
  }

  const md = readFileSync(r.report, 'utf8');
  assert.match(md, /^4 of 12 planned runs finished/m, 'the report expects every dataset; this run made one');
  for (const m of MODELS) assert.equal(md.split('\n').filter((l) => l.startsWith(`| ${MODEL_LABELS[m]} | 0 |`)).length, 1, m);
  assert.equal(md.split('\n').filter((l) => /^\| hippocampus-msd \| UNet\+\+ \(DS\) − /.test(l)).length, 4);
  assert.match(md, new RegExp(`^- ${DS}: .*\\. Plan for ${SMOKE.planBudget} made `, 'm'));
  assert.match(md, /Smoke runs/);
  for (const f of ['seeds-pruning-dice.png', 'seeds-pruning-ms.png']) assert.ok(existsSync(join(work, 'report', f)), f);

  // finished units are skipped on a re-run (and nothing is planned again)
  const again = (await main(args))!;
  assert.deepEqual(Object.values(again.outcomes), Array(4).fill('skipped'));

  // a unit with a checkpoint but no result is interrupted: an error without --resume, continued with it
  rmSync(join(work, DS, 'unet-seed0', 'result.json'));
  await assert.rejects(main([...args, '--models', 'unet']), /interrupted mid-way.*--resume/);
  const resumed = (await main([...args, '--models', 'unet', '--resume']))!;
  assert.deepEqual(resumed.outcomes, { [`${DS}/unet-seed0`]: 'finished' });
  const hip = readSeedRuns(resumed.results).find((x) => x.model === 'unet')!;
  assert.ok(hip.training.stepMs !== null && hip.training.stepMs > 0, 'the step time of the invocation that trained');
});

test('paper-table: a spent time budget starts nothing (not even a plan); the report shows pending rows', { skip: native.ok ? false : native.reason }, async () => {
  const work = tmp('paper-table-budget');
  const r = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet', '--time-budget', '0.001']))!;
  assert.deepEqual(Object.values(r.outcomes), Array(12).fill('stopped'));
  assert.ok(!existsSync(join(work, DS, 'plan.json')));
  const md = readFileSync(r.report, 'utf8');
  assert.match(md, /^0 of 12 planned runs finished/m);
  assert.equal(md.split('\n').filter((l) => l.startsWith('| U-Net | pending')).length, 3);
});
