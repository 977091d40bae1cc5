// The paper-table runner in smoke mode on the real data (../shared/data): every (dataset, model)
// unit finishes, the result files hold sane values, the report has every row, a re-run skips
// finished units, and a spent time budget starts nothing. About a minute on 2 cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { SegModel } from '../../src/models/model.js';
import { main } from '../../experiments/paper-table/run.js';
import { readPruning, readRun, runFile } from '../../experiments/paper-table/results.js';
import { CHANNELS, DATASETS, MODELS, MODEL_LABELS, SMOKE, modelConfig } from '../../experiments/paper-table/settings.js';
import { sharedData } from '../data/util.js';
import { tmp } from '../train/helpers.js';

const native = nativeAvailable();
const missing = DATASETS.map((d) => join(sharedData, d)).filter((d) => !existsSync(d));
const skip = missing.length ? `${missing.join(', ')} not found (real data lives outside the repo, in ../shared/data)`
  : !native.ok ? `native backend unavailable (${native.reason}): the smoke run would take too long on the reference backend` : false;

const inUnit = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;

test('paper-table --smoke: all runs, result files, pruning tables and the report', { skip, timeout: 300_000 }, async () => {
  const work = tmp('paper-table');
  const r = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet']))!;
  assert.deepEqual(Object.values(r.outcomes), Array(8).fill('finished'));
  assert.equal(r.results, join(work, 'results'), 'smoke results stay out of the repo');

  for (const ds of DATASETS) {
    for (const m of MODELS) {
      const res = readRun(r.results, ds, m)!;
      assert.ok(res, `${ds}-${m}.json`);
      assert.ok(statSync(join(r.results, runFile(ds, m))).size < 10_000, 'result file < 10 KB');
      assert.equal(res.smoke, true);
      assert.equal(res.params, new SegModel(modelConfig(SMOKE, m, CHANNELS[ds])).params.count(), `${ds}-${m} params`);
      assert.ok(res.paramsPaperPreset > 0 && res.gflops > 0);
      assert.ok(inUnit(res.test.iou.mean) && inUnit(res.test.dice.mean) && res.test.iou.std >= 0, `${ds}-${m} test scores ${JSON.stringify(res.test)}`);
      assert.ok(res.test.dice.mean >= res.test.iou.mean - 1e-9, 'Dice >= IoU');
      assert.equal(res.test.n, ds === 'dsb2018' ? 8 : 6);
      assert.ok(res.training.epochs >= 1 && res.training.epochs <= 2 && res.training.seconds >= 0);
      assert.equal(res.curves.epoch.length, res.training.epochs);
      assert.ok(res.curves.valIou.every(inUnit) && res.curves.trainLoss.every(Number.isFinite));
      assert.ok(res.machine.cores > 0 && res.date && res.command.includes('--smoke'));
    }
    const p = readPruning(r.results, ds)!;
    assert.ok(p, `${ds}-pruning.json`);
    assert.deepEqual(p.rows.map((x) => x.level), [1, 2, 3, 4, 'accurate']);
    const full = new SegModel(modelConfig(SMOKE, 'unetpp-ds', CHANNELS[ds]));
    p.rows.forEach((row, i) => {
      const expect = row.level === 'accurate' ? full.params.count() : full.prune(row.level).params.count();
      assert.equal(row.params, expect, `${ds} L${row.level} params`);
      assert.ok(row.msBatch1 > 0 && row.msBatch16 > 0 && row.gflops > 0, `${ds} L${row.level} timings`);
      assert.ok(inUnit(row.iou.mean) && inUnit(row.dice.mean));
      if (i > 0 && row.level !== 'accurate') assert.ok(row.gflops > p.rows[i - 1].gflops && row.params > p.rows[i - 1].params, 'cost grows with the level');
    });
    assert.equal(p.rows[4].iou.mean, readRun(r.results, ds, 'unetpp-ds')!.test.iou.mean, 'accurate row = the run\'s test score');
  }

  const md = readFileSync(r.report, 'utf8');
  for (const m of MODELS) {
    const rows = md.split('\n').filter((l) => l.startsWith(`| ${MODEL_LABELS[m]} |`));
    assert.equal(rows.length, 2, `a row per dataset for ${m}`);
    for (const row of rows) assert.ok(!row.includes('pending') && /\d+\.\d\d ± \d+\.\d\d/.test(row), row);
  }
  for (const l of ['L1 (fast)', 'L2 (fast)', 'L3 (fast)', 'L4 (fast)', 'L4, accurate'])
    assert.equal(md.split('\n').filter((x) => x.startsWith(`| ${l} |`)).length, 2, l);
  assert.match(md, /\| U-Net \| [\d,]+ \| [\d,]+ \| 7\.76M \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| 90\.77 \|/);
  assert.match(md, /## Differences from the paper/);
  for (const f of ['pruning-iou.png', 'pruning-time.png', 'curves-dsb2018.png', 'curves-isbi2012-em.png'])
    assert.ok(existsSync(join(work, 'report', f)), f);

  // finished units are skipped on a re-run, and the report is rebuilt the same way
  const again = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet']))!;
  assert.deepEqual(Object.values(again.outcomes), Array(8).fill('skipped'));
});

test('paper-table: a spent time budget starts nothing; the report shows pending rows', { skip }, async () => {
  const work = tmp('paper-table-budget');
  const r = (await main(['--smoke', '--work', work, '--data', sharedData, '--quiet', '--time-budget', '0.001']))!;
  assert.deepEqual(Object.values(r.outcomes), Array(8).fill('stopped'));
  const md = readFileSync(r.report, 'utf8');
  assert.match(md, /0 of 8 runs finished/);
  assert.equal(md.split('\n').filter((l) => l.startsWith('| U-Net | pending')).length, 2);
});
