// The numbers of the report, computed from the run files alone: per dataset and model the mean
// and standard error over seeds; the paired comparisons (bootstrap CI over cases and seeds,
// Wilcoxon and t-test on the per-case seed means, Holm over the whole table); the pruning
// trade-off with error bars over seeds; and what is missing.
import {
  holm, mean, pairedBootstrapCi, pairedTTest, seedMeanDifferences, standardError, wilcoxonSignedRank,
  type BootstrapCi, type TTestResult, type WilcoxonResult,
} from '../../src/metrics/stats.js';
import type { UnitKey } from './budget.js';
import type { SeedRun, Timing } from './results.js';
import { DATASETS, MODELS, type DatasetKey, type ModelKey } from './settings.js';

export type Metric = 'dice' | 'iou';
export const METRICS: Metric[] = ['dice', 'iou'];
/** The paper's claim, as the issue asks: UNet++ with deep supervision against both U-Nets. */
export const COMPARISONS: [ModelKey, ModelKey][] = [['unetpp-ds', 'unet'], ['unetpp-ds', 'wide-unet']];
export const ALPHA = 0.05;

/** Mean and standard error over seeds (se NaN with one seed), and how many. */
export interface SeedStat { mean: number; se: number; n: number }
export const seedStat = (xs: number[]): SeedStat => ({ mean: mean(xs), se: standardError(xs), n: xs.length });

export interface ModelSummary {
  dataset: DatasetKey;
  model: ModelKey;
  seeds: number[];
  cases: number;
  /** Per seed: the mean over the test cases; then mean and SE over seeds. */
  dice: SeedStat;
  iou: SeedStat;
  params: number;
  gflops: number;
  trainGflopsPerStep: number;
  trainSeconds: SeedStat;
  epochs: SeedStat;
  stepMs: SeedStat;
  msBatch1: SeedStat;
  msBatched: SeedStat;
  timing: Pick<Timing, 'batch' | 'shape'>;
}

export type Verdict = 'significant' | 'cases only' | 'not significant';

export interface Comparison {
  dataset: DatasetKey;
  a: ModelKey;
  b: ModelKey;
  metric: Metric;
  /** Seeds both models have (paired by seed), and test cases. */
  seeds: number[];
  cases: number;
  ci: BootstrapCi;
  wilcoxon: WilcoxonResult;
  ttest: TTestResult;
  wilcoxonHolm: number;
  ttestHolm: number;
  /**
   * significant: Holm-adjusted Wilcoxon p < 0.05 and the CI over cases and seeds excludes 0;
   * cases only: the test says so over these test cases but the CI (seed variation) includes 0.
   */
  verdict: Verdict;
}

export interface LevelSummary {
  level: number | 'accurate'; params: number; gflops: number;
  dice: SeedStat; iou: SeedStat; msBatch1: SeedStat; msBatched: SeedStat; batch: number;
}

export interface PruningSummary {
  dataset: DatasetKey;
  seeds: number[];
  rows: LevelSummary[];
  /** The smallest fast level whose mean Dice is within one SE of the full model's (accurate); null if none. */
  smallestWithinOneSe: number | null;
  /** SE over seeds (2+ seeds), else over the test cases of the one seed. */
  seBasis: 'seeds' | 'cases';
  threshold: number;
}

export interface Analysis {
  models: ModelSummary[];
  comparisons: Comparison[];
  pruning: PruningSummary[];
  expected: UnitKey[];
  missing: UnitKey[];
  found: number;
  smoke: boolean;
}

export interface AnalysisOptions { seeds: Record<DatasetKey, number[]>; resamples?: number }

/** Per-case scores of a run in the order of `ids` (runs of a dataset must score the same cases). */
function aligned(r: SeedRun, ids: string[], pick: (r: SeedRun) => number[]): number[] {
  const at = new Map(r.test.ids.map((id, i) => [id, i]));
  const xs = pick(r);
  return ids.map((id) => {
    const i = at.get(id);
    if (i === undefined)
      throw new Error(`${r.dataset} ${r.model} seed ${r.seed}: no score for test case ${id} ` +
        '(runs of a dataset must score the same cases)');
    return xs[i];
  });
}

