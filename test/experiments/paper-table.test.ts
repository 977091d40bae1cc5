// The paper-table runner in smoke mode on the real data (../shared/data): every (dataset, model)
// unit of seed 0 finishes (images in-process, Hippocampus through the CLI), the result files hold
// per-case scores, the report has every table, a re-run skips finished units, an interrupted one
// needs --resume, and a spent time budget starts nothing. A few minutes on 2 busy cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { SegModel } from '../../src/models/model.js';
import { main } from '../../experiments/paper-table/run.js';
import { readSeedRuns, seedRunFile } from '../../experiments/paper-table/results.js';
import {
  CHANNELS, DATASETS, MODELS, MODEL_LABELS, SMOKE, isImageDataset, modelConfig,
} from '../../experiments/paper-table/settings.js';
import { sharedData } from '../data/util.js';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
/** A fresh temp folder, removed when the test process exits. */
const tmp = (name: string) => { const d = mkdtempSync(join(tmpdir(), `unetpp-${name}-`)); made.push(d); return d; };

const native = nativeAvailable();
const missing = DATASETS.map((d) => join(sharedData, d)).filter((d) => !existsSync(d));
const skip = missing.length ? `${missing.join(', ')} not found (real data lives outside the repo, in ../shared/data)`
  : !native.ok ? `native backend unavailable (${native.reason}): the smoke run would take too long on the reference backend`
    : false;

const inUnit = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;
const TEST_CASES = { 'dsb2018': 8, 'isbi2012-em': 6, 'hippocampus-msd': 3 };

