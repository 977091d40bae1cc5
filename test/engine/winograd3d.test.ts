// Winograd F(2x2x2, 3x3x3) for float32 volume convs (native/winograd3d.cc), two ways:
// - the algorithm itself in float64 here (transforms, their signs, the data gradient's turned
//   kernel, the weight gradient's chain rule through the transforms), against float64 direct
//   convolutions, on odd sizes: exact up to float64 rounding, so a wrong coefficient fails;
// - the native kernel (setWinograd3d(2): every shape it can run) against oneDNN's direct conv
//   (setWinograd3d(0)) on the same random data: forward with and without bias and ReLU, data
//   gradient, weight gradient and bias gradient, odd sizes, batch 1 and 3, 16-48 channels,
//   within 1e-5 of the output's largest value (a wrong transform is off by O(1)).
// Run: npm run build && node scripts/run-tests.mjs winograd3d
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tryLoadAddon, type NativeAddon } from '../../src/engine/backends/native/addon.js';
import { rng } from '../helpers/gradcheck.js';

// ---- float64: the algorithm ----

const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
const AT = [[1, 1, 1, 0], [0, 1, -1, -1]];
const transpose = (m: number[][]) => m[0].map((_, j) => m.map((r) => r[j]));

/** m (r x s) applied along each axis of the cube t (s^3 values, index (a * s + b) * s + e): r^3 values. */
function along3(m: number[][], t: Float64Array): Float64Array {
  const r = m.length, s = m[0].length;
  const out = new Float64Array(r ** 3);
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) for (let k = 0; k < r; k++) {
    let acc = 0;
    for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) for (let e = 0; e < s; e++)
      acc += m[i][a] * m[j][b] * m[k][e] * t[(a * s + b) * s + e];
    out[(i * r + j) * r + k] = acc;
  }
  return out;
}

interface Dims { n: number; c: number; o: number; d: number; h: number; w: number }
/** NCDHW index. */
const at = (ch: number, s: Dims, i: number, cc: number, z: number, y: number, x: number) => (((i * ch + cc) * s.d + z) * s.h + y) * s.w + x;

/** Direct float64 conv (3x3x3, pad 1) and its gradients: y from x, w; dx from dy; dw from x, dy. */
function direct(s: Dims, x: Float64Array, w: Float64Array, dy: Float64Array) {
  const y = new Float64Array(s.n * s.o * s.d * s.h * s.w), dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  for (let i = 0; i < s.n; i++) for (let o = 0; o < s.o; o++) for (let z = 0; z < s.d; z++) for (let r = 0; r < s.h; r++) for (let q = 0; q < s.w; q++) {
    const yk = at(s.o, s, i, o, z, r, q);
    for (let c = 0; c < s.c; c++) for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let e = 0; e < 3; e++) {
      const zz = z + a - 1, rr = r + b - 1, qq = q + e - 1;
      if (zz < 0 || rr < 0 || qq < 0 || zz >= s.d || rr >= s.h || qq >= s.w) continue;
      const xk = at(s.c, s, i, c, zz, rr, qq), wk = (((o * s.c + c) * 3 + a) * 3 + b) * 3 + e;
      y[yk] += x[xk] * w[wk];
      dx[xk] += dy[yk] * w[wk];
      dw[wk] += dy[yk] * x[xk];
    }
  }
  return { y, dx, dw };
}

/** The 4x4x4 input tile of tile (ti, tj, tk) of channel cc (zero outside), or the 2x2x2 output tile (size 2, offset 0). */
function tile(t: Float64Array, ch: number, s: Dims, i: number, cc: number, ti: number, tj: number, tk: number, size: number, off: number) {
  const out = new Float64Array(size ** 3);
  for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) for (let e = 0; e < size; e++) {
    const z = 2 * ti + off + a, y = 2 * tj + off + b, x = 2 * tk + off + e;
    if (z >= 0 && y >= 0 && x >= 0 && z < s.d && y < s.h && x < s.w) out[(a * size + b) * size + e] = t[at(ch, s, i, cc, z, y, x)];
  }
  return out;
}