export function analyse(runs: SeedRun[], o: AnalysisOptions): Analysis {
  const of = (ds: DatasetKey, m: ModelKey) =>
    runs.filter((r) => r.dataset === ds && r.model === m).sort((x, y) => x.seed - y.seed);
  const expected = DATASETS.flatMap((ds) => o.seeds[ds].flatMap((seed) => MODELS.map((model) => ({ ds, model, seed }))));
  const has = (k: UnitKey) => runs.some((r) => r.dataset === k.ds && r.model === k.model && r.seed === k.seed);
  const missing = expected.filter((k) => !has(k));

  const models: ModelSummary[] = [];
  for (const ds of DATASETS)
    for (const m of MODELS) {
      const rs = of(ds, m);
      if (!rs.length) continue;
      const st = (f: (r: SeedRun) => number) => seedStat(rs.map(f));
      models.push({
        dataset: ds, model: m, seeds: rs.map((r) => r.seed), cases: rs[0].test.ids.length,
        dice: st((r) => mean(r.test.dice)), iou: st((r) => mean(r.test.iou)),
        params: rs[0].params, gflops: rs[0].gflops, trainGflopsPerStep: rs[0].trainGflopsPerStep,
        trainSeconds: st((r) => r.training.seconds), epochs: st((r) => r.training.epochs),
        stepMs: seedStat(rs.map((r) => r.training.stepMs).filter((x): x is number => x !== null)),
        msBatch1: st((r) => r.timing.msBatch1), msBatched: st((r) => r.timing.msBatched),
        timing: { batch: rs[0].timing.batch, shape: rs[0].timing.shape },
      });
    }

  const comparisons: Omit<Comparison, 'wilcoxonHolm' | 'ttestHolm' | 'verdict'>[] = [];
  for (const ds of DATASETS)
    for (const [a, b] of COMPARISONS) {
      const ra = of(ds, a), rb = of(ds, b);
      const seeds = ra.map((r) => r.seed).filter((s) => rb.some((r) => r.seed === s));
      if (!seeds.length) continue;
      const ids = ra[0].test.ids;
      for (const metric of METRICS) {
        const scores = (rs: SeedRun[]) =>
          seeds.map((s) => aligned(rs.find((r) => r.seed === s)!, ids, (r) => r.test[metric]));
        const A = scores(ra), B = scores(rb);
        const d = seedMeanDifferences(A, B);
        const zeros = d.map(() => 0);
        comparisons.push({
          dataset: ds, a, b, metric, seeds, cases: ids.length, ci: pairedBootstrapCi(A, B, { resamples: o.resamples }),
          wilcoxon: wilcoxonSignedRank(d, zeros), ttest: pairedTTest(d, zeros),
        });
      }
    }
  // one family: every row of the table (datasets x comparisons x metrics), each test on its own
  const wh = holm(comparisons.map((c) => c.wilcoxon.p)), th = holm(comparisons.map((c) => c.ttest.p));
  const full: Comparison[] = comparisons.map((c, i) => {
    const excludesZero = c.ci.lo > 0 || c.ci.hi < 0;
    const verdict: Verdict = wh[i] < ALPHA ? (excludesZero ? 'significant' : 'cases only') : 'not significant';
    return { ...c, wilcoxonHolm: wh[i], ttestHolm: th[i], verdict };
  });

  const pruning: PruningSummary[] = [];
  for (const ds of DATASETS) {
    const rs = of(ds, 'unetpp-ds').filter((r) => r.pruning?.length);
    if (!rs.length) continue;
    const rows: LevelSummary[] = rs[0].pruning!.map((row, j) => {
      const at = (r: SeedRun) => r.pruning![j];
      const st = (f: (x: NonNullable<SeedRun['pruning']>[number]) => number) => seedStat(rs.map((r) => f(at(r))));
      return {
        level: row.level, params: row.params, gflops: row.gflops, dice: st((x) => mean(x.dice)), iou: st((x) => mean(x.iou)),
        msBatch1: st((x) => x.timing.msBatch1), msBatched: st((x) => x.timing.msBatched), batch: row.timing.batch,
      };
    });
    const fullRow = rows.find((r) => r.level === 'accurate')!;
    const seBasis = rs.length >= 2 ? 'seeds' : 'cases';
    const se = seBasis === 'seeds' ? fullRow.dice.se
      : standardError(rs[0].pruning!.find((x) => x.level === 'accurate')!.dice);
    const threshold = fullRow.dice.mean - se;
    const within = rows.filter((r) => r.level !== 'accurate' && r.dice.mean >= threshold).map((r) => r.level as number);
    pruning.push({
      dataset: ds, seeds: rs.map((r) => r.seed), rows, seBasis, threshold,
      smallestWithinOneSe: within.length ? Math.min(...within) : null,
    });
  }
  return { models, comparisons: full, pruning, expected, missing, found: runs.length, smoke: runs.some((r) => r.smoke) };
}
