// Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012: lower envelope of
// parabolas, one pass per axis, linear time) and surface distances for HD95.

import { percentile } from '../data/percentile.js';

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
 * Squared Euclidean distance from every voxel to the nearest voxel with feature[i] != 0, in N
 * dimensions. dims and spacing run from the fastest-varying axis out (x, y[, z]), as NIfTI's.
 * With no feature at all, values are ~1e20.
 */
export function edtSquared(feature: ArrayLike<number>, dims: readonly number[], spacing: readonly number[] = dims.map(() => 1)): Float64Array {
  const total = dims.reduce((a, b) => a * b, 1);
  const d = new Float64Array(total);
  for (let i = 0; i < total; i++) d[i] = feature[i] ? 0 : FAR;
  const m = Math.max(...dims);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  const g = new Float64Array(m);
  // one pass per axis, outermost first (the order does not change the exact result)
  for (let a = dims.length - 1; a >= 0; a--) {
    const n = dims[a];
    const stride = dims.slice(0, a).reduce((x, y) => x * y, 1);
    const outer = total / (stride * n);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < stride; i++) dt1d(d, o * stride * n + i, stride, n, spacing[a], d, v, z, g);
  }
  return d;
}

/**
 * Surface voxels: in the set with a face neighbour (4 in 2D, 6 in 3D) outside it; the volume's
 * edge counts as outside (as scipy's binary_erosion with border 0, which medpy uses).
 */
export function boundary(mask: Uint8Array, dims: readonly number[]): Uint8Array {
  const b = new Uint8Array(mask.length);
  const strides = dims.map((_, a) => dims.slice(0, a).reduce((x, y) => x * y, 1));
  const coord = new Int32Array(dims.length);
  for (let i = 0; i < mask.length; i++) {
    if (i > 0) for (let a = 0; a < dims.length && ++coord[a] === dims[a]; a++) coord[a] = 0; // odometer
    if (!mask[i]) continue;
    for (let a = 0; a < dims.length; a++) {
      const c = coord[a], s = strides[a];
      if (c === 0 || c === dims[a] - 1 || !mask[i - s] || !mask[i + s]) { b[i] = 1; break; }
    }
  }
  return b;
}

/** Distances from each surface voxel of a to b's surface, and of b to a's; null when either is empty. */
export function surfaceDistances(a: Uint8Array, b: Uint8Array, dims: readonly number[], spacing: readonly number[] = dims.map(() => 1)): { ab: Float64Array; ba: Float64Array } | null {
  const ba0 = boundary(a, dims);
  const bb0 = boundary(b, dims);
  // the EDT only needs the box holding both surfaces: every feature and every query lies in it
  const lo = dims.map(() => Infinity), hi = dims.map(() => -1);
  const coord = new Int32Array(dims.length);
  let na = 0, nb = 0;
  for (let i = 0; i < ba0.length; i++) {
    if (i > 0) for (let k = 0; k < dims.length && ++coord[k] === dims[k]; k++) coord[k] = 0;
    if (!ba0[i] && !bb0[i]) continue;
    na += ba0[i];
    nb += bb0[i];
    for (let k = 0; k < dims.length; k++) { lo[k] = Math.min(lo[k], coord[k]); hi[k] = Math.max(hi[k], coord[k]); }
  }
  if (!na || !nb) return null;
  const box = dims.map((_, k) => hi[k] - lo[k] + 1);
  const sa = cropBox(ba0, dims, lo, box);
  const sb = cropBox(bb0, dims, lo, box);
  const da = edtSquared(sa, box, spacing);
  const db = edtSquared(sb, box, spacing);
  const ab = new Float64Array(na), ba = new Float64Array(nb);
  let i = 0, j = 0;
  for (let v = 0; v < sa.length; v++) {
    if (sa[v]) ab[i++] = Math.sqrt(db[v]);
    if (sb[v]) ba[j++] = Math.sqrt(da[v]);
  }
  return { ab, ba };
}

function cropBox(m: Uint8Array, dims: readonly number[], lo: number[], box: number[]): Uint8Array {
  const out = new Uint8Array(box.reduce((x, y) => x * y, 1));
  const strides = dims.map((_, a) => dims.slice(0, a).reduce((x, y) => x * y, 1));
  const c = new Int32Array(box.length);
  for (let o = 0; o < out.length; o++) {
    if (o > 0) for (let k = 0; k < box.length && ++c[k] === box[k]; k++) c[k] = 0;
    let src = 0;
    for (let k = 0; k < box.length; k++) src += (c[k] + lo[k]) * strides[k];
    out[o] = m[src];
  }
  return out;
}

/**
 * 95th percentile of the symmetric surface distances between two binary masks (0/1 bytes),
 * in voxels or in the units of spacing (medpy's hd95). undefined when either mask is empty.
 */
export function hd95(a: Uint8Array, b: Uint8Array, dims: readonly number[], spacing?: readonly number[]): number | undefined {
  const d = surfaceDistances(a, b, dims, spacing);
  if (!d) return undefined;
  const all = new Float64Array(d.ab.length + d.ba.length);
  all.set(d.ab);
  all.set(d.ba, d.ab.length);
  return percentile(all, 95);
}

/** Average symmetric surface distance: the mean of the two directed mean distances (medpy's assd). */
export function assd(a: Uint8Array, b: Uint8Array, dims: readonly number[], spacing?: readonly number[]): number | undefined {
  const d = surfaceDistances(a, b, dims, spacing);
  if (!d) return undefined;
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
  return (mean(d.ab) + mean(d.ba)) / 2;
}