/** Winograd forward in float64: y = A'[sum_c (G w G') . (B' x B)] A per tile; w [O][C][27]. */
function winoFwd(s: Dims, x: Float64Array, w: Float64Array): Float64Array {
  const u = Array.from({ length: s.o * s.c }, (_, k) => along3(G, w.subarray(k * 27, k * 27 + 27)));
  const y = new Float64Array(s.n * s.o * s.d * s.h * s.w);
  const td = Math.ceil(s.d / 2), th = Math.ceil(s.h / 2), tw = Math.ceil(s.w / 2);
  for (let i = 0; i < s.n; i++) for (let ti = 0; ti < td; ti++) for (let tj = 0; tj < th; tj++) for (let tk = 0; tk < tw; tk++) {
    const v = Array.from({ length: s.c }, (_, c) => along3(BT, tile(x, s.c, s, i, c, ti, tj, tk, 4, -1)));
    for (let o = 0; o < s.o; o++) {
      const m = new Float64Array(64);
      for (let c = 0; c < s.c; c++) for (let p = 0; p < 64; p++) m[p] += v[c][p] * u[o * s.c + c][p];
      const out = along3(AT, m);
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let e = 0; e < 2; e++) {
        const z = 2 * ti + a, yy = 2 * tj + b, xx = 2 * tk + e;
        if (z < s.d && yy < s.h && xx < s.w) y[at(s.o, s, i, o, z, yy, xx)] = out[(a * 2 + b) * 2 + e];
      }
    }
  }
  return y;
}

/** The data gradient's weights: w'[c][o][a][b][e] = w[o][c][2-a][2-b][2-e]. */
function turned(s: Dims, w: Float64Array): Float64Array {
  const t = new Float64Array(w.length);
  for (let o = 0; o < s.o; o++) for (let c = 0; c < s.c; c++) for (let k = 0; k < 27; k++) t[(c * s.o + o) * 27 + k] = w[(o * s.c + c) * 27 + 26 - k];
  return t;
}

/** Winograd weight gradient in float64: dU = sum over tiles (B' x B) . (A dy A'), dw = G' dU G. */
function winoWgrad(s: Dims, x: Float64Array, dy: Float64Array): Float64Array {
  const du = Array.from({ length: s.o * s.c }, () => new Float64Array(64));
  const A = transpose(AT), GT = transpose(G);
  const td = Math.ceil(s.d / 2), th = Math.ceil(s.h / 2), tw = Math.ceil(s.w / 2);
  for (let i = 0; i < s.n; i++) for (let ti = 0; ti < td; ti++) for (let tj = 0; tj < th; tj++) for (let tk = 0; tk < tw; tk++) {
    const v = Array.from({ length: s.c }, (_, c) => along3(BT, tile(x, s.c, s, i, c, ti, tj, tk, 4, -1)));
    for (let o = 0; o < s.o; o++) {
      const z = along3(A, tile(dy, s.o, s, i, o, ti, tj, tk, 2, 0));
      for (let c = 0; c < s.c; c++) for (let p = 0; p < 64; p++) du[o * s.c + c][p] += v[c][p] * z[p];
    }
  }
  const dw = new Float64Array(s.o * s.c * 27);
  for (let k = 0; k < s.o * s.c; k++) dw.set(along3(GT, du[k]), k * 27);
  return dw;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>) {
  let scale = 0, e = 0;
  for (let i = 0; i < want.length; i++) { scale = Math.max(scale, Math.abs(want[i])); e = Math.max(e, Math.abs(got[i] - want[i])); }
  return e / scale;
}

for (const s of [{ n: 1, c: 2, o: 3, d: 5, h: 7, w: 3 }, { n: 2, c: 3, o: 2, d: 4, h: 3, w: 6 }, { n: 1, c: 1, o: 1, d: 1, h: 2, w: 3 }]) {
  test(`float64 F(2x2x2, 3x3x3) N${s.n} C${s.c} O${s.o} ${s.d}x${s.h}x${s.w}: forward, data and weight gradients equal the direct conv's`, () => {
    const r = rng(3 + s.d);
    const x = Float64Array.from({ length: s.n * s.c * s.d * s.h * s.w }, () => 2 * r() - 1);
    const w = Float64Array.from({ length: s.o * s.c * 27 }, () => 2 * r() - 1);
    const dy = Float64Array.from({ length: s.n * s.o * s.d * s.h * s.w }, () => 2 * r() - 1);
    const ref = direct(s, x, w, dy);
    const y = winoFwd(s, x, w);
    // the data gradient: the same algorithm on dy with the kernel turned and C, O swapped
    const dx = winoFwd({ ...s, c: s.o, o: s.c }, dy, turned(s, w));
    const dw = winoWgrad(s, x, dy);
    for (const [name, got, want] of [['y', y, ref.y], ['dx', dx, ref.dx], ['dw', dw, ref.dw]] as const)
      assert.ok(maxRelErr(got, want) < 1e-13, `${name}: ${maxRelErr(got, want)}`);
  });
}

// ---- the native kernel against oneDNN's direct conv ----

const loaded = tryLoadAddon();
const A = loaded.addon as NativeAddon;
const skip = !loaded.addon ? `native addon not built (${loaded.reason})`
  : !A.info().avx512 ? 'this CPU has no AVX-512: no 3D Winograd kernel' : false;

