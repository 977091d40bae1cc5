// The statistics behind the paper-table comparison, on inputs with known answers: closed forms,
// textbook data sets (Student's sleep data, Hollander & Wolfe's depression scores) worked by hand,
// and the coverage of the bootstrap interval on seeded simulated data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  erfc, holm, incompleteBeta, lnGamma, mean, normalCdf, pairedBootstrapCi, pairedTTest, quantileSorted, rank, sampleVariance,
  seedMeanDifferences, signedRankCdf, standardError, studentTCdf, studentTTwoSided, wilcoxonSignedRank,
} from '../../src/metrics/stats.js';
import { Rng } from '../../src/data/rng.js';

const close = (got: number, want: number, rel = 1e-12, what = '') =>
  assert.ok(Math.abs(got - want) <= rel * Math.max(Math.abs(want), 1e-300), `${what} ${got} != ${want}`);

// Cushny & Peebles via Student (1908), R's `sleep`: extra hours of sleep with two drugs, same 10 patients.
const SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

test('mean, sample variance and standard error by hand', () => {
  const xs = [2, 4, 4, 4, 5, 5, 7, 9]; // sum 40, squares about the mean 32
  assert.equal(mean(xs), 5);
  assert.equal(sampleVariance(xs), 32 / 7);
  close(standardError(xs), Math.sqrt(32 / 7 / 8));
  assert.ok(Number.isNaN(standardError([1])) && Number.isNaN(mean([])));
});

test('lnGamma, erfc and the normal CDF against exact values', () => {
  close(lnGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
  close(lnGamma(10), Math.log(362880), 1e-14);
  close(lnGamma(100.5), 361.435540467778, 1e-12);
  assert.equal(normalCdf(0), 0.5);
  // reference values from mpmath (30 digits)
  close(normalCdf(1.96), 0.975002104851779563787, 1e-14);
  close(normalCdf(-3), 0.00134989803163009452665, 1e-13);
  close(normalCdf(-8), 6.22096057427178412351e-16, 1e-12, 'far tail keeps its relative precision');
  close(normalCdf(0.5) + normalCdf(-0.5), 1, 1e-15);
  close(erfc(1), 0.157299207050285130658, 1e-14);
});

test('Student-t CDF: closed forms for 1 and 2 degrees of freedom, and mpmath values', () => {
  for (const t of [-30, -2.5, -0.3, 0, 0.7, 4, 100]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-13, `df 1, t ${t}`); // Cauchy
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-13, `df 2, t ${t}`);
  }
  close(studentTCdf(1.5, 3), 0.884708067377588473859, 1e-13);
  close(studentTCdf(2.228138851986, 10), 0.975, 1e-11, 't(0.975, 10) of the tables');
  close(studentTCdf(-0.7, 30.5), 0.244616301413998034609, 1e-13, 'fractional df');
  close(studentTCdf(-12, 4), 0.000138214274251486477, 1e-12);
  close(studentTTwoSided(-12, 4), 2 * 0.000138214274251486477, 1e-12);
  close(studentTCdf(1.3, Infinity), normalCdf(1.3), 1e-15);
  close(studentTCdf(1.3, 1e7), normalCdf(1.3), 1e-6, 'large df tends to the normal');
  close(incompleteBeta(0.3, 2, 3), 0.3483, 1e-12, 'I_0.3(2,3) = 1 - sum_{j<2} C(4,j) .3^j .7^(4-j)');
});

test('paired t-test on the sleep data: t = 4.0621, df 9, p = 0.002833 (R: t.test(paired = TRUE))', () => {
  const r = pairedTTest(SLEEP2, SLEEP1);
  // d = 1.2 2.4 1.3 1.3 0 1 1.8 0.8 4.6 1.4: mean 1.58, sd 1.229995483279873
  close(r.meanDiff, 1.58, 1e-14);
  close(r.sd, 1.229995483279873222840, 1e-13);
  close(r.t, 4.06212768338203610966, 1e-13);
  assert.equal(r.df, 9);
  close(r.p, 0.00283289019738427274034, 1e-11);
  const flipped = pairedTTest(SLEEP1, SLEEP2);
  close(flipped.t, -r.t, 1e-15);
  close(flipped.p, r.p, 1e-15);
  assert.equal(pairedTTest([1, 2, 3], [1, 2, 3]).p, 1, 'no difference at all');
  assert.equal(pairedTTest([2, 3, 4], [1, 2, 3]).p, 0, 'a constant non-zero difference');
  assert.throws(() => pairedTTest([1, 2], [1]), /differ in length/);
});

