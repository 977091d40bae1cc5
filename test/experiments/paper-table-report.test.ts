// The paper-table report on synthetic result files (test/fixtures/paper-table-synthetic): its
// numbers are recomputed here from the files with the statistics functions, not compared with
// stored strings; partial results name what is missing. Also the report on the repository's
// earlier single-seed files alone. No training, no real data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { buildReport } from '../../experiments/paper-table/report.js';
import type { SeedRun } from '../../experiments/paper-table/results.js';
import { COMPARISONS, METRICS } from '../../experiments/paper-table/analysis.js';
import { MODEL_LABELS, type DatasetKey } from '../../experiments/paper-table/settings.js';
import {
  holm, mean, pairedBootstrapCi, pairedTTest, seedMeanDifferences, standardError, wilcoxonSignedRank, type BootstrapCi,
} from '../../src/metrics/stats.js';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
/** A fresh temp folder, removed when the test process exits. */
const tmp = (name: string) => { const d = mkdtempSync(join(tmpdir(), `unetpp-${name}-`)); made.push(d); return d; };

const FIXTURE = 'test/fixtures/paper-table-synthetic/results';
const SEEDS: Record<DatasetKey, number[]> = { 'dsb2018': [0, 1, 2], 'isbi2012-em': [0, 1, 2, 3, 4], 'hippocampus-msd': [0, 1, 2] };
const RESAMPLES = 2000;

function fixtureRuns(): SeedRun[] {
  const read = (ds: string, f: string) => JSON.parse(readFileSync(join(FIXTURE, ds, f), 'utf8')) as SeedRun;
  return readdirSync(FIXTURE).flatMap((ds) => readdirSync(join(FIXTURE, ds)).map((f) => read(ds, f)));
}
const num = (s: string) => Number(s.replace('−', '-'));
const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
const rowsStarting = (md: string, start: string) => md.split('\n').filter((l) => l.startsWith(start));

async function fixtureReport() {
  const out = join(tmp('paper-table-report'), 'results.md');
  const md = await buildReport({ results: FIXTURE, out, seeds: SEEDS, resamples: RESAMPLES });
  return { md, out };
}

test('report on synthetic files: mean ± SE over seeds per model, as the stats functions give them', async () => {
  const { md } = await fixtureReport();
  const runs = fixtureRuns();
  for (const ds of ['dsb2018', 'isbi2012-em', 'hippocampus-msd'] as const) {
    const section = md.slice(md.indexOf(`### ${ds}`), md.indexOf('\n## ', md.indexOf(`### ${ds}`)));
    for (const [m, label] of Object.entries(MODEL_LABELS)) {
      const rs = runs.filter((r) => r.dataset === ds && r.model === m).sort((a, b) => a.seed - b.seed);
      const row = rowsStarting(section, `| ${label} |`)[0];
      assert.ok(row, `${ds} ${m}`);
      if (!rs.length) { assert.match(row, /pending/); continue; }
      const c = cells(row);
      assert.equal(c[1], rs.map((r) => r.seed).join(', '));
      for (const [col, metric] of [[2, 'dice'], [3, 'iou']] as const) {
        const perSeed = rs.map((r) => mean(r.test[metric]));
        const m1 = /^([\d.]+)(?: ± ([\d.]+))? \((\d)\)$/.exec(c[col])!;
        assert.ok(m1, c[col]);
        assert.ok(Math.abs(Number(m1[1]) - 100 * mean(perSeed)) <= 0.005 + 1e-9, `${ds} ${m} ${metric} mean`);
        assert.equal(Number(m1[3]), rs.length);
        if (rs.length > 1)
          assert.ok(Math.abs(Number(m1[2]) - 100 * standardError(perSeed)) <= 0.005 + 1e-9, `${ds} ${m} ${metric} SE`);
        else assert.equal(m1[2], undefined, 'one seed: no SE');
      }
    }
  }
});

