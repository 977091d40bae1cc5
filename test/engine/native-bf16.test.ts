// The native addon's bf16 activations (a Uint16Array of the upper halves of float32 values)
// against its own float32 kernels: inputs are rounded to bf16, the float32 kernel runs on the
// rounded values, the bf16 kernel on the bf16 bits, and the bf16 result must be the float32 one
// within bf16 rounding (bit for bit for copies and selections). Shapes are odd (N2 C3 H5 W7),
// wide enough for the 8-channel SIMD paths and their tails (C 11, 16), and big enough for the
// threaded paths (>= 32768 values). Skips when the addon is not built.
// Run: npm run build && node scripts/run-tests.mjs native-bf16
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tryLoadAddon, type NativeAddon } from '../../src/engine/backends/native/addon.js';
import { rng } from '../helpers/gradcheck.js';

const loaded = tryLoadAddon();
const skip = loaded.addon ? false : `native addon not built (${loaded.reason}): run node scripts/build-native.mjs`;
const A = loaded.addon as NativeAddon;

// ---- bf16 in JS ----
const f1 = new Float32Array(1), u1 = new Uint32Array(f1.buffer);

/** The bf16 bits of float32 bits u: round to nearest even, NaN stays NaN (quiet). */
function bf16OfBits(u: number): number {
  u >>>= 0;
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
/** The bf16 bits of x (a JS number: NaN payloads are not kept). */
function bf16Bits(x: number): number {
  f1[0] = x;
  return bf16OfBits(u1[0]);
}
function bitsToF32(h: number): number {
  u1[0] = (h << 16) >>> 0;
  return f1[0];
}
function toBf16(x: ArrayLike<number>): Uint16Array {
  const o = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) o[i] = bf16Bits(x[i]);
  return o;
}
function fromBf16(h: Uint16Array): Float32Array {
  const o = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) o[i] = bitsToF32(h[i]);
  return o;
}
/** x rounded to bf16 values, as float32. */
const roundF32 = (x: ArrayLike<number>) => fromBf16(toBf16(x));

// ---- data and checks ----
/** n bf16-exact values, uniform in [lo, hi). */
function data(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  const r = rng(seed);
  return roundF32(Float32Array.from({ length: n }, () => lo + (hi - lo) * r()));
}
/** A float32 pair of a bf16-exact array: the same values as f32 and as bf16 bits. */
function pair(x: Float32Array): { f: Float32Array; h: Uint16Array } {
  return { f: Float32Array.from(x), h: toBf16(x) };
}

/** got (bf16) is ref (float32) within bf16 rounding: relative 1/128 with a small absolute floor. */
function closeBf16(got: Uint16Array, ref: Float32Array, what: string) {
  assert.equal(got.length, ref.length, `${what}: length`);
  let scale = 0;
  for (const v of ref) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  const floor = 1e-6 * Math.max(scale, 1e-30);
  for (let i = 0; i < ref.length; i++) {
    const g = bitsToF32(got[i]), r = ref[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(r) && Number.isNaN(g), `${what}[${i}]: got ${g}, expected ${r}`);
      continue;
    }
    if (!Number.isFinite(r)) { assert.equal(g, r, `${what}[${i}]`); continue; }
    assert.ok(Math.abs(g - r) <= Math.abs(r) / 128 + floor, `${what}[${i}]: got ${g}, expected ${r} (bf16 ${bitsToF32(bf16Bits(r))})`);
  }
}
/** got (bf16) is exactly ref (float32, bf16-exact), bit for bit (-0 and NaN included). */
function sameBits(got: Uint16Array, ref: Float32Array, what: string) {
  assert.equal(got.length, ref.length, `${what}: length`);
  const want = new Uint16Array(ref.length);
  const rb = new Uint32Array(ref.buffer, ref.byteOffset, ref.length);
  for (let i = 0; i < ref.length; i++) want[i] = rb[i] >>> 16;
  for (let i = 0; i < ref.length; i++)
    if (got[i] !== want[i]) assert.fail(`${what}[${i}]: got 0x${got[i].toString(16)}, expected 0x${want[i].toString(16)} (${ref[i]})`);
}
/** Is the float32 array bf16-exact (low halves zero)? Guards the exact-copy tests. */
function assertExact(x: Float32Array) {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) assert.equal(u[i] & 0xffff, 0, 'input is bf16-exact');
}