interface Case extends Dims { bias: boolean; relu: boolean }
const CASES: Case[] = [
  { n: 1, c: 16, o: 16, d: 5, h: 7, w: 3, bias: false, relu: false },
  { n: 3, c: 32, o: 48, d: 9, h: 6, w: 11, bias: true, relu: true },
  { n: 1, c: 48, o: 16, d: 8, h: 10, w: 6, bias: true, relu: false },
  { n: 3, c: 16, o: 32, d: 1, h: 4, w: 2, bias: false, relu: true },  // one tile deep, D = 1
  { n: 2, c: 32, o: 32, d: 12, h: 14, w: 10, bias: true, relu: true }, // several tile blocks a volume
];

function runNative(cs: Case, mode: 0 | 1 | 2, seed: number) {
  const { n, c, o, d, h, w } = cs, r = rng(seed), vox = d * h * w;
  const rand = (k: number, s = 1) => Float32Array.from({ length: k }, () => s * (2 * r() - 1));
  // blocked (nCdhw16c) buffers filled at random: both paths read and write the same layout
  const x = rand(n * c * vox), wt = rand(o * c * 27, 1 / Math.sqrt(27 * c)), dy = rand(n * o * vox);
  const b = cs.bias ? rand(o) : null;
  const geo = { n, c, o, size: [d, h, w], kernel: [3, 3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  const y = new Float32Array(n * o * vox), dx = new Float32Array(x.length), dw = new Float32Array(wt.length);
  const db = cs.bias ? new Float32Array(o) : null;
  A.setWinograd3d(mode);
  try {
    A.convFwd(x, wt, b, y, geo, cs.relu);
    A.convBwdData(dy, wt, dx, geo);
    A.convBwdWeights(x, dy, dw, db, geo);
  } finally { A.setWinograd3d(1); }
  return { y, dx, dw, db };
}

for (const cs of CASES) {
  const name = `N${cs.n} C${cs.c} O${cs.o} ${cs.d}x${cs.h}x${cs.w}${cs.bias ? ' bias' : ''}${cs.relu ? ' relu' : ''}`;
  test(`convFwd / convBwdData / convBwdWeights 3D Winograd ${name}: oneDNN's direct results within 1e-5`, { skip }, () => {
    const wino = runNative(cs, 2, 11), ref = runNative(cs, 0, 11);
    for (const k of ['y', 'dx', 'dw', 'db'] as const) {
      const got = wino[k], want = ref[k];
      if (!got || !want) continue;
      const e = maxRelErr(got, want);
      console.log(`  ${k}: max error ${e.toExponential(2)} of the largest value`);
      assert.ok(e < 1e-5, `${k}: ${e}`);
      assert.notDeepEqual(Array.from(got), Array.from(want), `${k}: the Winograd kernel ran (its sums differ)`);
    }
  });
}

test('3D Winograd off (setWinograd3d(0), setWinograd(false)) gives oneDNN\'s direct bits', { skip }, () => {
  const cs = CASES[1];
  const direct = runNative(cs, 0, 5);
  A.setWinograd(false);
  try {
    const off = runNative(cs, 2, 5);
    for (const k of ['y', 'dx', 'dw', 'db'] as const) assert.deepEqual(off[k], direct[k], k);
  } finally { A.setWinograd(true); }
});

test('convFwd 3D Winograd on strided views (channel ranges of wider buffers) leaves other channels alone', { skip }, () => {
  const n = 2, c = 16, o = 32, d = 5, h = 6, w = 7, vox = d * h * w, xct = 48, yct = 64, xc0 = 16, yc0 = 16;
  const r = rng(9);
  const xb = Float32Array.from({ length: n * xct * vox }, () => 2 * r() - 1);
  const wt = Float32Array.from({ length: o * c * 27 }, () => (2 * r() - 1) / 12);
  const b = Float32Array.from({ length: o }, () => r());
  const geo = { n, c, o, size: [d, h, w], kernel: [3, 3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  const run = (mode: 0 | 2) => {
    const yb = new Float32Array(n * yct * vox).fill(7);
    A.setWinograd3d(mode);
    try {
      A.convFwd(xb.subarray(xc0 * vox, xc0 * vox + (n - 1) * xct * vox + c * vox), wt, b,
        yb.subarray(yc0 * vox, yc0 * vox + (n - 1) * yct * vox + o * vox), geo, true, xct * vox, yct * vox);
    } finally { A.setWinograd3d(1); }
    return yb;
  };
  const wino = run(2), ref = run(0);
  assert.ok(maxRelErr(wino, ref) < 1e-5, `${maxRelErr(wino, ref)}`);
  for (let i = 0; i < n; i++) for (let k = 0; k < yct * vox; k++) {
    const inside = k >= yc0 * vox && k < (yc0 + o) * vox;
    if (!inside) assert.equal(wino[i * yct * vox + k], 7, `image ${i}, value ${k} outside the view`);
  }
  assert.notDeepEqual(wino, ref, 'the Winograd kernel ran');
});

test('convBnFwd 3D (eval conv + folded batch norm + ReLU) through Winograd: the direct conv within 1e-5', { skip }, () => {
  const n = 2, c = 32, o = 16, d = 7, h = 5, w = 9, vox = d * h * w, r = rng(17);
  const rand = (k: number, lo: number, hi: number) => Float32Array.from({ length: k }, () => lo + (hi - lo) * r());
  const x = rand(n * c * vox, -1, 1), wt = rand(o * c * 27, -0.05, 0.05), b = rand(o, -0.1, 0.1);
  const gamma = rand(o, 0.5, 1.5), beta = rand(o, -0.2, 0.2), rm = rand(o, -0.1, 0.1), rv = rand(o, 0.5, 1.5);
  const geo = { n, c, o, size: [d, h, w], kernel: [3, 3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  const run = (mode: 0 | 2) => {
    const y = new Float32Array(n * o * vox);
    A.setWinograd3d(mode);
    try { A.convBnFwd(x, wt, b, gamma, beta, rm, rv, y, geo, 1e-5, true, 0, 0, {}, false); } finally { A.setWinograd3d(1); }
    return y;
  };
  const wino = run(2), ref = run(0);
  assert.ok(maxRelErr(wino, ref) < 1e-5, `${maxRelErr(wino, ref)}`);
  assert.notDeepEqual(wino, ref, 'the Winograd kernel ran');
});

test('setWinograd3d(1), the default: Winograd where measured faster (large volumes), oneDNN on small ones', { skip }, () => {
  const bitsOf = (cs: Case, mode: 0 | 1 | 2) => runNative(cs, mode, 23);
  const same = (a: ReturnType<typeof bitsOf>, b: ReturnType<typeof bitsOf>, k: 'y' | 'dx' | 'dw') => a[k].every((v, i) => v === b[k][i]);
  // 20^3 at 16 channels: every pass is Winograd's
  const big: Case = { n: 2, c: 16, o: 16, d: 20, h: 20, w: 20, bias: false, relu: false };
  const [b0, b1, b2] = [bitsOf(big, 0), bitsOf(big, 1), bitsOf(big, 2)];
  for (const k of ['y', 'dx', 'dw'] as const) assert.ok(same(b1, b2, k) && !same(b1, b0, k), `20^3 ${k}: Winograd`);
  // 5x7x5 at 64 -> 128 (the last tiles' unused outputs: 1.65x the work): every pass is oneDNN's
  const small: Case = { n: 2, c: 64, o: 128, d: 5, h: 7, w: 5, bias: false, relu: false };
  const [s0, s1] = [bitsOf(small, 0), bitsOf(small, 1)];
  for (const k of ['y', 'dx', 'dw'] as const) assert.ok(same(s1, s0, k), `5x7x5 ${k}: direct`);
});

test('3D Winograd forward: a volume gives the same bits alone and in a batch (predict and serve batch windows differently)', { skip }, () => {
  const n = 3, c = 32, o = 32, d = 12, h = 12, w = 12, vox = d * h * w, r = rng(29);
  const x = Float32Array.from({ length: n * c * vox }, () => 2 * r() - 1);
  const wt = Float32Array.from({ length: o * c * 27 }, () => (2 * r() - 1) / 30);
  const b = Float32Array.from({ length: o }, () => r() - 0.5);
  const fwd = (k: number, xs: Float32Array, mode: 0 | 1) => {
    const y = new Float32Array(k * o * vox);
    A.setWinograd3d(mode);
    try {
      A.convFwd(xs, wt, b, y, { n: k, c, o, size: [d, h, w], kernel: [3, 3, 3], stride: 1, pad: 1, layout: 'blocked' }, true);
    } finally { A.setWinograd3d(1); }
    return y;
  };
  const all = fwd(n, x, 1);
  for (let i = 0; i < n; i++) {
    const alone = fwd(1, x.subarray(i * c * vox, (i + 1) * c * vox), 1);
    assert.deepEqual(all.subarray(i * o * vox, (i + 1) * o * vox), alone, `volume ${i}`);
  }
  assert.notDeepEqual(all, fwd(n, x, 0), 'the rule took Winograd here');
});