test('report on synthetic files: paired differences, bootstrap CI, Wilcoxon and t-test with Holm, verdicts', async () => {
  const { md } = await fixtureReport();
  const runs = fixtureRuns();
  type Row = { ds: string; label: string; metric: string; seeds: number; cases: number; ci: BootstrapCi; w: number; t: number };
  const expected: Row[] = [];
  const runOf = (ds: string, m: string, s: number) => runs.find((r) => r.dataset === ds && r.model === m && r.seed === s);
  for (const ds of ['dsb2018', 'isbi2012-em', 'hippocampus-msd'])
    for (const [a, b] of COMPARISONS) {
      const seeds = [0, 1, 2, 3, 4].filter((s) => [a, b].every((m) => runOf(ds, m, s)));
      if (!seeds.length) continue;
      for (const metric of METRICS) {
        const scores = (m: string) => seeds.map((s) => runOf(ds, m, s)!.test[metric]);
        const d = seedMeanDifferences(scores(a), scores(b));
        expected.push({
          ds, label: `${MODEL_LABELS[a]} − ${MODEL_LABELS[b]}`, metric, seeds: seeds.length, cases: d.length,
          ci: pairedBootstrapCi(scores(a), scores(b), { resamples: RESAMPLES }),
          w: wilcoxonSignedRank(d, d.map(() => 0)).p, t: pairedTTest(d, d.map(() => 0)).p,
        });
      }
    }
  const wh = holm(expected.map((e) => e.w)), th = holm(expected.map((e) => e.t));
  const table = md.split('\n').filter((l) => /^\| (dsb2018|isbi2012-em|hippocampus-msd) \| UNet\+\+ \(DS\) − /.test(l));
  assert.equal(table.length, expected.length, 'a row per dataset, comparison and metric with a common seed');
  assert.equal(expected.length, 10, 'hippocampus has no wide U-Net: 2 + 2 + 2 + 2 + 2 rows');
  const p = (s: string) => (s === '<0.0001' ? 0 : Number(s));
  expected.forEach((e, i) => {
    const c = cells(table[i]);
    assert.deepEqual([c[0], c[1], c[2].toLowerCase(), c[3]], [e.ds, e.label, e.metric, `${e.seeds} x ${e.cases}`]);
    const near = (got: string, want: number, what: string) =>
      assert.ok(Math.abs(num(got) - 100 * want) <= 0.005 + 1e-9, `${e.ds} ${e.label} ${e.metric} ${what}: ${got} vs ${100 * want}`);
    near(c[4], e.ci.estimate, 'difference');
    const [lo, hi] = c[5].slice(1, -1).split(', ');
    near(lo, e.ci.lo, 'CI low');
    near(hi, e.ci.hi, 'CI high');
    const [pw, pwh] = /^(\S+) \((\S+)\)$/.exec(c[6])!.slice(1);
    const [pt, pth] = /^(\S+) \((\S+)\)$/.exec(c[7])!.slice(1);
    for (const [got, want] of [[pw, e.w], [pwh, wh[i]], [pt, e.t], [pth, th[i]]] as const)
      assert.ok(want < 1e-4 ? got === '<0.0001' : Math.abs(p(got) - want) <= 0.05 * want,
        `${e.ds} ${e.label} ${e.metric} p ${got} vs ${want}`);
    const excludes = e.ci.lo > 0 || e.ci.hi < 0;
    assert.equal(c[8], wh[i] < 0.05 ? (excludes ? 'significant' : 'significant over test cases only') : 'not significant');
  });
  // the synthetic DS offset is 0.03 over U-Net on 12 cases and 3 seeds: clearly significant
  assert.equal(cells(table[0])[8], 'significant');
  assert.match(md, /- isbi2012-em has 6 test cases: the smallest possible two-sided Wilcoxon p is 2\/2\^6 = 0\.031, which Holm's/);
  assert.match(md, /- hippocampus-msd: UNet\+\+ \(DS\) − U-Net: .* \(one seed: seed variation not covered\)\./);
});

test('report on synthetic files: partial results, pruning within one SE, cost, the paper and the closing note', async () => {
  const { md, out } = await fixtureReport();
  const runs = fixtureRuns();
  assert.match(md, new RegExp(`^${runs.length} of 44 planned runs finished`, 'm'));
  assert.ok(md.includes('Missing: dsb2018: wide U-Net seed 2. isbi2012-em: U-Net seed 2, 3, 4; wide U-Net seed 2, 3, 4; ' +
    'UNet++ (no DS) seed 1, 2, 3, 4; UNet++ (DS) seed 2, 3, 4. hippocampus-msd: U-Net seed 1, 2; wide U-Net seed 0, 1, 2; ' +
    'UNet++ (no DS) seed 0, 1, 2; UNet++ (DS) seed 1, 2.'));

  // pruning: the smallest level whose mean Dice over seeds is within one SE (over seeds) of the accurate mode
  const ds = runs.filter((r) => r.dataset === 'dsb2018' && r.model === 'unetpp-ds');
  const levelMean = (j: number) => mean(ds.map((r) => mean(r.pruning![j].dice)));
  const full = ds.map((r) => mean(r.pruning![4].dice));
  const want = [0, 1, 2, 3].find((j) => levelMean(j) >= mean(full) - standardError(full))! + 1;
  assert.equal(want, 3, 'the fixture is made so that L3 is within one SE and L2 is not');
  const section = md.slice(md.indexOf('## Pruning'), md.indexOf('## Cost'));
  const dsb = section.slice(section.indexOf('### dsb2018'), section.indexOf('### isbi2012-em'));
  assert.match(dsb, new RegExp(`The smallest network within one SE over 3 seeds of the full one \\(Dice ≥ [\\d.]+%\\) is \\*\\*L${want}\\*\\*`));
  assert.match(section, /### hippocampus-msd[\s\S]*?within one SE over the test cases \(one seed\)/);
  assert.equal(rowsStarting(section, '| L3, accurate |').length, 1, 'hippocampus: depth 3');
  assert.equal(rowsStarting(section, '| L4, accurate |').length, 2);
  for (const f of ['seeds-pruning-dice.png', 'seeds-pruning-ms.png']) assert.ok(existsSync(join(out, '..', 'results', f)), f);

  // cost: training time and FLOPs per step per model
  const cost = rowsStarting(md, '| dsb2018 | U-Net | 3 |')[0];
  assert.ok(cost && cost.includes('| 12.0 |'), cost);

  assert.match(md, /\*\*Its metric is not precisely defined\*\*/);
  assert.match(md, /- UNet\+\+ \(DS\) − U-Net: the paper \+1\.75 IoU points; ours \+[\d.]+ \(95% CI .* 3 seeds\): the paper's gain lies/);
  const closing = md.slice(md.indexOf('## What the data say about the claim'), md.indexOf('## Commands'));
  assert.match(closing, /Across 5 comparisons .* show UNet\+\+ \(DS\) significantly better/);
  assert.match(closing, /planned runs are still missing, so this reading is provisional\./);
  assert.ok(!md.includes('## Earlier single-seed runs'), 'no earlier files in the fixture');
});

test('report: a run of the earlier hand-tuned settings is shown apart, never in a statistic with plan runs', async () => {
  const dir = tmp('paper-table-hand');
  cpSync(FIXTURE, dir, { recursive: true });
  const hand = { ...JSON.parse(readFileSync(join(FIXTURE, 'dsb2018', 'unet-seed0.json'), 'utf8')), seed: 3, engine: 'images' };
  hand.test = { ...hand.test, dice: hand.test.dice.map(() => 0.1), iou: hand.test.iou.map(() => 0.05) };
  writeFileSync(join(dir, 'dsb2018', 'unet-seed3.json'), JSON.stringify(hand));
  const out = join(tmp('paper-table-hand-report'), 'results.md');
  const md = await buildReport({ results: dir, out, seeds: SEEDS, resamples: RESAMPLES });
  const { md: plain } = await fixtureReport();
  const head = (x: string) => x.slice(x.indexOf('## Accuracy per model'), x.indexOf('## Commands'));
  assert.equal(head(md), head(plain), 'every table and statistic as without the hand-tuned file');
  assert.match(md, /## Hand-tuned runs, earlier \(not in any statistic above\)/);
  assert.match(md, /^\| dsb2018 \| U-Net \| 3 \| 10\.00 \(1\) \| 5\.00 \(1\) \|$/m);
});

test('report from the earlier single-seed files alone: those stay readable, the new tables are pending', async () => {
  const out = join(tmp('paper-table-legacy'), 'results.md');
  // another report's section in the same page survives the rebuild
  const other = '<!-- other-report:start -->\n## Another section\n\nwritten by another script\n<!-- other-report:end -->';
  writeFileSync(out, `# old page\n\nold text\n\n${other}\n`);
  // the repository's earlier files only (the top-level <dataset>-<model>.json): its plan and seed folders grow as runs land
  const legacy = tmp('paper-table-legacy-files');
  for (const f of readdirSync('experiments/paper-table/results').filter((f) => f.endsWith('.json')))
    cpSync(join('experiments/paper-table/results', f), join(legacy, f));
  const md = await buildReport({ results: legacy, out });
  assert.ok(md.endsWith(`\n${other}`) && !md.includes('old text'), 'the other section is carried over, the rest rebuilt');
  assert.equal(await buildReport({ results: legacy, out }), md, 'a rebuild changes nothing');
  assert.match(md, /^- dsb2018: .*\. Not planned yet \(`unetpp plan --time-budget 1h` at its first run\)\.$/m);
  assert.match(md, /^0 of 44 planned runs finished/m);
  assert.ok(md.includes('\nMissing: dsb2018: every model, seed 0, 1, 2. isbi2012-em: every model, seed 0, 1, 2, 3, 4. ' +
    'hippocampus-msd: every model, seed 0, 1, 2.'));
  assert.equal(rowsStarting(md, '| U-Net | pending |').length, 3, 'a pending row per dataset');
  assert.match(md, /No comparison yet/);
  assert.match(md, /## Earlier single-seed runs/);
  assert.match(md, /\| U-Net \| 7,852,545 \| 7,759,521 \| 83\.42 ± 9\.37 \| 90\.65 ± 6\.02 \| 90\.77 \|/);
  assert.match(md, /## What the data say about the claim\n\nPending/);
});