/** Shapes [n, c, h, w]: odd, SIMD with tail (C 11), SIMD only (C 16), threaded (>= 32768 values). */
const SHAPES: [number, number, number, number][] = [[2, 3, 5, 7], [1, 11, 6, 5], [2, 16, 4, 6], [2, 24, 26, 30]];
const dims = (s: number[]) => s.join('x');
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

// ---- conversions ----
test('f32ToBf16 rounds to nearest even and keeps Inf and NaN; bf16ToF32 is exact', { skip }, () => {
  const cases: [number, number][] = [ // float32 bits -> bf16 bits
    [0x3f800000, 0x3f80], [0x3f808000, 0x3f80], [0x3f818000, 0x3f82], [0x3f808001, 0x3f81], [0x3f807fff, 0x3f80],
    [0xbf818000, 0xbf82], [0x7f7fffff, 0x7f80], [0x80000000, 0x8000], [0x00000000, 0x0000], [0x7f800000, 0x7f80],
    [0xff800000, 0xff80], [0x7fc00000, 0x7fc0], [0xffc00000, 0xffc0], [0x7f800001, 0x7fc0], [0x7fffffff, 0x7fff],
    [0x00018000, 0x0002], [0x3f7fffff, 0x3f80],
  ];
  for (const n of [cases.length, 8, 3]) { // 8-wide SIMD path, its tail, and the scalar path
    const src = new Float32Array(n), u = new Uint32Array(src.buffer), dst = new Uint16Array(n);
    for (let i = 0; i < n; i++) u[i] = cases[i][0];
    A.f32ToBf16(src, dst);
    for (let i = 0; i < n; i++) {
      assert.equal(dst[i], cases[i][1], `f32ToBf16(0x${cases[i][0].toString(16)}) = 0x${dst[i].toString(16)}, expected 0x${cases[i][1].toString(16)}`);
      assert.equal(dst[i], bf16OfBits(u[i]), 'the JS helper agrees');
    }
  }
  // A large random array (threaded, with NaNs, Infs and ties sprinkled) against the JS rounding.
  const r = rng(7), n = 100003, src = new Float32Array(n), u = new Uint32Array(src.buffer);
  for (let i = 0; i < n; i++) u[i] = (r() * 4294967296) >>> 0;
  for (let i = 0; i < n; i += 97) u[i] = (u[i] & 0xffff0000) | 0x8000; // ties
  src[5] = NaN; src[77] = Infinity; src[1000] = -Infinity;
  const dst = new Uint16Array(n);
  A.f32ToBf16(src, dst);
  for (let i = 0; i < n; i++) if (dst[i] !== bf16OfBits(u[i])) assert.fail(`f32ToBf16 at ${i}: 0x${u[i].toString(16)} -> 0x${dst[i].toString(16)}, expected 0x${bf16OfBits(u[i]).toString(16)}`);
  // Every bf16 bit pattern back to float32 exactly (the upper half; NaN payloads kept).
  const all = new Uint16Array(65536).map((_, i) => i), back = new Float32Array(65536);
  A.bf16ToF32(all, back);
  const bb = new Uint32Array(back.buffer);
  for (let i = 0; i < 65536; i++) if (bb[i] !== ((i << 16) >>> 0)) assert.fail(`bf16ToF32(0x${i.toString(16)}) = 0x${bb[i].toString(16)}`);
  assert.throws(() => A.f32ToBf16(new Float32Array(4), new Uint16Array(5)), /f32ToBf16: dst \(argument 1\) has 5 values, expected 4/);
  assert.throws(() => A.f32ToBf16(new Float32Array(4), new Float32Array(4) as unknown as Uint16Array), /f32ToBf16: dst .*bf16 Uint16Array/);
  assert.throws(() => A.bf16ToF32(new Float32Array(4) as unknown as Uint16Array, new Float32Array(4)), /bf16ToF32: src .*bf16 Uint16Array/);
});

test('allFinite finds NaN and Inf in float32 and bf16', { skip }, () => {
  for (const n of [5, 40000]) {
    const f = data(n, 3);
    assert.equal(A.allFinite(f), true);
    assert.equal(A.allFinite(toBf16(f)), true);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const g = Float32Array.from(f);
      g[n - 2] = bad;
      assert.equal(A.allFinite(g), false, `f32 with ${bad}`);
      assert.equal(A.allFinite(toBf16(g)), false, `bf16 with ${bad}`);
    }
    const h = toBf16(f);
    h[1] = 0x7f81; // a NaN with only a low mantissa bit
    assert.equal(A.allFinite(h), false);
    h[1] = 0x7f7f; // the largest finite bf16
    assert.equal(A.allFinite(h), true);
  }
});

