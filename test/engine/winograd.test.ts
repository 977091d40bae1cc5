// The bf16 Winograd F(2x2, 3x3) conv (native/winograd.cc) behind convBnFwd: against a float64
// reference of the same conv + folded batch norm + ReLU, next to oneDNN's direct bf16 conv on the
// same data. Winograd rounds its transformed tiles and weights to bf16, so it is less exact than
// the direct conv; the bounds below are relative to sum |x w| of each output (what rounding
// errors scale with) and to the direct conv's own error. Strided views (channel ranges of wider
// buffers, as the plan's in-place concatenation passes them) must leave other channels alone.
// Run: npm run build && node scripts/run-tests.mjs winograd
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tryLoadAddon, type NativeAddon } from '../../src/engine/backends/native/addon.js';
import { rng } from '../helpers/gradcheck.js';

const loaded = tryLoadAddon();
const A = loaded.addon as NativeAddon;
// oneDNN's float32 Winograd and its bf16 convs need AVX-512 (avx512_core: ISA bits 0x27); on an AVX2-only CPU
// the engine never asks for them (plans fall back to direct convs), so these kernel tests have nothing to check
const AVX512_CORE = 0x27;
const isa = loaded.addon ? A.info().isa : 0;
const skip = !loaded.addon ? `native addon not built (${loaded.reason}): run node scripts/build-native.mjs`
  : (isa & AVX512_CORE) !== AVX512_CORE ? `this CPU has no AVX-512 (oneDNN's ISA 0x${isa.toString(16)}): no Winograd kernels to test` : false;

