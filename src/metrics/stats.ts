// Statistics for comparing models over test cases and training seeds: mean and standard error,
// normal and Student-t CDFs, the paired t-test, the Wilcoxon signed-rank test, Holm's correction
// and a paired two-level bootstrap (cases and seeds). Pure functions on plain arrays.
import { Rng } from '../data/rng.js';

export function mean(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Unbiased sample variance (n - 1); NaN below two values. */
export function sampleVariance(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

export const sampleStd = (xs: readonly number[]) => Math.sqrt(sampleVariance(xs));

/** Standard error of the mean, s / sqrt(n); NaN below two values. */
export const standardError = (xs: readonly number[]) => sampleStd(xs) / Math.sqrt(xs.length);

// Lanczos approximation (g = 7, 9 terms): ~1e-15 relative for x > 0.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x); // reflection
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-16, TINY = 1e-300, MAX_ITER = 100_000;

/** Regularised upper incomplete gamma Q(a, x) (series or Lentz continued fraction, as Numerical Recipes). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let sum = 1 / a, term = sum;
    for (let n = 1; n < MAX_ITER && Math.abs(term) > Math.abs(sum) * EPS; n++) { term *= x / (a + n); sum += term; }
    return 1 - sum * lead;
  }
  let b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
  for (let i = 1; i < MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return lead * h;
}

/** erfc(x) = Q(1/2, x^2) for x >= 0: full relative precision in the far tail (no 1 - erf cancellation). */
export function erfc(x: number): number {
  return x >= 0 ? gammaQ(0.5, x * x) : 2 - gammaQ(0.5, x * x);
}

/** Standard normal CDF. */
export const normalCdf = (z: number) => 0.5 * erfc(-z / Math.SQRT2);

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaCf(x: number, a: number, b: number): number {
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lead = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // the continued fraction converges fast on this side; use the symmetry otherwise
  return x < (a + 1) / (a + b + 2) ? (lead * betaCf(x, a, b)) / a : 1 - (lead * betaCf(1 - x, b, a)) / b;
}

/** P(|T| >= |t|) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2), no cancellation. */
export function studentTTwoSided(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (!Number.isFinite(df)) return 2 * normalCdf(-Math.abs(t));
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** Student-t CDF P(T <= t). */
export function studentTCdf(t: number, df: number): number {
  const tail = studentTTwoSided(t, df) / 2;
  return t > 0 ? 1 - tail : tail;
}

export interface TTestResult { n: number; meanDiff: number; sd: number; se: number; t: number; df: number; p: number }

/** Paired t-test of a - b (two-sided): t = mean(d) / (sd(d) / sqrt(n)), n - 1 degrees of freedom. */
export function pairedTTest(a: readonly number[], b: readonly number[]): TTestResult {
  const d = differences(a, b);
  const n = d.length, m = mean(d), sd = sampleStd(d), se = sd / Math.sqrt(n);
  // all differences equal: t is +-infinity (p 0) unless they are all zero (no evidence: p 1)
  const t = se > 0 ? m / se : m === 0 ? 0 : Math.sign(m) * Infinity;
  return { n, meanDiff: m, sd, se, t, df: n - 1, p: n < 2 ? NaN : t === 0 ? 1 : studentTTwoSided(t, n - 1) };
}

function differences(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired samples differ in length: ${a.length} and ${b.length}`);
  return a.map((x, i) => x - b[i]);
}

/** Ranks 1..n of xs, ties sharing their mean rank; also the sizes of the tie groups. */
export function rank(xs: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const ranks = new Array<number>(xs.length);
  const ties: number[] = [];
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = (i + j + 2) / 2;
    if (j > i) ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, ties };
}

export interface WilcoxonOptions {
  /** wilcox: drop zero differences (default); pratt: rank them, then drop their ranks (Pratt 1959). */
  zeroMethod?: 'wilcox' | 'pratt';
  /** Continuity correction of the normal approximation (R's default; scipy's is false, as ours). */
  correction?: boolean;
  /** auto (default): exact null distribution when n <= 50 with no ties and no zeros, else the normal approximation. */
  method?: 'auto' | 'exact' | 'normal';
}

export interface WilcoxonResult {
  /** Non-zero differences (wilcox) or all (pratt). */
  n: number;
  zeros: number;
  wPlus: number;
  wMinus: number;
  /** min(W+, W-). */
  statistic: number;
  /** Normal approximation only. */
  z: number | null;
  p: number;
  method: 'exact' | 'normal';
}

/**
 * Wilcoxon signed-rank test of a - b (two-sided). Normal approximation with the tie correction
 * (variance minus sum(t^3 - t) / 48 over tie groups) and Pratt's zero adjustment as scipy.stats.wilcoxon.
 */
export function wilcoxonSignedRank(a: readonly number[], b: readonly number[], o: WilcoxonOptions = {}): WilcoxonResult {
  const zeroMethod = o.zeroMethod ?? 'wilcox';
  const all = differences(a, b);
  const zeros = all.filter((x) => x === 0).length;
  const d = zeroMethod === 'wilcox' ? all.filter((x) => x !== 0) : all;
  const n = d.length;
  const { ranks, ties } = rank(d.map(Math.abs));
  let wPlus = 0, wMinus = 0;
  d.forEach((x, i) => { if (x > 0) wPlus += ranks[i]; else if (x < 0) wMinus += ranks[i]; });
  const statistic = Math.min(wPlus, wMinus);
  const nz = n - (zeroMethod === 'pratt' ? zeros : 0);
  if (nz === 0) return { n, zeros, wPlus, wMinus, statistic, z: null, p: 1, method: 'exact' };
  const exactOk = ties.length === 0 && zeros === 0 && n <= 50;
  const method = o.method === 'exact' || (o.method !== 'normal' && exactOk) ? 'exact' : 'normal';
  if (method === 'exact') {
    if (!exactOk) {
      throw new Error('wilcoxonSignedRank: the exact distribution needs n <= 50, no ties and no zero differences ' +
        `(n ${n}, ${ties.length} tie groups, ${zeros} zeros)`);
    }
    return { n, zeros, wPlus, wMinus, statistic, z: null, p: Math.min(1, 2 * signedRankCdf(n, statistic)), method };
  }
  let mn = (n * (n + 1)) / 4;
  let v = n * (n + 1) * (2 * n + 1);
  if (zeroMethod === 'pratt') { // Cureton (1967): the zeros' ranks are not in W
    mn -= (zeros * (zeros + 1)) / 4;
    v -= zeros * (zeros + 1) * (2 * zeros + 1);
  }
  // tie groups among the ranks that count (Pratt: the zeros' group is dropped with their ranks)
  for (const t of zeroMethod === 'pratt' ? tieGroupsOfRanks(d, ranks) : ties) v -= 0.5 * t * (t * t - 1);
  const se = Math.sqrt(v / 24);
  const cc = o.correction ? 0.5 * Math.sign(statistic - mn) : 0;
  const z = se > 0 ? (statistic - mn - cc) / se : 0;
  return { n, zeros, wPlus, wMinus, statistic, z, p: Math.min(1, 2 * normalCdf(-Math.abs(z))), method };
}

/** Pratt: tie groups of the non-zero differences' ranks (ranked with the zeros present). */
function tieGroupsOfRanks(d: number[], ranks: number[]): number[] {
  const counts = new Map<number, number>();
  d.forEach((x, i) => { if (x !== 0) counts.set(ranks[i], (counts.get(ranks[i]) ?? 0) + 1); });
  return [...counts.values()].filter((c) => c > 1);
}

/** P(W+ <= w) under H0 for n untied ranks: counts of subsets of 1..n by sum (exact up to n = 50 in doubles). */
export function signedRankCdf(n: number, w: number): number {
  const max = (n * (n + 1)) / 2;
  const c = new Float64Array(max + 1);
  c[0] = 1;
  for (let r = 1; r <= n; r++) for (let s = max; s >= r; s--) c[s] += c[s - r];
  let below = 0;
  for (let s = 0; s <= Math.min(max, Math.floor(w)); s++) below += c[s];
  return below / 2 ** n;
}

/** Holm's step-down adjustment (family-wise error under any dependence), in the input order. */
export function holm(ps: readonly number[]): number[] {
  const m = ps.filter((p) => !Number.isNaN(p)).length;
  const order = ps.map((p, i) => [p, i] as const).filter(([p]) => !Number.isNaN(p)).sort((x, y) => x[0] - y[0]);
  const out = ps.map(() => NaN);
  let running = 0;
  order.forEach(([p, i], j) => {
    running = Math.max(running, Math.min(1, (m - j) * p));
    out[i] = running;
  });
  return out;
}

/** Quantile of sorted values, linear interpolation between order statistics (numpy's default, R type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const h = (sorted.length - 1) * q, lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface BootstrapOptions { resamples?: number; level?: number; seed?: number }
export interface BootstrapCi {
  estimate: number; lo: number; hi: number; level: number; resamples: number; seeds: number; cases: number;
}

/**
 * Percentile CI of mean(a) - mean(b), where a[s][i] and b[s][i] are the scores of two models
 * trained with seed s on test case i (the same seeds and cases, in the same order, for both).
 * Two levels, resampled independently each round: the cases (n of n, with replacement, the same
 * for both models: paired) and the seeds (k of k, paired by seed: runs of one seed share the data
 * order). The statistic is the mean over resampled cases of the resampled seeds' mean difference.
 * Seed deviations from each case's seed mean are inflated by sqrt(k / (k - 1)) first, so the seed
 * level's bootstrap variance is s^2/k and not the biased (k - 1)/k of it (Davison & Hinkley 1997,
 * "modified residuals"; it matters with 3-5 seeds). The case-by-seed interaction is then counted at
 * both levels, which errs on the wide side (Owen 2007). One seed: cases only.
 */
export type Matrix = readonly (readonly number[])[];

export function pairedBootstrapCi(a: Matrix, b: Matrix, o: BootstrapOptions = {}): BootstrapCi {
  const resamples = o.resamples ?? 10_000, level = o.level ?? 0.95;
  const k = a.length, n = a[0]?.length ?? 0;
  if (!k || !n) throw new Error('pairedBootstrapCi: no scores');
  if (b.length !== k || [...a, ...b].some((r) => r.length !== n))
    throw new Error('pairedBootstrapCi: a and b must both be seeds x cases of one shape');
  const caseMean = new Float64Array(n);
  for (let s = 0; s < k; s++) for (let i = 0; i < n; i++) caseMean[i] += (a[s][i] - b[s][i]) / k;
  const inflate = k > 1 ? Math.sqrt(k / (k - 1)) : 0;
  const d = Array.from({ length: k }, (_, s) =>
    Float64Array.from({ length: n }, (_, i) => caseMean[i] + inflate * (a[s][i] - b[s][i] - caseMean[i])));
  const rng = new Rng(o.seed ?? 0);
  const stats = new Float64Array(resamples);
  const weight = new Float64Array(k), value = new Float64Array(n);
  for (let r = 0; r < resamples; r++) {
    weight.fill(0);
    for (let j = 0; j < k; j++) weight[rng.int(k)] += 1 / k;
    value.fill(0);
    for (let s = 0; s < k; s++) if (weight[s]) for (let i = 0; i < n; i++) value[i] += weight[s] * d[s][i];
    let sum = 0;
    for (let j = 0; j < n; j++) sum += value[rng.int(n)];
    stats[r] = sum / n;
  }
  stats.sort();
  const alpha = 1 - level;
  return {
    estimate: mean(Array.from(caseMean)), lo: quantileSorted(stats, alpha / 2), hi: quantileSorted(stats, 1 - alpha / 2),
    level, resamples, seeds: k, cases: n,
  };
}

/** Per-case difference of the seed means, mean_s a[s][i] - mean_s b[s][i]: the unit of the paired tests. */
export function seedMeanDifferences(a: Matrix, b: Matrix): number[] {
  const n = a[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => mean(a.map((r) => r[i])) - mean(b.map((r) => r[i])));
}