test('ranks share ties', () => {
  assert.deepEqual(rank([10, 20, 10, 30, 20, 20]), { ranks: [1.5, 4, 1.5, 6, 4, 4], ties: [2, 3] });
});

test('Wilcoxon on the sleep data: one zero, one tie, W- = 0; R\'s p 0.009091 with continuity correction', () => {
  // 9 non-zero differences, all positive: W+ = 45; mean 22.5; var 9*10*19/24 - (2^3 - 2)/48 = 71.125
  const r = wilcoxonSignedRank(SLEEP2, SLEEP1, { correction: true });
  assert.deepEqual([r.n, r.zeros, r.wPlus, r.wMinus, r.statistic, r.method], [9, 1, 45, 0, 0, 'normal']);
  close(r.z!, (0 - 22.5 + 0.5) / Math.sqrt(71.125), 1e-14);
  close(r.p, 0.00909069801592506203635, 1e-11);
  const plain = wilcoxonSignedRank(SLEEP2, SLEEP1); // scipy's default: no correction
  close(plain.z!, -22.5 / Math.sqrt(71.125), 1e-14);
  close(plain.p, 0.00763244164820552657283, 1e-11);
});

test('Wilcoxon exact: Hollander & Wolfe depression scores, W+ = 40, p = 20/512 (R: V = 40, one-sided 0.01953)', () => {
  const x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
  const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
  // |d| ranks: 0.01 1, 0.08 2 (-), 0.147 3 (-), ...: W- = 5; P(W+ <= 5) counts 10 subsets of 1..9 of sum <= 5
  const r = wilcoxonSignedRank(x, y);
  assert.deepEqual([r.n, r.wPlus, r.wMinus, r.statistic, r.method], [9, 40, 5, 5, 'exact']);
  assert.equal(r.p, 20 / 512);
  assert.equal(signedRankCdf(5, 0), 1 / 32);
  assert.equal(signedRankCdf(4, 10), 1);
  assert.equal(wilcoxonSignedRank([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]).p, 2 / 32, 'all five positive: 2 * 2^-5');
  assert.throws(() => wilcoxonSignedRank([1, 1, 2], [0, 0, 0], { method: 'exact' }), /no ties/);
  assert.equal(wilcoxonSignedRank([1, 2], [1, 2]).p, 1, 'only zeros: no evidence');
});

test('Wilcoxon with zeros: wilcox drops them, pratt ranks then drops them (worked by hand)', () => {
  const d = [0, 0, 1, -2, 3, 4, 4, 5, -6, 7];
  const zeros = d.map(() => 0);
  // wilcox: ranks of 1 2 3 4 4 5 6 7 -> 1 2 3 4.5 4.5 6 7 8; W- = 2 + 7 = 9; mean 18; var (8*9*17 - 3) / 24
  const w = wilcoxonSignedRank(d, zeros);
  assert.deepEqual([w.n, w.zeros, w.wPlus, w.wMinus], [8, 2, 27, 9]);
  close(w.z!, -9 / Math.sqrt(50.875), 1e-14);
  close(w.p, 0.207020997219861, 1e-12);
  // pratt: zeros take ranks 1.5 1.5; W- = 4 + 9 = 13; mean 27.5 - 1.5; var (2310 - 30 - 3) / 24
  const p = wilcoxonSignedRank(d, zeros, { zeroMethod: 'pratt' });
  assert.deepEqual([p.n, p.zeros, p.wPlus, p.wMinus], [10, 2, 39, 13]);
  close(p.z!, -13 / Math.sqrt(94.875), 1e-14);
  close(p.p, 0.181990857783706, 1e-12);
});

test('Holm: step-down adjusted p-values in the input order (by hand)', () => {
  // sorted 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> kept monotone: 0.06
  const adj = holm([0.01, 0.04, 0.03, 0.005]);
  [0.03, 0.06, 0.06, 0.02].forEach((want, i) => close(adj[i], want, 1e-15));
  assert.deepEqual(holm([0.5, 0.9]), [1, 1]);
  const withNan = holm([0.01, NaN, 0.02]);
  assert.ok(Number.isNaN(withNan[1]));
  close(withNan[0], 0.02, 1e-15);
  close(withNan[2], 0.02, 1e-15);
});

test('quantiles interpolate as numpy', () => {
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  close(quantileSorted([0, 10], 0.025), 0.25, 1e-15);
});

const normal = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