test('nchwToNhwc / nhwcToNchw convert between dtypes while transposing', { skip }, () => {
  for (const s of SHAPES) {
    const [n, c, h, w] = s, len = numel(s);
    const raw = Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37) * 3); // not bf16-exact
    const ref = new Float32Array(len), back = new Float32Array(len);
    A.nchwToNhwc(raw, ref, n, c, h, w);
    // f32 -> bf16 rounds the transposed values; bf16 -> bf16 and bf16 -> f32 are exact.
    const hb = new Uint16Array(len);
    A.nchwToNhwc(raw, hb, n, c, h, w);
    assert.deepEqual(hb, toBf16(ref), `nchwToNhwc f32->bf16 ${dims(s)}`);
    const src = toBf16(raw), hh = new Uint16Array(len), hf = new Float32Array(len);
    A.nchwToNhwc(src, hh, n, c, h, w);
    assert.deepEqual(hh, toBf16(ref), `nchwToNhwc bf16->bf16 ${dims(s)}`);
    A.nchwToNhwc(src, hf, n, c, h, w);
    assert.deepEqual(hf, roundF32(ref), `nchwToNhwc bf16->f32 ${dims(s)}`);
    // and back
    A.nhwcToNchw(hh, back, n, c, h, w);
    assert.deepEqual(back, roundF32(raw), `nhwcToNchw bf16->f32 ${dims(s)}`);
    const hb2 = new Uint16Array(len), hh2 = new Uint16Array(len);
    A.nhwcToNchw(ref, hb2, n, c, h, w);
    assert.deepEqual(hb2, toBf16(raw), `nhwcToNchw f32->bf16 ${dims(s)}`);
    A.nhwcToNchw(hh, hh2, n, c, h, w);
    assert.deepEqual(hh2, toBf16(raw), `nhwcToNchw bf16->bf16 ${dims(s)}`);
  }
});

// ---- pooling and resampling ----
/** Values with ties, signed zeros, Inf and NaN, to check selections bit for bit. */
function special(n: number, seed: number): Float32Array {
  const r = rng(seed), pool = [-1, -0, 0, 0.5, 1, 1, 2, -Infinity, Infinity, NaN];
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? pool[Math.floor(r() * pool.length)] : Math.round(r() * 8) / 4 - 1));
}

test('maxpoolFwd / maxpoolBwd: bf16 selects exactly what float32 selects', { skip }, () => {
  for (const s of SHAPES) {
    const [n, c, h, w] = s, ho = Math.floor(h / 2), wo = Math.floor(w / 2);
    for (const [kind, xs] of [['random', data(numel(s), 11)], ['ties/NaN', special(numel(s), 12)]] as const) {
      assertExact(xs);
      const x = pair(xs), g = pair(data(n * c * ho * wo, 13));
      const yf = new Float32Array(n * c * ho * wo), yh = new Uint16Array(yf.length);
      A.maxpoolFwd(x.f, yf, n, c, [h, w]);
      A.maxpoolFwd(x.h, yh, n, c, [h, w]);
      sameBits(yh, yf, `maxpoolFwd ${kind} ${dims(s)}`);
      const df = new Float32Array(numel(s)), dh = new Uint16Array(df.length).fill(0x1234); // floored rows must be cleared
      A.maxpoolBwd(x.f, g.f, df, n, c, [h, w]);
      A.maxpoolBwd(x.h, g.h, dh, n, c, [h, w]);
      sameBits(dh, df, `maxpoolBwd ${kind} ${dims(s)}`);
    }
  }
});

