// Per-axis factors [fd, fh, fw] (each 1 or 2) of the native volume kernels: max-pooling, up-sampling and
// concat_up, forward and backward, called on the addon entries directly. Every
// factor combination on odd and even sizes, NDHWC (c 3, 16, 20) and blocked nCdhw16c (c 32: the addon sees
// n*c/16 images of 16 channels), float32 and bf16, against float64 loops over NCDHW written here (the oracle).
// Up-sampling follows PyTorch's F.interpolate per axis: trilinear with align_corners true (s = o (L-1) / (fL-1))
// or false (s = (o + 0.5) / f - 0.5, clamped at 0), nearest (s = floor(o / f)); a factor of 1 gives s = o.
// Tolerances: max-pooling selects, so it is exact; float32 up-sampling 1e-6 of the largest value; bf16 half a
// bf16 unit in the last place of each value (the output is rounded once) plus float32 noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable, loadAddon } from '../../src/engine/backends/native.js';
import { rng } from '../helpers/gradcheck.js';

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason})`;

type V5 = [number, number, number, number, number];
type F3 = [number, number, number];
type Store = 'ndhwc' | 'blocked';
type Mode = 'trilinear' | 'align_corners' | 'nearest';
type A = Float32Array | Uint16Array;

const COMBOS: F3[] = [];
for (const fd of [1, 2]) for (const fh of [1, 2]) for (const fw of [1, 2]) COMBOS.push([fd, fh, fw]);
const SIZES: F3[] = [[5, 6, 7], [3, 4, 2], [1, 3, 4]];  // the last only where fd = 1 (a single slice)
const MODES: Mode[] = ['trilinear', 'align_corners', 'nearest'];
/** Channel counts per storage: blocked needs multiples of 16 (32: two blocks per image). */
const CHANNELS: Record<Store, number[]> = { ndhwc: [3, 16, 20], blocked: [32] };
const M = 2;

const rand = rng(11);
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const at5 = (s: V5, n: number, c: number, d: number, h: number, w: number) =>
  (((n * s[1] + c) * s[2] + d) * s[3] + h) * s[4] + w;
const pooledShape = (s: V5, f: F3): V5 =>
  [s[0], s[1], Math.floor(s[2] / f[0]), Math.floor(s[3] / f[1]), Math.floor(s[4] / f[2])];
const upShape = (s: V5, f: F3): V5 => [s[0], s[1], s[2] * f[0], s[3] * f[1], s[4] * f[2]];

// ---- storage: NCDHW float64 values <-> the addon's NDHWC / nCdhw16c, float32 or bf16 bits ----

/** bf16 bits of a float32 (round to nearest even; NaN stays a quiet NaN), as the addon's toBf16. */
function bf16Bits(f: Float32Array): Uint16Array {
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length), out = new Uint16Array(f.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}
function fromBf16(h: Uint16Array): Float32Array {
  const u = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
  return new Float32Array(u.buffer);
}
/** Index in storage of NCDHW element (n, c, position p of S). */
function slot(store: Store, C: number, S: number, n: number, c: number, p: number): number {
  return store === 'ndhwc' ? (n * S + p) * C + c : ((n * (C / 16) + (c >> 4)) * S + p) * 16 + (c & 15);
}
function pack(x: ArrayLike<number>, s: V5, store: Store, bf16: boolean): A {
  const [N, C] = s, S = numel(s) / (N * C), out = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++)
    for (let p = 0; p < S; p++) out[slot(store, C, S, n, c, p)] = x[(n * C + c) * S + p];
  return bf16 ? bf16Bits(out) : out;
}
function unpack(a: A, s: V5, store: Store): Float64Array {
  const f = a instanceof Uint16Array ? fromBf16(a) : a;
  const [N, C] = s, S = numel(s) / (N * C), out = new Float64Array(f.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++)
    for (let p = 0; p < S; p++) out[(n * C + c) * S + p] = f[slot(store, C, S, n, c, p)];
  return out;
}
const alloc = (n: number, bf16: boolean): A => (bf16 ? new Uint16Array(n) : new Float32Array(n));
/** The addon's (m, c) of a volume: NDHWC [n, c]; blocked, n*c/16 images of 16 channels. */
const mc = (s: V5, store: Store): [number, number] => (store === 'ndhwc' ? [s[0], s[1]] : [s[0] * s[1] / 16, 16]);

/** A tensor's NCDHW values as the addon stores them (bf16: rounded), and that storage. */
function input(s: V5, store: Store, bf16: boolean, gen: () => number = () => 2 * rand() - 1) {
  const raw = Float64Array.from({ length: numel(s) }, gen);
  const a = pack(raw, s, store, bf16);
  return { a, v: unpack(a, s, store) };
}

// ---- the oracle, float64 over NCDHW ----

/** wins(v, m) of native/volume.cc: larger, or the first NaN. */
const wins = (v: number, m: number) => v > m || (v !== v && m === m);

function poolRef(x: Float64Array, s: V5, f: F3) {
  const ys = pooledShape(s, f), y = new Float64Array(numel(ys)), arg = new Int32Array(numel(ys));
  for (let n = 0; n < s[0]; n++) for (let c = 0; c < s[1]; c++)
    for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
      let best = at5(s, n, c, f[0] * z, f[1] * r, f[2] * q);
      for (let a = 0; a < f[0]; a++) for (let i = 0; i < f[1]; i++) for (let j = 0; j < f[2]; j++) {
        const p = at5(s, n, c, f[0] * z + a, f[1] * r + i, f[2] * q + j);
        if (wins(x[p], x[best])) best = p;
      }
      const o = at5(ys, n, c, z, r, q);
      y[o] = x[best];
      arg[o] = best;
    }
  return { y, arg };
}

/** Output o of an axis of L inputs up-sampled by f reads [i0, weight 1-l] and [i1, weight l] (PyTorch). */
function tap(o: number, L: number, f: number, mode: Mode): [number, number, number] {
  if (mode === 'nearest') { const i = Math.min(Math.floor(o / f), L - 1); return [i, i, 0]; }
  const s = mode === 'align_corners' ? (f * L > 1 ? o * (L - 1) / (f * L - 1) : 0) : Math.max((o + 0.5) / f - 0.5, 0);
  const i0 = Math.min(Math.floor(s), L - 1);
  return [i0, Math.min(i0 + 1, L - 1), s - i0];
}
/** Calls visit(input index, output index, weight) for each of the 8 taps of every output with a weight
 *  (a tap of weight 0 is skipped: 0 * Infinity would make a NaN of a copied value). */
function eachTap(s: V5, f: F3, mode: Mode, visit: (i: number, o: number, wt: number) => void) {
  const ys = upShape(s, f);
  for (let n = 0; n < s[0]; n++) for (let c = 0; c < s[1]; c++)
    for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
      const [d0, d1, ld] = tap(z, s[2], f[0], mode), [h0, h1, lh] = tap(r, s[3], f[1], mode);
      const [w0, w1, lw] = tap(q, s[4], f[2], mode), o = at5(ys, n, c, z, r, q);
      for (const [dd, a] of [[d0, 1 - ld], [d1, ld]]) for (const [hh, b] of [[h0, 1 - lh], [h1, lh]])
        for (const [ww, e] of [[w0, 1 - lw], [w1, lw]]) if (a * b * e !== 0) visit(at5(s, n, c, dd, hh, ww), o, a * b * e);
    }
}
function upRef(x: Float64Array, s: V5, f: F3, mode: Mode): Float64Array {
  const y = new Float64Array(numel(upShape(s, f)));
  eachTap(s, f, mode, (i, o, wt) => { y[o] += wt * x[i]; });
  return y;
}
/** The transpose of upRef, scattered. */
function upTRef(dy: Float64Array, s: V5, f: F3, mode: Mode): Float64Array {
  const dx = new Float64Array(numel(s));
  eachTap(s, f, mode, (i, o, wt) => { dx[i] += wt * dy[o]; });
  return dx;
}

/** Channel slices [c0, c0 + cs) of an NCDHW tensor of C channels, S positions. */
function channels(x: Float64Array, N: number, C: number, S: number, c0: number, cs: number): Float64Array {
  const out = new Float64Array(N * cs * S);
  for (let n = 0; n < N; n++) out.set(x.subarray((n * C + c0) * S, (n * C + c0 + cs) * S), n * cs * S);
  return out;
}
function concat(xs: Float64Array[], cs: number[], N: number, S: number): Float64Array {
  const C = cs.reduce((a, b) => a + b, 0), out = new Float64Array(N * C * S);
  let c0 = 0;
  xs.forEach((x, k) => {
    for (let n = 0; n < N; n++) out.set(x.subarray(n * cs[k] * S, (n + 1) * cs[k] * S), (n * C + c0) * S);
    c0 += cs[k];
  });
  return out;
}

// ---- comparisons ----

function exact(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++)
    if (!(got[i] === want[i] || (got[i] !== got[i] && want[i] !== want[i])))
      assert.fail(`${what}: at ${i} native ${got[i]}, want ${want[i]}`);
}
/** float32: max error 1e-6 of the largest value; bf16: each value within its rounding (2^-8 relative)
 *  + 1e-5 of the largest. */
function close(got: ArrayLike<number>, want: ArrayLike<number>, bf16: boolean, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1e-3;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < got.length; i++) {
    const tol = bf16 ? 2 ** -8 * Math.abs(want[i]) + 1e-5 * scale : 1e-6 * scale;
    if (!(Math.abs(got[i] - want[i]) <= tol))
      assert.fail(`${what}: at ${i} native ${got[i]}, want ${want[i]} (tolerance ${tol})`);
  }
}
/** <a, b> = <c, d> in float64, relative to the sums of |terms|. */
type Vals = ArrayLike<number>;
function adjoint(a: Vals, b: Vals, c: Vals, d: Vals, tol: number, what: string) {
  let ab = 0, cd = 0, s1 = 0, s2 = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; s1 += Math.abs(a[i] * b[i]); }
  for (let i = 0; i < c.length; i++) { cd += c[i] * d[i]; s2 += Math.abs(c[i] * d[i]); }
  const e = Math.abs(ab - cd) / Math.max(s1, s2, 1e-30);
  assert.ok(e <= tol, `${what}: <up(x), dy> = ${ab} but <x, upT(dy)> = ${cd} (relative ${e})`);
}

/** Every (factors, sizes) case: sizes of one slice only with fd = 1. */
function* cases(): Generator<[F3, F3]> {
  for (const f of COMBOS) for (const z of SIZES) if (z[0] >= f[0] || f[0] === 1) yield [f, z];
}
const name = (f: F3, s: V5, store: Store) => `factors [${f}] ${store} [${s}]`;
const dtype = (bf16: boolean) => (bf16 ? 'bf16' : 'float32');

// ---- max-pool ----

for (const bf16 of [false, true])
  for (const store of ['ndhwc', 'blocked'] as Store[])
    test(`volume factors: max-pool ${dtype(bf16)} ${store}, all factor combinations: forward, gradient`, { skip }, () => {
      const A = loadAddon();
      let runs = 0;
      for (const [f, z] of cases()) for (const C of CHANNELS[store]) {
        const s: V5 = [M, C, ...z], ys = pooledShape(s, f), [m, c] = mc(s, store);
        // few distinct values (ties: the first max wins) and some NaNs (the first NaN wins)
        const x = input(s, store, bf16, () => (rand() < 0.03 ? NaN : Math.floor(rand() * 5) - 2));
        const { y: want, arg } = poolRef(x.v, s, f);
        const y = alloc(numel(ys), bf16);
        A.maxpoolFwd(x.a, y, m, c, z, undefined, undefined, f);
        exact(unpack(y, ys, store), want, `maxpool ${name(f, s, store)}`);
        const dy = input(ys, store, bf16), dx = alloc(numel(s), bf16).fill(7);  // stale values must be cleared
        A.maxpoolBwd(x.a, dy.a, dx, m, c, z, f);
        const wantDx = new Float64Array(numel(s));
        arg.forEach((p, i) => { wantDx[p] = dy.v[i]; });
        exact(unpack(dx, s, store), wantDx, `maxpool gradient ${name(f, s, store)}`);
        runs++;
      }
      assert.ok(runs >= COMBOS.length * 2, 'every factor combination ran');
    });

// ---- up-sampling ----

for (const mode of MODES)
  for (const bf16 of [false, true])
    for (const store of ['ndhwc', 'blocked'] as Store[])
      test(`volume factors: up-sampling ${mode} ${dtype(bf16)} ${store}, all factor combinations: forward, gradient`,
        { skip }, () => {
          const A = loadAddon();
          const nearest = mode === 'nearest', ac = mode === 'align_corners';
          for (const [f, z] of cases()) for (const C of CHANNELS[store]) {
            const s: V5 = [M, C, ...z], ys = upShape(s, f), [m, c] = mc(s, store);
            const what = `up ${mode} ${name(f, s, store)}`;
            const x = input(s, store, bf16), y = alloc(numel(ys), bf16);
            A.upsampleFwd(x.a, y, m, c, z, nearest, ac, f);
            const yv = unpack(y, ys, store);
            close(yv, upRef(x.v, s, f, mode), bf16, what);
            const dy = input(ys, store, bf16), dx = alloc(numel(s), bf16);
            A.upsampleBwd(dy.a, dx, m, c, z, nearest, ac, f);
            const dxv = unpack(dx, s, store);
            close(dxv, upTRef(dy.v, s, f, mode), bf16, `${what} gradient`);
            adjoint(yv, dy.v, x.v, dxv, bf16 ? 4e-3 : 1e-5, `${what} adjoint`);
          }
        });

// ---- concat_up ----

/** [parts' channels, low's channels, layout argument] per storage: blocked only when every count allows;
 *  'blocked' with a part of 5 channels runs every tensor NDHWC (the addon's rule). */
const CONCATS: [number[], number, 'nhwc' | 'blocked', Store][] = [
  [[3, 5], 20, 'nhwc', 'ndhwc'],
  [[16, 5], 3, 'blocked', 'ndhwc'],
  [[16, 32], 16, 'blocked', 'blocked'],
];

for (const mode of MODES)
  for (const bf16 of [false, true])
    test(`volume factors: concat_up ${mode} ${dtype(bf16)}, two parts, NDHWC and blocked, all factor combinations`,
      { skip }, () => {
        const A = loadAddon();
        const nearest = mode === 'nearest', ac = mode === 'align_corners';
        for (const [f, z] of cases()) for (const [parts, cl, layout, store] of CONCATS) {
          const ls: V5 = [M, cl, ...z], hi = upShape(ls, f), S = hi[2] * hi[3] * hi[4];
          const ct = parts.reduce((a, b) => a + b, cl), ys: V5 = [M, ct, hi[2], hi[3], hi[4]];
          const what = `concat_up ${mode} [${parts}] + ${cl} ${name(f, ls, store)}`;
          const xs = parts.map((pc) => input([M, pc, hi[2], hi[3], hi[4]], store, bf16));
          const low = input(ls, store, bf16), y = alloc(numel(ys), bf16);
          A.concatUpFwd(xs.map((p) => p.a), low.a, y, M, cl, z, nearest, ac, layout, 0, 0, 0, f);
          const yv = unpack(y, ys, store);
          exact(channels(yv, M, ct, S, 0, ct - cl), concat(xs.map((p) => p.v), parts, M, S), `${what}: the parts`);
          close(channels(yv, M, ct, S, ct - cl, cl), upRef(low.v, ls, f, mode), bf16, `${what}: the up-sampled input`);
          const dy = input(ys, store, bf16);
          const dxs = parts.map((pc) => alloc(M * pc * S, bf16)), dlow = alloc(numel(ls), bf16);
          A.concatUpBwd(dy.a, dxs, dlow, M, cl, z, nearest, ac, layout, f);
          let c0 = 0;
          parts.forEach((pc, k) => {
            const got = unpack(dxs[k], [M, pc, hi[2], hi[3], hi[4]], store);
            exact(got, channels(dy.v, M, ct, S, c0, pc), `${what}: gradient of part ${k}`);
            c0 += pc;
          });
          const want = upTRef(channels(dy.v, M, ct, S, ct - cl, cl), ls, f, mode);
          close(unpack(dlow, ls, store), want, bf16, `${what}: gradient of the low input`);
        }
      });

// ---- the default, and what is refused ----

test('volume factors: [2, 2, 2] is bit for bit the call without factors (six entries, both dtypes)', { skip }, () => {
  const A = loadAddon();
  const bytes = (a: A) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const bf16 of [false, true]) for (const [z, C] of [[[5, 6, 7], 20], [[3, 4, 2], 32]] as [F3, number][]) {
    const s: V5 = [M, C, ...z], ps = pooledShape(s, [2, 2, 2]), us = upShape(s, [2, 2, 2]), [m, c] = mc(s, 'ndhwc');
    const x = input(s, 'ndhwc', bf16).a, what = `${dtype(bf16)} [${s}]`;
    /** run(outputs, factors?) once without factors and once with [2, 2, 2]; outputs of n values each. */
    const twice = (label: string, ns: number[], run: (outs: A[], f?: F3) => void) => {
      const a = ns.map((n) => alloc(n, bf16)), b = ns.map((n) => alloc(n, bf16));
      run(a);
      run(b, [2, 2, 2]);
      a.forEach((o, k) => assert.deepEqual(bytes(o), bytes(b[k]), `${label} ${what} output ${k}`));
    };
    twice('maxpoolFwd', [numel(ps)], ([y], f) =>
      (f ? A.maxpoolFwd(x, y, m, c, z, undefined, undefined, f) : A.maxpoolFwd(x, y, m, c, z)));
    const dp = input(ps, 'ndhwc', bf16).a;
    twice('maxpoolBwd', [numel(s)], ([dx], f) =>
      (f ? A.maxpoolBwd(x, dp, dx, m, c, z, f) : A.maxpoolBwd(x, dp, dx, m, c, z)));
    const du = input(us, 'ndhwc', bf16).a;
    for (const [nearest, ac] of [[false, true], [false, false], [true, false]]) {
      twice('upsampleFwd', [numel(us)], ([y], f) =>
        (f ? A.upsampleFwd(x, y, m, c, z, nearest, ac, f) : A.upsampleFwd(x, y, m, c, z, nearest, ac)));
      twice('upsampleBwd', [numel(s)], ([dx], f) =>
        (f ? A.upsampleBwd(du, dx, m, c, z, nearest, ac, f) : A.upsampleBwd(du, dx, m, c, z, nearest, ac)));
      // a part of 16 channels: blocked with C = 32, NDHWC with C = 20
      const hs: V5 = [M, 16, us[2], us[3], us[4]], ys: V5 = [M, 16 + C, us[2], us[3], us[4]];
      const part = input(hs, 'ndhwc', bf16).a, dc = input(ys, 'ndhwc', bf16).a;
      twice('concatUpFwd', [numel(ys)], ([y], f) => (f
        ? A.concatUpFwd([part], x, y, M, C, z, nearest, ac, 'blocked', undefined, undefined, undefined, f)
        : A.concatUpFwd([part], x, y, M, C, z, nearest, ac, 'blocked')));
      twice('concatUpBwd', [numel(hs), numel(s)], ([dpart, dlow], f) => (f
        ? A.concatUpBwd(dc, [dpart], dlow, M, C, z, nearest, ac, 'blocked', f)
        : A.concatUpBwd(dc, [dpart], dlow, M, C, z, nearest, ac, 'blocked')));
    }
  }
});

test('volume factors: bad factors are refused with a message naming them', { skip }, () => {
  const A = loadAddon();
  const f = (n: number) => new Float32Array(n);
  const x = f(2 * 4 * 4 * 4), size = [4, 4, 4], no = undefined;  // m 1, c 2, [4, 4, 4]
  const bad: [unknown, RegExp][] = [
    [[3, 2, 2], /factors \(argument 7\): each factor must be 1 or 2, got 3/],
    [[2, 2], /factors \(argument 7\) must have 3 values \[fd, fh, fw\], got 2/],
    [[2, 0.5, 2], /factors.*got 0.5/],
    [[2, '2', 2], /factors.*got a non-number/],
    ['x', /factors \(argument 7\) must be an array/],
  ];
  for (const [fs, msg] of bad) {
    const at = (entry: string) => new RegExp(`${entry}: ${msg.source}`);
    assert.throws(() => A.maxpoolFwd(x, f(16), 1, 2, size, no, no, fs as number[]), at('maxpoolFwd'));
    assert.throws(() => A.upsampleFwd(x, f(1024), 1, 2, size, false, true, fs as number[]), at('upsampleFwd'));
    assert.throws(() => A.upsampleBwd(f(1024), x, 1, 2, size, false, true, fs as number[]), at('upsampleBwd'));
  }
  assert.throws(() => A.maxpoolBwd(x, f(16), x, 1, 2, size, [2, 2, 3]),
    /maxpoolBwd: factors \(argument 6\): each factor must be 1 or 2, got 3/);
  assert.throws(() => A.concatUpFwd([f(1024)], x, f(1536), 1, 2, size, false, true, 'nhwc', no, no, no, [1, 2]),
    /concatUpFwd: factors \(argument 12\) must have 3 values/);
  assert.throws(() => A.concatUpBwd(f(1536), [f(1024)], x, 1, 2, size, false, true, 'nhwc', [2, 4, 2]),
    /concatUpBwd: factors \(argument 9\): each factor must be 1 or 2, got 4/);
  // the high-resolution tensors are sized by the factors
  assert.throws(() => A.concatUpFwd([f(512)], x, f(1536), 1, 2, size, false, true, 'nhwc', no, no, no, [2, 2, 1]),
    /concatUpFwd: y \(argument 2\) has 1536 values, expected 1024/);
  assert.throws(() => A.upsampleFwd(x, f(1024), 1, 2, size, false, true, [1, 2, 2]),
    /upsampleFwd: y \(argument 1\) has 1024 values, expected 512/);
  // images have no per-axis factors, not even [2, 2, 2] or [2, 2]
  const img = f(2 * 16), msg = /per-axis factors are for volumes/;
  assert.throws(() => A.maxpoolFwd(img, f(8), 1, 2, [4, 4], no, no, [2, 2]),
    new RegExp(`maxpoolFwd: factors \\(argument 7\\): ${msg.source}`));
  assert.throws(() => A.maxpoolBwd(img, f(8), img, 1, 2, [4, 4], [2, 2, 2]),
    new RegExp(`maxpoolBwd: factors \\(argument 6\\): ${msg.source}`));
  assert.throws(() => A.upsampleFwd(img, f(128), 1, 2, [4, 4], false, true, [2, 2, 2]), msg);
  assert.throws(() => A.upsampleBwd(f(128), img, 1, 2, [4, 4], false, true, [2, 2, 2]), msg);
  assert.throws(() => A.concatUpFwd([], img, f(128), 1, 2, [4, 4], false, true, 'nhwc', 0, 0, 0, [2, 2, 2]), msg);
  assert.throws(() => A.concatUpBwd(f(128), [], img, 1, 2, [4, 4], false, true, 'nhwc', [2, 2, 2]), msg);
  // in-place and strided concat_up are an image's; undefined or 0 are accepted on volumes
  assert.throws(() => A.concatUpFwd([], x, f(1024), 1, 2, size, false, true, 'nhwc', 0, 0, 64),
    /concatUpFwd: in-place or strided concat_up .* is for images only/);
  A.concatUpFwd([], x, f(1024), 1, 2, size, false, true, 'nhwc', 0, 0, 0, [2, 2, 2]);
});

test('volume factors: a window larger than the input is refused; a factor of 1 fits a single slice', { skip }, () => {
  const A = loadAddon();
  const f = (n: number) => new Float32Array(n);
  const x = Float32Array.from({ length: 2 * 1 * 4 * 4 }, (_, i) => i);  // m 1, c 2, [1, 4, 4]
  assert.throws(() => A.maxpoolFwd(x, f(8), 1, 2, [1, 4, 4]), /maxpoolFwd: input \[1,2,1,4,4\] is smaller than 2x2x2/);
  assert.throws(() => A.maxpoolBwd(x, f(8), f(32), 1, 2, [1, 4, 4], [2, 1, 2]),
    /maxpoolBwd: input \[1,2,1,4,4\] is smaller than 2x1x2/);
  const y = f(8);
  A.maxpoolFwd(x, y, 1, 2, [1, 4, 4], undefined, undefined, [1, 2, 2]);
  // channels innermost: the max of each 2x2 window of channel 0 (even values) and channel 1 (odd)
  assert.deepEqual([...y], [10, 11, 14, 15, 26, 27, 30, 31]);
});

test('volume factors: nearest up-sampling copies an infinity without making NaNs of its neighbours', { skip }, () => {
  const A = loadAddon();
  for (const f of [[1, 1, 1], [1, 2, 2], [2, 2, 2]] as F3[]) for (const [parts, cl, layout, store] of CONCATS) {
    const ls: V5 = [M, cl, 3, 4, 2], hi = upShape(ls, f), S = hi[2] * hi[3] * hi[4];
    const ct = parts.reduce((a, b) => a + b, cl), ys: V5 = [M, ct, hi[2], hi[3], hi[4]];
    const low = Float64Array.from({ length: numel(ls) }, (_, i) => (i % 7 === 3 ? Infinity : i % 5));
    const y = new Float32Array(numel(ys));
    const xs = parts.map((pc) => pack(new Float64Array(M * pc * S), [M, pc, hi[2], hi[3], hi[4]], store, false));
    A.concatUpFwd(xs, pack(low, ls, store, false), y, M, cl, ls.slice(2), true, false, layout, 0, 0, 0, f);
    exact(channels(unpack(y, ys, store), M, ct, S, ct - cl, cl), upRef(low, ls, f, 'nearest'), `concat_up [${f}] ${store}`);
  }
});
