// Small statistics the fingerprint and the rules share: percentiles of plain arrays (linear
// interpolation, as numpy's default) and nnU-Net's intensity summary of a sample.
import type { IntensityStats } from '../io/dataset-plan.js';

/** q-th percentile (0..100) of values already sorted ascending. */
export function sortedPercentile(s: ArrayLike<number>, q: number): number {
  if (!s.length) return NaN;
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const percentileOf = (values: readonly number[], q: number) => sortedPercentile([...values].sort((a, b) => a - b), q);
export const median = (values: readonly number[]) => percentileOf(values, 50);

/** Per axis percentile of rows of equal length (e.g. the spacings of every case). */
export const columnPercentile = (rows: readonly (readonly number[])[], q: number): number[] =>
  rows[0].map((_, k) => percentileOf(rows.map((r) => r[k]), q));

/** Mean, std, min, max, median and the 0.5 / 99.5 percentiles of a sample; null when empty. */
export function intensityStats(values: ArrayLike<number>): IntensityStats | null {
  if (!values.length) return null;
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  const mean = sum / s.length;
  let s2 = 0;
  for (let i = 0; i < s.length; i++) s2 += (s[i] - mean) ** 2;
  const r = (x: number) => +x.toPrecision(6);
  return {
    mean: r(mean), std: r(Math.sqrt(s2 / s.length)), min: r(s[0]), max: r(s[s.length - 1]), median: r(sortedPercentile(s, 50)),
    p00_5: r(sortedPercentile(s, 0.5)), p99_5: r(sortedPercentile(s, 99.5)), samples: s.length,
  };
}