test('upsampleFwd / upsampleBwd (nearest, bilinear, align_corners): bf16 within rounding of float32', { skip }, () => {
  const modes = [['nearest', true, false], ['bilinear', false, false], ['bilinear align_corners', false, true]] as const;
  for (const s of SHAPES) {
    const [n, c, h, w] = s, out = n * c * 4 * h * w;
    for (const [name, nearest, align] of modes) {
      const x = pair(data(numel(s), 21)), dy = pair(data(out, 22));
      const yf = new Float32Array(out), yh = new Uint16Array(out);
      A.upsampleFwd(x.f, yf, n, c, [h, w], nearest, align);
      A.upsampleFwd(x.h, yh, n, c, [h, w], nearest, align);
      if (nearest) sameBits(yh, yf, `upsampleFwd ${name} ${dims(s)}`);
      else closeBf16(yh, yf, `upsampleFwd ${name} ${dims(s)}`);
      const df = new Float32Array(numel(s)), dh = new Uint16Array(df.length);
      A.upsampleBwd(dy.f, df, n, c, [h, w], nearest, align);
      A.upsampleBwd(dy.h, dh, n, c, [h, w], nearest, align);
      // Sums in float32 in the float32 kernel's order, rounded once: exactly the rounded result.
      assert.deepEqual(dh, toBf16(df), `upsampleBwd ${name} ${dims(s)}`);
    }
  }
});

// ---- channels ----
test('concat / splitChannels copy bf16 exactly', { skip }, () => {
  for (const P of [1, 35, 4099]) {
    const cs = [3, 8, 5, 16];
    const xs = cs.map((c, k) => pair(data(P * c, 30 + k)));
    const ct = cs.reduce((a, b) => a + b, 0);
    const yf = new Float32Array(P * ct), yh = new Uint16Array(P * ct);
    A.concat(xs.map((x) => x.f), yf, P);
    A.concat(xs.map((x) => x.h), yh, P);
    sameBits(yh, yf, `concat P${P}`);
    const outs = cs.map((c) => new Uint16Array(P * c));
    A.splitChannels(yh, outs, P);
    outs.forEach((o, k) => sameBits(o, xs[k].f, `splitChannels P${P} part ${k}`));
  }
});

// ---- element-wise ----
const LENS = [7, 8, 61, 40007];

test('unary / unaryGrad / binary: bf16 within rounding of float32; relu selections exact', { skip }, () => {
  for (const n of LENS) {
    for (const [kind, alpha, name] of [[0, 0, 'relu'], [1, 0.1, 'leaky'], [2, 0, 'sigmoid'], [3, -1.7, 'scale']] as const) {
      for (const xs of [data(n, 40 + kind, -6, 6), special(n, 50 + kind)]) {
        const x = pair(xs), yf = new Float32Array(n), yh = new Uint16Array(n);
        A.unary(kind, x.f, yf, alpha);
        A.unary(kind, x.h, yh, alpha);
        if (kind === 0) sameBits(yh, yf, `unary ${name} n${n}`);
        else closeBf16(yh, yf, `unary ${name} n${n}`);
      }
    }
    for (const [kind, alpha, name] of [[0, 0, 'relu'], [1, 0.2, 'leaky'], [2, 0, 'sigmoid']] as const) {
      for (const ss of [data(n, 60 + kind), special(n, 70 + kind)]) {
        const sv = pair(kind === 2 ? roundF32(ss.map((v) => 1 / (1 + Math.exp(-v)))) : ss), dy = pair(data(n, 80 + kind));
        const df = new Float32Array(n), dh = new Uint16Array(n);
        A.unaryGrad(kind, sv.f, dy.f, df, alpha);
        A.unaryGrad(kind, sv.h, dy.h, dh, alpha);
        if (kind === 0) sameBits(dh, df, `unaryGrad ${name} n${n}`);
        else closeBf16(dh, df, `unaryGrad ${name} n${n}`);
      }
    }
    for (const [kind, name] of [[0, 'add'], [1, 'mul']] as const) {
      const p = pair(data(n, 90 + kind)), q = pair(special(n, 95 + kind));
      const yf = new Float32Array(n), yh = new Uint16Array(n);
      A.binary(kind, p.f, q.f, yf);
      A.binary(kind, p.h, q.h, yh);
      assert.deepEqual(yh, toBf16(yf), `binary ${name} n${n}: the float32 result rounded once`);
    }
  }
});