test('bootstrap: a constant difference gives that constant; seeded and reproducible', () => {
  const rng = new Rng(1);
  const b = Array.from({ length: 3 }, () => Array.from({ length: 20 }, () => rng.next()));
  const a = b.map((row) => row.map((x) => x + 0.125));
  const ci = pairedBootstrapCi(a, b, { resamples: 2000, seed: 5 });
  for (const v of [ci.estimate, ci.lo, ci.hi]) close(v, 0.125, 1e-12);
  assert.deepEqual([ci.seeds, ci.cases, ci.resamples, ci.level], [3, 20, 2000, 0.95]);
  const noisy = a.map((row) => row.map((x) => x + 0.1 * normal(rng)));
  const run = (seed: number) => pairedBootstrapCi(noisy, b, { seed, resamples: 500 });
  assert.deepEqual(run(9), run(9));
  assert.notDeepEqual(run(9), run(10));
  assert.deepEqual(seedMeanDifferences(a, b).map((x) => Number(x.toFixed(12))), Array(20).fill(0.125));
  assert.throws(() => pairedBootstrapCi(a, b.slice(1)), /one shape/);
});

test('bootstrap: the estimate is the mean difference, inside its interval, which shrinks with more cases', () => {
  const rng = new Rng(2);
  const draw = (n: number) => {
    const b = [Array.from({ length: n }, () => normal(rng))];
    return { a: [b[0].map((x) => x + 0.5 + normal(rng))], b };
  };
  const small = draw(30), large = draw(300);
  const cs = pairedBootstrapCi(small.a, small.b, { resamples: 4000 });
  const cl = pairedBootstrapCi(large.a, large.b, { resamples: 4000 });
  close(cs.estimate, mean(small.a[0]) - mean(small.b[0]), 1e-12);
  assert.ok(cs.lo < cs.estimate && cs.estimate < cs.hi);
  assert.ok(cl.hi - cl.lo < 0.5 * (cs.hi - cs.lo), 'ten times the cases: about a third of the width');
  // one level: the percentile interval approximates mean +- 1.96 SE
  const se = standardError(small.a[0].map((x, i) => x - small.b[0][i]));
  assert.ok(Math.abs(cs.hi - cs.lo - 2 * 1.96 * se) < 0.15 * 2 * 1.96 * se, `width ${cs.hi - cs.lo} vs 3.92 SE ${3.92 * se}`);
});

test('bootstrap coverage on seeded normal samples: ~95% over 400 draws (one seed, 40 cases)', () => {
  const rng = new Rng(3);
  let hits = 0;
  const reps = 400, truth = 0.3;
  for (let r = 0; r < reps; r++) {
    const b = Array.from({ length: 40 }, () => normal(rng));
    const a = b.map((x) => x + truth + normal(rng));
    const ci = pairedBootstrapCi([a], [b], { resamples: 1000, seed: r });
    if (ci.lo <= truth && truth <= ci.hi) hits++;
  }
  // binomial sd of the rate over 400 draws is 1.1 points; the percentile interval runs ~1 point narrow at n = 40
  assert.ok(hits / reps > 0.9 && hits / reps < 0.98, `coverage ${hits / reps}`);
});

test('bootstrap coverage with seed variation: cases and seeds both resampled (5 seeds, 30 cases)', () => {
  // y[s][i] = case effect + seed effect + noise, per model; the truth is the difference of the model means
  const rng = new Rng(4);
  const reps = 300, truth = 0.2, k = 5, n = 30;
  let hits = 0, casesOnly = 0;
  for (let r = 0; r < reps; r++) {
    const cases = Array.from({ length: n }, () => normal(rng));
    const model = (shift: number) => Array.from({ length: k }, () => {
      const seedEffect = 0.3 * normal(rng);
      return cases.map((c) => shift + c + seedEffect + 0.5 * normal(rng));
    });
    const a = model(truth), b = model(0);
    const ci = pairedBootstrapCi(a, b, { resamples: 1000, seed: r });
    if (ci.lo <= truth && truth <= ci.hi) hits++;
    // the naive alternative, seed means per case resampled over cases only, ignores the seed level
    const d = seedMeanDifferences(a, b);
    const one = pairedBootstrapCi([d], [d.map(() => 0)], { resamples: 1000, seed: r });
    if (one.lo <= truth && truth <= one.hi) casesOnly++;
  }
  // 5 seeds cannot pin the seed variance down (a t quantile with 4 df would be 2.78, not 1.96): a few points short of 95%
  assert.ok(hits / reps > 0.85 && hits / reps < 0.99, `coverage ${hits / reps}`);
  assert.ok(casesOnly / reps < hits / reps - 0.1, `cases only ${casesOnly / reps} vs two levels ${hits / reps}`);
});
