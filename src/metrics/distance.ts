// Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012: lower envelope of
// parabolas, one pass per axis, linear time) and surface distances for HD95.

const FAR = 1e20; // finite "infinity": keeps the envelope arithmetic free of Inf - Inf

/** 1D squared distance transform of f (stride-addressed), with sample spacing sp, into out. */
function dt1d(f: Float64Array, off: number, stride: number, n: number, sp: number, out: Float64Array, v: Int32Array, z: Float64Array, g: Float64Array): void {
  for (let i = 0; i < n; i++) g[i] = f[off + i * stride];
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  const meet = (q: number, r: number) => (g[q] + (q * sp) ** 2 - g[r] - (r * sp) ** 2) / (2 * sp * (q - r));
  for (let q = 1; q < n; q++) {
    let s = meet(q, v[k]);
    while (s <= z[k]) s = meet(q, v[--k]); // z[0] = -Infinity stops this at k = 0
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    const xq = q * sp;
    while (z[k + 1] < xq) k++;
    const d = xq - v[k] * sp;
    out[off + q * stride] = d * d + g[v[k]];
  }
}

/**
 * Squared Euclidean distance from every pixel to the nearest pixel with feature[i] != 0.
 * spacing = [x (column) spacing, y (row) spacing]. With no feature at all, values are ~1e20.
 */
export function edtSquared(feature: ArrayLike<number>, h: number, w: number, spacing: [number, number] = [1, 1]): Float64Array {
  const d = new Float64Array(h * w);
  for (let i = 0; i < d.length; i++) d[i] = feature[i] ? 0 : FAR;
  const m = Math.max(h, w);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  const g = new Float64Array(m);
  for (let x = 0; x < w; x++) dt1d(d, x, w, h, spacing[1], d, v, z, g); // columns
  for (let y = 0; y < h; y++) dt1d(d, y * w, 1, w, spacing[0], d, v, z, g); // rows
  return d;
}

/**
 * Surface (boundary) pixels: in the set with a 4-neighbour outside it; the image edge counts
 * as outside (as scipy's binary_erosion with border 0, which medpy's hd95 uses).
 */
export function boundary(mask: Uint8Array, h: number, w: number): Uint8Array {
  const b = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w]) b[i] = 1;
    }
  }
  return b;
}

/** Linear-interpolated percentile (numpy's default), q in [0, 100]. Sorts a copy. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * 95th percentile of the symmetric surface distances between two binary masks (0/1 bytes),
 * in pixels or in the units of spacing. undefined when either mask is empty.
 */
export function hd95(a: Uint8Array, b: Uint8Array, h: number, w: number, spacing: [number, number] = [1, 1]): number | undefined {
  const ba = boundary(a, h, w);
  const bb = boundary(b, h, w);
  let na = 0;
  let nb = 0;
  for (let i = 0; i < ba.length; i++) {
    na += ba[i];
    nb += bb[i];
  }
  if (!na || !nb) return undefined;
  const da = edtSquared(ba, h, w, spacing);
  const db = edtSquared(bb, h, w, spacing);
  const dist = new Float64Array(na + nb);
  let j = 0;
  for (let i = 0; i < ba.length; i++) {
    if (ba[i]) dist[j++] = Math.sqrt(db[i]);
    if (bb[i]) dist[j++] = Math.sqrt(da[i]);
  }
  return percentile(dist, 95);
}