test('addN accumulates in float32 and rounds once; meanAll and fill take bf16', { skip }, () => {
  for (const n of LENS) {
    for (const k of [1, 2, 5]) {
      const xs = Array.from({ length: k }, (_, i) => pair(data(n, 100 + i, -100, 100)));
      const yf = new Float32Array(n), yh = new Uint16Array(n);
      A.addN(xs.map((x) => x.f), yf);
      A.addN(xs.map((x) => x.h), yh);
      assert.deepEqual(yh, toBf16(yf), `addN k${k} n${n}`);
    }
    const x = pair(data(n, 110));
    const mf = new Float32Array(1), mh = new Float32Array(1);
    A.meanAll(x.f, mf);
    A.meanAll(x.h, mh);
    assert.ok(Math.abs(mh[0] - mf[0]) <= 1e-6 * Math.max(1e-3, Math.abs(mf[0])), `meanAll n${n}: ${mh[0]} vs ${mf[0]}`);
    for (const v of [0.1, -3.3, 1 + 2 ** -8, 3e38, NaN]) {
      const yh = new Uint16Array(n);
      A.fill(yh, v);
      const want = bf16Bits(v);
      assert.ok(yh.every((b) => b === want), `fill(${v}) -> 0x${want.toString(16)}`);
    }
  }
});

test('softmax / softmaxGrad / dropout: bf16 within rounding of float32', { skip }, () => {
  for (const [P, C] of [[7, 3], [35, 17], [9000, 4], [3, 3000]]) {
    const x = pair(data(P * C, 120, -5, 5)), dy = pair(data(P * C, 121));
    const yf = new Float32Array(P * C), yh = new Uint16Array(P * C);
    A.softmax(x.f, yf, C);
    A.softmax(x.h, yh, C);
    closeBf16(yh, yf, `softmax P${P} C${C}`);
    const y = pair(roundF32(yf)), df = new Float32Array(P * C), dh = new Uint16Array(P * C);
    A.softmaxGrad(y.f, dy.f, df, C);
    A.softmaxGrad(y.h, dy.h, dh, C);
    assert.deepEqual(dh, toBf16(df), `softmaxGrad P${P} C${C}`);
  }
  for (const s of SHAPES) {
    const [n, c, h, w] = s, len = numel(s), x = pair(data(len, 130));
    for (const nhwc of [false, true]) {
      for (const p of [0, 0.3, 1]) {
        const yf = new Float32Array(len), yh = new Uint16Array(len);
        A.dropout(x.f, yf, p, 42, 7, n, c, h, w, nhwc);
        A.dropout(x.h, yh, p, 42, 7, n, c, h, w, nhwc);
        assert.deepEqual(yh, toBf16(yf), `dropout p${p} nhwc=${nhwc} ${dims(s)}`);
      }
    }
  }
});

// ---- losses ----
test('loss / lossGrad: bf16 logits and/or targets match float32 on the rounded values', { skip }, () => {
  const kinds = ['bce', 'dice', 'bce_dice', 'ce', 'ce_dice'];
  for (const [n, k, h, w] of [[2, 1, 5, 7], [2, 3, 5, 7], [2, 2, 100, 90]]) {
    const len = n * k * h * w, r = rng(140 + k);
    const zs = data(len, 141 + k, -4, 4);
    for (let kind = 0; kind < 5; kind++) {
      const soft = kind >= 3;
      // targets: binary for sigmoid kinds, one-hot over channels for softmax kinds
      const ts = new Float32Array(len);
      for (let p = 0; p < n * h * w; p++) {
        const hot = Math.floor(r() * k);
        for (let c = 0; c < k; c++) ts[p * k + c] = soft ? (c === hot ? 1 : 0) : r() > 0.5 ? 1 : 0;
      }
      const z = pair(zs), t = pair(ts), what = `${kinds[kind]} [${n},${k},${h},${w}]`;
      const lf = new Float32Array(1);
      A.loss(z.f, t.f, lf, kind, 0.5, n, k, h, w);
      const gf = new Float32Array(len), up = new Float32Array([1.5]);
      A.lossGrad(z.f, t.f, up, gf, kind, 0.5, n, k, h, w);
      for (const [zz, tt, mix] of [[z.h, t.h, 'z bf16, t bf16'], [z.h, t.f, 'z bf16, t f32'], [z.f, t.h, 'z f32, t bf16']] as const) {
        const lh = new Float32Array(1);
        A.loss(zz, tt, lh, kind, 0.5, n, k, h, w);
        assert.ok(Math.abs(lh[0] - lf[0]) <= 1e-6 * Math.max(1, Math.abs(lf[0])), `loss ${what} ${mix}: ${lh[0]} vs ${lf[0]}`);
        if (zz instanceof Uint16Array) {
          const gh = new Uint16Array(len);
          A.lossGrad(zz, tt, up, gh, kind, 0.5, n, k, h, w);
          closeBf16(gh, gf, `lossGrad ${what} ${mix}`);
        } else {
          const g2 = new Float32Array(len);
          A.lossGrad(zz, tt, up, g2, kind, 0.5, n, k, h, w);
          for (let i = 0; i < len; i++)
            assert.ok(Math.abs(g2[i] - gf[i]) <= 1e-6 * Math.abs(gf[i]) + 1e-12, `lossGrad ${what} ${mix}[${i}]: ${g2[i]} vs ${gf[i]}`);
        }
      }
    }
  }
});