const title = 'paper-table --smoke: all runs, per-case result files, pruning, the report; skip, --resume';
test(title, { skip, timeout: 900_000 }, async () => {
  const work = tmp('paper-table');
  const r = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet']))!;
  assert.deepEqual(Object.values(r.outcomes), Array(12).fill('finished'), JSON.stringify(r.outcomes));
  assert.equal(r.results, join(work, 'results'), 'smoke results stay out of the repo');

  const runs = readSeedRuns(r.results);
  assert.equal(runs.length, 12);
  for (const res of runs) {
    const { dataset: ds, model: m } = res;
    const what = `${ds}-${m}`;
    assert.ok(statSync(join(r.results, seedRunFile(ds, m, 0))).size < 20_000, 'result file < 20 KB');
    assert.deepEqual([res.schema, res.seed, res.smoke, res.engine], [2, 0, true, isImageDataset(ds) ? 'images' : 'cli']);
    if (isImageDataset(ds))
      assert.equal(res.params, new SegModel(modelConfig(SMOKE, m, CHANNELS[ds], 0)).params.count(), `${what} params`);
    assert.equal(res.config.dims, isImageDataset(ds) ? 2 : 3);
    assert.equal(res.config.arch, m.startsWith('unetpp') ? 'unetpp' : 'unet');
    assert.equal(res.config.deepSupervision, m === 'unetpp-ds');
    const n = TEST_CASES[ds];
    assert.ok(res.test.ids.length === n && res.test.dice.length === n && res.test.iou.length === n, `${what}: ${n} test cases`);
    assert.ok(res.test.dice.every(inUnit) && res.test.iou.every(inUnit), `${what} scores ${JSON.stringify(res.test)}`);
    res.test.dice.forEach((d, i) => assert.ok(d >= res.test.iou[i] - 1e-5, 'Dice >= IoU per case'));
    if (!isImageDataset(ds)) assert.deepEqual(Object.keys(res.test.perClass ?? {}), ['Anterior', 'Posterior'], 'class names from dataset.json');
    assert.ok(res.timing.msBatch1 > 0 && res.timing.msBatched > 0, `${what} timing`);
    assert.ok(res.gflops > 0 && res.trainGflopsPerStep > res.gflops, `${what} FLOPs`);
    assert.ok(res.training.epochs >= 1 && res.training.epochs <= 2 && res.training.seconds >= 0);
    assert.equal(res.curves.epoch.length, res.training.epochs);
    assert.ok(res.machine.cores > 0 && res.date && res.command.includes('--smoke'));
    if (m !== 'unetpp-ds') { assert.equal(res.pruning, undefined); continue; }
    const depth = res.config.filters.length - 1;
    assert.deepEqual(res.pruning!.map((x) => x.level), [...Array.from({ length: depth }, (_, i) => i + 1), 'accurate']);
    if (isImageDataset(ds)) {
      const full = new SegModel(modelConfig(SMOKE, 'unetpp-ds', CHANNELS[ds], 0));
      for (const row of res.pruning!) {
        const want = row.level === 'accurate' ? full.params.count() : full.prune(row.level).params.count();
        assert.equal(row.params, want, `${ds} L${row.level}`);
      }
    }
    res.pruning!.forEach((row, i) => {
      assert.ok(row.timing.msBatch1 > 0 && row.gflops > 0 && row.dice.length === n && row.dice.every(inUnit));
      const prev = res.pruning![i - 1];
      if (i > 0 && row.level !== 'accurate') assert.ok(row.gflops > prev.gflops && row.params > prev.params, 'cost grows with the level');
    });
    assert.deepEqual(res.pruning![depth].dice, res.test.dice, 'accurate row = the run\'s test scores');
  }

  const md = readFileSync(r.report, 'utf8');
  assert.match(md, /^12 of 12 planned runs finished/m);
  for (const m of MODELS) {
    const rows = md.split('\n').filter((l) => l.startsWith(`| ${MODEL_LABELS[m]} | 0 |`));
    assert.equal(rows.length, 3, `a row per dataset for ${m}`);
  }
  const comparisons = md.split('\n').filter((l) => /^\| (dsb2018|isbi2012-em|hippocampus-msd) \| UNet\+\+ \(DS\) − /.test(l));
  assert.equal(comparisons.length, 12);
  assert.match(md, /## Pruning: UNet\+\+ with deep supervision, over seeds/);
  assert.match(md, /Smoke runs/);
  for (const f of ['seeds-pruning-dice.png', 'seeds-pruning-ms.png']) assert.ok(existsSync(join(work, 'report', f)), f);

  // finished units are skipped on a re-run
  const again = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet']))!;
  assert.deepEqual(Object.values(again.outcomes), Array(12).fill('skipped'));

  // a unit with a checkpoint but no result is interrupted: an error without --resume, continued with it
  for (const u of ['dsb2018/unet-seed0', 'hippocampus-msd/unet-seed0']) rmSync(join(work, u, 'result.json'));
  const unet = ['--smoke', '--work', work, '--data', sharedData, '--quiet', '--models', 'unet'];
  await assert.rejects(main(unet), /interrupted mid-way.*--resume/);
  const resumed = (await main([...unet, '--resume']))!;
  assert.deepEqual(resumed.outcomes, {
    'dsb2018/unet-seed0': 'finished', 'isbi2012-em/unet-seed0': 'skipped', 'hippocampus-msd/unet-seed0': 'finished',
  });
  const hip = readSeedRuns(resumed.results).find((x) => x.dataset === 'hippocampus-msd' && x.model === 'unet')!;
  assert.ok(hip.training.stepMs !== null && hip.training.stepMs > 0, 'the step time of the invocation that trained');
});

test('paper-table: a spent time budget starts nothing; the report shows pending rows', { skip }, async () => {
  const work = tmp('paper-table-budget');
  const r = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet', '--time-budget', '0.001']))!;
  assert.deepEqual(Object.values(r.outcomes), Array(12).fill('stopped'));
  const md = readFileSync(r.report, 'utf8');
  assert.match(md, /^0 of 12 planned runs finished/m);
  assert.equal(md.split('\n').filter((l) => l.startsWith('| U-Net | pending')).length, 3);
});