const f1 = new Float32Array(1), u1 = new Uint32Array(f1.buffer);
function bf16Bits(x: number): number {
  f1[0] = x;
  const u = u1[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
function bitsToF32(h: number): number {
  u1[0] = (h << 16) >>> 0;
  return f1[0];
}

interface Case { n: number; c: number; o: number; h: number; w: number; xc?: [number, number]; yc?: [number, number] }

/** NCHW index -> nChw16c index within an image of `ct` channels (channel offset c0 into it). */
function blockedIndex(_ct: number, h: number, w: number, c: number, y: number, x: number): number {
  return ((Math.floor(c / 16) * h + y) * w + x) * 16 + (c % 16);
}

function run(cs: Case, seed: number, winograd: boolean, nanAt = -1, f32 = false) {
  const { n, c, o, h, w } = cs;
  const [xc0, xct] = cs.xc ?? [0, c], [yc0, yct] = cs.yc ?? [0, o];
  const r = rng(seed);
  // x: bf16 values in [-2, 2) stored nChw16c in a buffer of xct channels a image, at channel xc0.
  const xv = Float64Array.from({ length: n * c * h * w }, () => bitsToF32(bf16Bits(4 * r() - 2)));
  const xb = f32 ? new Float32Array(n * xct * h * w) : new Uint16Array(n * xct * h * w);
  for (let i = 0; i < n; i++) for (let ci = 0; ci < c; ci++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = xv[((i * c + ci) * h + y) * w + x];
    xb[i * xct * h * w + blockedIndex(xct, h, w, xc0 + ci, y, x)] = f32 ? v : bf16Bits(v);
  }
  const wt = Float32Array.from({ length: o * c * 9 }, () => (2 * r() - 1) / Math.sqrt(c * 9));
  const bias = Float32Array.from({ length: o }, () => 0.2 * r() - 0.1);
  const gamma = Float32Array.from({ length: o }, () => 0.5 + r());
  const beta = Float32Array.from({ length: o }, () => 0.4 * r() - 0.2);
  const rm = Float32Array.from({ length: o }, () => 0.2 * r() - 0.1);
  const rv = Float32Array.from({ length: o }, () => 0.5 + r());
  const eps = 1e-5;
  if (nanAt >= 0) xb[nanAt] = f32 ? NaN : 0x7fc0;
  const ONE = f32 ? 1 : 0x3f80; // channels outside the view must keep it
  const yb = (f32 ? new Float32Array(n * yct * h * w) : new Uint16Array(n * yct * h * w)).fill(ONE);
  A.setWinograd(winograd);
  try {
    // the views: from the first channel of image 0 to the last of image n - 1
    const xs = xc0 * h * w, ys = yc0 * h * w;
    A.convBnFwd(xb.subarray(xs, xs + (n - 1) * xct * h * w + c * h * w), wt, bias, gamma, beta, rm, rv,
      yb.subarray(ys, ys + (n - 1) * yct * h * w + o * h * w), { n, c, o, size: [h, w], kernel: [3, 3], stride: 1, pad: 1, layout: 'blocked' }, eps, true,
      xct * h * w, yct * h * w, {}, false);
  } finally { A.setWinograd(true); }
  // float64 reference of the folded conv, and sum |x w| per output
  const ref = new Float64Array(n * o * h * w), mag = new Float64Array(n * o * h * w);
  for (let oi = 0; oi < o; oi++) {
    const s = gamma[oi] / Math.sqrt(rv[oi] + eps), b0 = s * (bias[oi] - rm[oi]) + beta[oi];
    for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let acc = b0, m = Math.abs(b0);
      for (let ci = 0; ci < c; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const yy = y + ky - 1, xx = x + kx - 1;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        const p = xv[((i * c + ci) * h + yy) * w + xx] * wt[((oi * c + ci) * 3 + ky) * 3 + kx] * s;
        acc += p; m += Math.abs(p);
      }
      const k = ((i * o + oi) * h + y) * w + x;
      ref[k] = Math.max(0, acc); mag[k] = m;
    }
  }
  const got = new Float64Array(n * o * h * w);
  let untouched = true;
  for (let i = 0; i < n; i++) for (let cc = 0; cc < yct; cc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = yb[i * yct * h * w + blockedIndex(yct, h, w, cc, y, x)];
    if (cc >= yc0 && cc < yc0 + o) got[((i * o + cc - yc0) * h + y) * w + x] = f32 ? v : bitsToF32(v);
    else if (v !== ONE) untouched = false;
  }
  let maxRel = 0, sumRel = 0;
  for (let k = 0; k < ref.length; k++) {
    const e = Math.abs(got[k] - ref[k]) / mag[k];
    maxRel = Math.max(maxRel, e); sumRel += e;
  }
  return { bits: yb, maxRel, meanRel: sumRel / ref.length, untouched };
}

const CASES: Case[] = [
  { n: 2, c: 32, o: 32, h: 24, w: 24 },
  { n: 3, c: 48, o: 64, h: 24, w: 30, xc: [16, 80], yc: [32, 128] }, // views into wider buffers
  { n: 1, c: 16, o: 96, h: 28, w: 26 },                              // one image: tiles over threads
  { n: 2, c: 256, o: 64, h: 12, w: 12 },                             // the smallest side it takes, blocks of 14 tiles
];

for (const cs of CASES) {
  test(`convBnFwd bf16 Winograd N${cs.n} C${cs.c} O${cs.o} ${cs.h}x${cs.w}${cs.xc ? ' strided' : ''}: near float64 and oneDNN's direct conv`, { skip }, () => {
    const wino = run(cs, 7, true), direct = run(cs, 7, false);
    console.log(`  winograd max ${wino.maxRel.toExponential(2)} mean ${wino.meanRel.toExponential(2)}; direct max ${direct.maxRel.toExponential(2)} mean ${direct.meanRel.toExponential(2)}`);
    assert.ok(wino.untouched && direct.untouched, 'channels outside the output view are left alone');
    assert.notDeepEqual(wino.bits, direct.bits, 'the Winograd kernel ran (its rounding differs from the direct conv)');
    assert.ok(direct.maxRel < 2 ** -7, `direct conv error ${direct.maxRel}`);
    assert.ok(wino.maxRel < 2 ** -8, `Winograd error ${wino.maxRel} (relative to sum |x w|)`);
    assert.ok(wino.meanRel < 3 * direct.meanRel, `Winograd mean error ${wino.meanRel} vs direct ${direct.meanRel}`);
  });
}

test('convBnFwd bf16: shapes Winograd does not take (odd, under 12 a side, O not a multiple of 32) run the direct conv', { skip }, () => {
  for (const cs of [{ n: 2, c: 32, o: 32, h: 25, w: 24 }, { n: 2, c: 32, o: 32, h: 10, w: 10 }, { n: 1, c: 32, o: 48, h: 24, w: 24 }]) {
    const a = run(cs, 3, true), b = run(cs, 3, false);
    assert.deepEqual(a.bits, b.bits, `${cs.h}x${cs.w} O${cs.o}: same bits with Winograd on and off`);
    assert.ok(a.maxRel < 2 ** -7);
  }
});

test('convBnFwd bf16 Winograd: a NaN input reaches the outputs (NaN checks still see it)', { skip }, () => {
  const cs = { n: 1, c: 32, o: 32, h: 24, w: 24 };
  const out = run(cs, 5, true, blockedIndex(32, 24, 24, 5, 10, 13)).bits;
  let nans = 0;
  for (const v of out) if ((v & 0x7f80) === 0x7f80 && (v & 0x7f) !== 0) nans++;
  assert.ok(nans >= 9 * 32, `NaN outputs: ${nans}`);
});

// float32 inference convs go to oneDNN's own Winograd F(4x4, 3x3) (jit_wino_4x3, blocked layout).
for (const cs of [CASES[0], CASES[1], { n: 2, c: 64, o: 48, h: 12, w: 14 }]) {
  test(`convBnFwd float32 Winograd N${cs.n} C${cs.c} O${cs.o} ${cs.h}x${cs.w}${cs.xc ? ' strided' : ''}: near float64`, { skip }, () => {
    const wino = run(cs, 11, true, -1, true), direct = run(cs, 11, false, -1, true);
    console.log(`  float32 winograd max ${wino.maxRel.toExponential(2)}; direct max ${direct.maxRel.toExponential(2)}`);
    assert.ok(wino.untouched && direct.untouched, 'channels outside the output view are left alone');
    assert.notDeepEqual(wino.bits, direct.bits, 'the Winograd kernel ran (its sums differ from the direct conv)');
    assert.ok(direct.maxRel < 1e-6, `direct conv error ${direct.maxRel}`);
    assert.ok(wino.maxRel < 1e-6, `Winograd error ${wino.maxRel} (relative to sum |x w|)`);
  });
}

// float32 training: forward, backward-data and backward-weights convs also run oneDNN's Winograd.
test('convFwd / convBwdData / convBwdWeights float32 Winograd (blocked N2 C32 O48 24x24): near float64', { skip }, () => {
  const n = 2, c = 32, o = 48, h = 24, w = 24, r = rng(21);
  const blocked = (v: Float64Array, ch: number) => { // NCHW float64 -> nChw16c float32
    const out = new Float32Array(v.length);
    for (let i = 0; i < n; i++) for (let cc = 0; cc < ch; cc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
      out[i * ch * h * w + blockedIndex(ch, h, w, cc, y, x)] = v[((i * ch + cc) * h + y) * w + x];
    return out;
  };
  const unblock = (v: Float32Array, ch: number) => {
    const out = new Float64Array(v.length);
    for (let i = 0; i < n; i++) for (let cc = 0; cc < ch; cc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
      out[((i * ch + cc) * h + y) * w + x] = v[i * ch * h * w + blockedIndex(ch, h, w, cc, y, x)];
    return out;
  };
  const xv = Float64Array.from({ length: n * c * h * w }, () => Math.fround(2 * r() - 1));
  const gv = Float64Array.from({ length: n * o * h * w }, () => Math.fround(2 * r() - 1));
  const wt = Float32Array.from({ length: o * c * 9 }, () => (2 * r() - 1) / Math.sqrt(c * 9));
  // float64 references and the sums of |terms| their rounding errors scale with
  const y = new Float64Array(n * o * h * w), yMag = new Float64Array(y.length);
  const dx = new Float64Array(n * c * h * w), dxMag = new Float64Array(dx.length);
  const dw = new Float64Array(o * c * 9), dwMag = new Float64Array(dw.length);
  for (let i = 0; i < n; i++) for (let oi = 0; oi < o; oi++) for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
    const yk = ((i * o + oi) * h + yy) * w + xx, g = gv[yk];
    for (let ci = 0; ci < c; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const sy = yy + ky - 1, sx = xx + kx - 1;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
      const xk = ((i * c + ci) * h + sy) * w + sx, wk = ((oi * c + ci) * 3 + ky) * 3 + kx;
      y[yk] += xv[xk] * wt[wk]; yMag[yk] += Math.abs(xv[xk] * wt[wk]);
      dx[xk] += g * wt[wk]; dxMag[xk] += Math.abs(g * wt[wk]);
      dw[wk] += g * xv[xk]; dwMag[wk] += Math.abs(g * xv[xk]);
    }
  }
  const maxRel = (got: ArrayLike<number>, ref: Float64Array, mag: Float64Array) => {
    let m = 0;
    for (let k = 0; k < ref.length; k++) m = Math.max(m, Math.abs(got[k] - ref[k]) / (mag[k] || 1));
    return m;
  };
  const geo = { n, c, o, size: [h, w], kernel: [3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  const runAll = (winograd: boolean) => {
    A.setWinograd(winograd);
    try {
      const yb = new Float32Array(n * o * h * w), dxb = new Float32Array(n * c * h * w), dwb = new Float32Array(o * c * 9);
      A.convFwd(blocked(xv, c), wt, null, yb, geo, false);
      A.convBwdData(blocked(gv, o), wt, dxb, geo);
      A.convBwdWeights(blocked(xv, c), blocked(gv, o), dwb, null, geo);
      return { y: unblock(yb, o), dx: unblock(dxb, c), dw: dwb };
    } finally { A.setWinograd(true); }
  };
  const wino = runAll(true), direct = runAll(false);
  for (const [name, got, ref, mag] of [['y', wino.y, y, yMag], ['dx', wino.dx, dx, dxMag], ['dw', wino.dw, dw, dwMag]] as const) {
    const e = maxRel(got, ref, mag);
    console.log(`  float32 training ${name}: Winograd max ${e.toExponential(2)}, direct ${maxRel((direct as Record<string, ArrayLike<number>>)[name], ref, mag).toExponential(2)}`);
    assert.ok(e < 4e-6, `${name}: Winograd error ${e} (relative to sum |terms|)`);
    assert.notDeepEqual(Array.from(got), Array.from((direct as Record<string, ArrayLike<number>>)[name]), `${name}: the Winograd kernel ran`);
  }
});

test('benchConvRaw (the kernel floor) times float32 Winograd when asked, where oneDNN has it', { skip }, () => {
  const shape = { n: 2, c: 32, o: 32, h: 24, w: 24, iters: 1 };
  const wino = A.benchConvRaw({ ...shape, winograd: true }), direct = A.benchConvRaw({ ...shape });
  for (const pass of ['fwd', 'bwdData', 'bwdWeights'] as const) {
    assert.match(wino.impl[pass], /wino/, `${pass}: ${wino.impl[pass]}`);
    assert.doesNotMatch(direct.impl[pass], /wino/, `${pass}: ${direct.impl[pass]}`);
  }
  // shapes the engine does not run as Winograd stay direct: bf16, 5x5, a side under 12
  for (const o of [{ ...shape, bf16: true }, { ...shape, k: 5, pad: 2 }, { ...shape, h: 10, w: 10 }])
    assert.doesNotMatch(A.benchConvRaw({ ...o, winograd: true }).impl.fwd, /wino/, JSON.stringify(o));
});

// bf16 training: the forward conv and the data gradient (itself a 3x3 conv with the kernel turned
// by 180 degrees and the channels swapped) run the bf16 Winograd kernel too.
test('convFwd / convBwdData bf16 Winograd (blocked N2 C32 O64 24x26, bias, ReLU): near float64 and the direct conv', { skip }, () => {
  const n = 2, c = 32, o = 64, h = 24, w = 26, r = rng(33);
  const toBlocked = (v: Float64Array, ch: number) => {
    const out = new Uint16Array(v.length);
    for (let i = 0; i < n; i++) for (let cc = 0; cc < ch; cc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
      out[i * ch * h * w + blockedIndex(ch, h, w, cc, y, x)] = bf16Bits(v[((i * ch + cc) * h + y) * w + x]);
    return out;
  };
  const fromBlocked = (v: Uint16Array, ch: number) => {
    const out = new Float64Array(v.length);
    for (let i = 0; i < n; i++) for (let cc = 0; cc < ch; cc++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
      out[((i * ch + cc) * h + y) * w + x] = bitsToF32(v[i * ch * h * w + blockedIndex(ch, h, w, cc, y, x)]);
    return out;
  };
  const xv = Float64Array.from({ length: n * c * h * w }, () => bitsToF32(bf16Bits(2 * r() - 1)));
  const gv = Float64Array.from({ length: n * o * h * w }, () => bitsToF32(bf16Bits(2 * r() - 1)));
  const wt = Float32Array.from({ length: o * c * 9 }, () => (2 * r() - 1) / Math.sqrt(c * 9));
  const bias = Float32Array.from({ length: o }, () => 0.2 * r() - 0.1);
  const y = new Float64Array(n * o * h * w).map((_, k) => bias[Math.floor(k / (h * w)) % o]);
  const yMag = y.map(Math.abs), dx = new Float64Array(n * c * h * w), dxMag = new Float64Array(dx.length);
  for (let i = 0; i < n; i++) for (let oi = 0; oi < o; oi++) for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
    const yk = ((i * o + oi) * h + yy) * w + xx, g = gv[yk];
    for (let ci = 0; ci < c; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const sy = yy + ky - 1, sx = xx + kx - 1;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
      const xk = ((i * c + ci) * h + sy) * w + sx, wv = wt[((oi * c + ci) * 3 + ky) * 3 + kx];
      y[yk] += xv[xk] * wv; yMag[yk] += Math.abs(xv[xk] * wv);
      dx[xk] += g * wv; dxMag[xk] += Math.abs(g * wv);
    }
  }
  for (let k = 0; k < y.length; k++) y[k] = Math.max(0, y[k]);
  const errs = (got: Float64Array, ref: Float64Array, mag: Float64Array) => {
    let max = 0, sum = 0;
    for (let k = 0; k < ref.length; k++) { const e = Math.abs(got[k] - ref[k]) / (mag[k] || 1); max = Math.max(max, e); sum += e; }
    return { max, mean: sum / ref.length };
  };
  const geo = { n, c, o, size: [h, w], kernel: [3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  const runBoth = (winograd: boolean) => {
    A.setWinograd(winograd);
    try {
      const yb = new Uint16Array(n * o * h * w), dxb = new Uint16Array(n * c * h * w);
      A.convFwd(toBlocked(xv, c), wt, bias, yb, geo, true);
      A.convBwdData(toBlocked(gv, o), wt, dxb, geo);
      return { y: fromBlocked(yb, o), dx: fromBlocked(dxb, c) };
    } finally { A.setWinograd(true); }
  };
  const wino = runBoth(true), direct = runBoth(false);
  for (const [name, ref, mag] of [['y', y, yMag], ['dx', dx, dxMag]] as const) {
    const ew = errs(wino[name], ref, mag), ed = errs(direct[name], ref, mag);
    console.log(`  bf16 training ${name}: Winograd max ${ew.max.toExponential(2)} mean ${ew.mean.toExponential(2)}; direct max ${ed.max.toExponential(2)} mean ${ed.mean.toExponential(2)}`);
    assert.ok(ew.max < 2 ** -8, `${name}: Winograd error ${ew.max}`);
    assert.ok(ew.mean < 3 * ed.mean, `${name}: Winograd mean error ${ew.mean} vs direct ${ed.mean}`);
    assert.notDeepEqual(Array.from(wino[name]), Array.from(direct[name]), `${name}: the Winograd kernel ran`);
  }
});