// ---- dtype checks ----
test('a float32 / bf16 mix in one call is an error naming both arguments', { skip }, () => {
  const f = (n: number) => new Float32Array(n), h = (n: number) => new Uint16Array(n);
  assert.throws(() => A.maxpoolFwd(h(2 * 3 * 4 * 4), f(2 * 3 * 2 * 2), 2, 3, [4, 4]), /maxpoolFwd: y is float32 but x is bf16/);
  assert.throws(() => A.maxpoolBwd(f(48), h(12), f(48), 1, 3, [4, 4]), /maxpoolBwd: dy is bf16 but x is float32/);
  assert.throws(() => A.upsampleFwd(h(12), f(48), 1, 3, [2, 2], true, false), /upsampleFwd: y is float32 but x is bf16/);
  assert.throws(() => A.upsampleBwd(f(48), h(12), 1, 3, [2, 2], false, true), /upsampleBwd: dx is bf16 but dy is float32/);
  assert.throws(() => A.concat([h(6), f(4)], h(10), 2), /concat: inputs\[1\] is float32 but y is bf16/);
  assert.throws(() => A.splitChannels(f(10), [f(6), h(4)], 2), /splitChannels: outputs\[1\] is bf16 but dy is float32/);
  assert.throws(() => A.unary(0, h(5), f(5), 0), /unary: y is float32 but x is bf16/);
  assert.throws(() => A.unaryGrad(0, f(5), h(5), f(5), 0), /unaryGrad: dy is bf16 but saved is float32/);
  assert.throws(() => A.binary(0, f(5), f(5), h(5)), /binary: y is bf16 but a is float32/);
  assert.throws(() => A.addN([h(5), f(5)], h(5)), /addN: inputs\[1\] is float32 but y is bf16/);
  assert.throws(() => A.softmax(h(6), f(6), 3), /softmax: y is float32 but x is bf16/);
  assert.throws(() => A.softmaxGrad(h(6), h(6), f(6), 3), /softmaxGrad: dx is float32 but y is bf16/);
  assert.throws(() => A.dropout(f(6), h(6), 0.5, 1, 1, 1, 6, 1, 1, false), /dropout: y is bf16 but x is float32/);
  assert.throws(() => A.lossGrad(h(6), f(6), f(1), f(6), 0, 0.5, 1, 1, 2, 3), /lossGrad: dlogits is float32 but logits is bf16/);
  // the scalars stay float32
  assert.throws(() => A.meanAll(h(6), h(1) as unknown as Float32Array), /meanAll: out \(argument 1\) must be a Float32Array/);
  assert.throws(() => A.loss(h(6), h(6), h(1) as unknown as Float32Array, 0, 0.5, 1, 1, 2, 3), /loss: out \(argument 2\) must be a Float32Array/);
  assert.throws(() => A.maxpoolFwd(new Float64Array(48) as unknown as Float32Array, f(12), 1, 3, [4, 4]), /maxpoolFwd: x \(argument 0\) must be a Float32Array or a bf16 Uint16Array/);
});

test('bf16 sigmoid: every one of the 65536 bf16 inputs gives the exactly rounded sigmoid (NaN stays NaN)', { skip }, () => {
  const x = new Uint16Array(65536).map((_, i) => i), y = new Uint16Array(65536);
  A.unary(2, x, y, 0);
  for (let i = 0; i < 65536; i++) {
    const v = bitsToF32(i);
    if (Number.isNaN(v)) { assert.ok(Number.isNaN(bitsToF32(y[i])), `sigmoid(NaN bits ${i}) is not NaN`); continue; }
    assert.equal(y[i], bf16Bits(1 / (1 + Math.exp(-v))), `sigmoid(${v})`);
  }
});
