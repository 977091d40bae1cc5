// Percentiles of plain arrays, numpy's default (linear interpolation). Here, at the bottom, because
// intensity normalisation (data) and the surface-distance metrics (metrics) both need them.

/** Linear-interpolated percentile (numpy's default), q in [0, 100]. Sorts a copy. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
