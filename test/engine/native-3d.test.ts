// The native backend on volumes (5D activations [N,C,D,H,W]), op by op, against small float64
// loops written here (the oracle: plain NCDHW index arithmetic), forward and backward, on odd
// sizes, batch 1, channel counts that stay NDHWC (1, 3, 17) and that go blocked (16, 32), in
// both layouts and in bf16. Linear backward ops (conv data/weight gradients, transposed conv,
// up-sampling) are checked by the adjoint identity <dy, f(x)> = <f^T(dy), x> against the
// forward, which the loops check. Tolerances: float32 max error 1e-5 of the largest value
// (2e-5 for the long 3x3x3 conv sums); bf16 relative L2 error 1e-2 (the inputs are bf16-rounded
// first, so what is left is the rounding of the outputs and of 27*C-term sums).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Graph, Shape, numel, type Layout } from '../../src/engine/graph.js';
import type { KernelOp, OpAttrs } from '../../src/engine/ops.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { NativeBackend, nativeAvailable, bf16Support, loadAddon } from '../../src/engine/backends/native.js';
import { rng, uniform32 } from '../helpers/gradcheck.js';

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason})`;
const bf = avail.ok ? bf16Support() : { ok: false, reason: avail.reason };
const backends: [string, () => NativeBackend, boolean][] = [
  ['nhwc', () => new NativeBackend({ layout: 'nhwc' }), false],
  ['blocked', () => new NativeBackend({ layout: 'blocked' }), false],
  ...(bf.ok ? [['bf16 nhwc', () => new NativeBackend({ precision: 'bf16', layout: 'nhwc' }), true],
    ['bf16 blocked', () => new NativeBackend({ precision: 'bf16', layout: 'blocked' }), true]] as [string, () => NativeBackend, boolean][] : []),
];

interface In { shape: Shape; data: Float32Array; layout?: Layout }
/** Runs one op node on a backend; inputs named i0, i1, ...; 'plain' ones are params. Outputs NCDHW. */
function runOp<K extends KernelOp>(be: NativeBackend, op: K, ins: In[], attrs: OpAttrs[K], outShapes: Shape[], outLayouts?: Layout[]) {
  const g = new Graph();
  const ps = new ParamStore();
  const feeds: Record<string, Float32Array> = {};
  const vs = ins.map((t, i) => {
    if ((t.layout ?? 'act') === 'plain') { ps.set(`p${i}`, t.shape, t.data.slice()); return g.param(`p${i}`, t.shape); }
    feeds[`i${i}`] = t.data;
    return g.input(`i${i}`, t.shape);
  });
  const node = g.addNode(op, vs, attrs, outShapes as Shape[], outLayouts);
  const plan = new Plan(g, be, ps, outShapes.map((_, i) => g.out(node, i)));
  return plan.runToHost(feeds).map((a) => Float64Array.from(a));
}

/** The value bf16 storage would hold (round to nearest even), so oracles see what native sees. */
function bf16Round(a: Float32Array): Float32Array {
  const u = new Uint32Array(Float32Array.from(a).buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(u.buffer);
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, lowp: boolean, what: string, tol = 1e-5) {
  assert.equal(got.length, want.length, `${what}: length`);
  if (lowp) {
    let e = 0, n = 0;
    for (let i = 0; i < got.length; i++) { e += (got[i] - want[i]) ** 2; n += want[i] ** 2; }
    const rel = Math.sqrt(e / Math.max(n, 1e-30));
    assert.ok(rel <= 1e-2 || Math.sqrt(e / got.length) < 1e-6, `${what}: relative L2 error ${rel} > 1e-2`);
    return;
  }
  let scale = 0, worst = 0, at = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < got.length; i++) { const e = Math.abs(got[i] - want[i]); if (!(e <= worst)) { worst = e; at = i; } }
  assert.ok(worst <= tol * Math.max(scale, 1e-3), `${what}: max error ${worst} at ${at} (native ${got[at]}, want ${want[at]}, scale ${scale})`);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
/** <a, b> = <c, d> within rounding (relative to the sums of |terms|). */
function adjoint(a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number>, d: ArrayLike<number>, lowp: boolean, what: string) {
  let s1 = 0, s2 = 0;
  for (let i = 0; i < a.length; i++) s1 += Math.abs(a[i] * b[i]);
  for (let i = 0; i < c.length; i++) s2 += Math.abs(c[i] * d[i]);
  const e = Math.abs(dot(a, b) - dot(c, d)) / Math.max(s1, s2, 1e-30);
  assert.ok(e <= (lowp ? 1e-2 : 1e-5), `${what}: adjoint mismatch ${e} (${dot(a, b)} vs ${dot(c, d)})`);
}

// ---- float64 loops over NCDHW ----
type V5 = [number, number, number, number, number];
const at5 = (s: V5, n: number, c: number, d: number, h: number, w: number) => (((n * s[1] + c) * s[2] + d) * s[3] + h) * s[4] + w;

function conv3d(x: Float32Array, xs: V5, w: Float32Array, o: number, k: number, stride: number, pad: number, b: Float32Array | null, relu: boolean) {
  const os = (v: number) => Math.floor((v + 2 * pad - k) / stride) + 1;
  const ys: V5 = [xs[0], o, os(xs[2]), os(xs[3]), os(xs[4])];
  const y = new Float64Array(numel(ys));
  for (let n = 0; n < ys[0]; n++) for (let oc = 0; oc < o; oc++) for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
    let s = b ? b[oc] : 0;
    for (let c = 0; c < xs[1]; c++) for (let a = 0; a < k; a++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      const zd = z * stride - pad + a, hh = r * stride - pad + i, ww = q * stride - pad + j;
      if (zd < 0 || hh < 0 || ww < 0 || zd >= xs[2] || hh >= xs[3] || ww >= xs[4]) continue;
      s += x[at5(xs, n, c, zd, hh, ww)] * w[(((oc * xs[1] + c) * k + a) * k + i) * k + j];
    }
    y[at5(ys, n, oc, z, r, q)] = relu ? Math.max(s, 0) : s;
  }
  return { y, ys };
}

function deconv3d(x: Float32Array, xs: V5, w: Float32Array, o: number, k: number, b: Float32Array | null) {
  const ys: V5 = [xs[0], o, xs[2] * k, xs[3] * k, xs[4] * k];
  const y = new Float64Array(numel(ys));
  for (let n = 0; n < ys[0]; n++) for (let oc = 0; oc < o; oc++) for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
    let s = b ? b[oc] : 0;
    for (let c = 0; c < xs[1]; c++)
      s += x[at5(xs, n, c, Math.floor(z / k), Math.floor(r / k), Math.floor(q / k))] * w[(((c * o + oc) * k + z % k) * k + r % k) * k + q % k];
    y[at5(ys, n, oc, z, r, q)] = s;
  }
  return y;
}

function maxpool3d(x: Float32Array, xs: V5) {
  const ys: V5 = [xs[0], xs[1], xs[2] >> 1, xs[3] >> 1, xs[4] >> 1];
  const y = new Float64Array(numel(ys)), arg = new Int32Array(numel(ys));
  for (let n = 0; n < ys[0]; n++) for (let c = 0; c < ys[1]; c++) for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
    let m = -Infinity, best = -1;
    for (let a = 0; a < 2; a++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      const p = at5(xs, n, c, 2 * z + a, 2 * r + i, 2 * q + j);
      if (x[p] > m) { m = x[p]; best = p; }
    }
    y[at5(ys, n, c, z, r, q)] = m;
    arg[at5(ys, n, c, z, r, q)] = best;
  }
  return { y, arg };
}

/** x2 up-sampling by the 8-point formula (not separably, as native does). */
function up3d(x: Float32Array, xs: V5, mode: 'bilinear' | 'nearest', ac: boolean) {
  const ys: V5 = [xs[0], xs[1], 2 * xs[2], 2 * xs[3], 2 * xs[4]];
  const src = (o: number, L: number): [number, number, number] => {
    if (mode === 'nearest') return [o >> 1, o >> 1, 0];
    const s = ac ? (2 * L > 1 ? o * (L - 1) / (2 * L - 1) : 0) : Math.max((o + 0.5) / 2 - 0.5, 0);
    const i0 = Math.min(Math.floor(s), L - 1);
    return [i0, Math.min(i0 + 1, L - 1), s - i0];
  };
  const y = new Float64Array(numel(ys));
  for (let n = 0; n < ys[0]; n++) for (let c = 0; c < ys[1]; c++) for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++) for (let q = 0; q < ys[4]; q++) {
    const [d0, d1, fd] = src(z, xs[2]), [h0, h1, fh] = src(r, xs[3]), [w0, w1, fw] = src(q, xs[4]);
    let s = 0;
    for (const [dd, a] of [[d0, 1 - fd], [d1, fd]]) for (const [hh, b] of [[h0, 1 - fh], [h1, fh]]) for (const [ww, e] of [[w0, 1 - fw], [w1, fw]])
      s += a * b * e * x[at5(xs, n, c, dd, hh, ww)];
    y[at5(ys, n, c, z, r, q)] = s;
  }
  return y;
}

/** Instance norm (biased variance per image and channel) and its gradient, in float64. */
function instnorm(x: Float32Array, shape: Shape, gamma: Float32Array, beta: Float32Array, eps: number, relu: boolean, dy?: Float32Array) {
  const [N, C] = shape, S = numel(shape) / (N * C);
  const y = new Float64Array(x.length), dx = new Float64Array(x.length), dg = new Float64Array(C), db = new Float64Array(C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const o = (n * C + c) * S;
    let m = 0; for (let p = 0; p < S; p++) m += x[o + p]; m /= S;
    let v = 0; for (let p = 0; p < S; p++) v += (x[o + p] - m) ** 2; v /= S;
    const rs = 1 / Math.sqrt(v + eps);
    const g = new Float64Array(S);
    let sg = 0, sgx = 0;
    for (let p = 0; p < S; p++) {
      const xh = (x[o + p] - m) * rs, pre = gamma[c] * xh + beta[c];
      y[o + p] = relu ? Math.max(pre, 0) : pre;
      if (dy) { g[p] = relu && !(pre > 0) ? 0 : dy[o + p]; sg += g[p]; sgx += g[p] * xh; }
    }
    if (!dy) continue;
    db[c] += sg; dg[c] += sgx;
    for (let p = 0; p < S; p++) dx[o + p] = gamma[c] * rs * (g[p] - sg / S - (x[o + p] - m) * rs * sgx / S);
  }
  return { y, dx, dg, db };
}

const rand = rng(7);
const u = (s: Shape, lo = -1, hi = 1) => uniform32(numel(s), rand, lo, hi);

// ---- cases ----
const convCases: [string, V5, number, number, number, number, boolean, boolean][] = [
  // name, x shape, o, k, stride, pad, bias, relu
  ['3x3x3 pad 1, bias, relu, C3 -> 5, 5x7x6', [2, 3, 5, 7, 6], 5, 3, 1, 1, true, true],
  ['3x3x3 pad 1, C16 -> 32, batch 1, 6x5x7', [1, 16, 6, 5, 7], 32, 3, 1, 1, true, false],
  ['3x3x3 stride 2, no pad, C1 -> 17, 7x7x5', [1, 1, 7, 7, 5], 17, 3, 2, 0, false, false],
  ['1x1x1 head, C32 -> 1, 4x5x3', [2, 32, 4, 5, 3], 1, 1, 1, 0, true, false],
  ['1x1x1, C17 -> 16, 3x3x3', [1, 17, 3, 3, 3], 16, 1, 1, 0, false, true],
];

for (const [bname, make, lowp] of backends) {
  for (const [name, xs, o, k, stride, pad, bias, relu] of convCases)
    test(`native ${bname} 3D conv ${name}: forward, data and weight gradients`, { skip }, () => {
      const be = make();
      const x = u(xs), w = u([o, xs[1], k, k, k], -0.3, 0.3), b = bias ? u([o]) : null;
      const xr = lowp ? bf16Round(x) : x, wr = lowp ? bf16Round(w) : w;
      const { y: want, ys } = conv3d(xr, xs, wr, o, k, stride, pad, b, relu);
      const ins: In[] = [{ shape: xs, data: x }, { shape: [o, xs[1], k, k, k], data: w, layout: 'plain' }];
      if (b) ins.push({ shape: [o], data: b, layout: 'plain' });
      const [y] = runOp(be, 'conv', ins, { stride, pad, relu }, [ys]);
      close(y, want, lowp, `${name} forward`, 2e-5);
      // gradients: adjoint identities against the (checked) linear forward
      const dy = u(ys);
      const [dx] = runOp(be, 'conv_grad_input', [{ shape: ys, data: dy }, ins[1]], { stride, pad, xShape: xs }, [xs]);
      const dyr = lowp ? bf16Round(dy) : dy;
      const lin = conv3d(xr, xs, wr, o, k, stride, pad, null, false).y;
      adjoint(dyr, lin, dx, xr, lowp, `${name} data gradient`);
      const [dw, db] = runOp(be, 'conv_grad_weight', [{ shape: xs, data: x }, { shape: ys, data: dy }],
        { stride, pad, wShape: [o, xs[1], k, k, k], bias: !!b }, b ? [[o, xs[1], k, k, k], [o]] : [[o, xs[1], k, k, k]], b ? ['plain', 'plain'] : ['plain']);
      adjoint(dyr, lin, dw, wr, lowp, `${name} weight gradient`);
      if (b) {
        const want = new Float64Array(o);
        const per = numel(ys) / (ys[0] * o);
        for (let n = 0; n < ys[0]; n++) for (let c = 0; c < o; c++) for (let p = 0; p < per; p++) want[c] += dyr[(n * o + c) * per + p];
        close(db, want, lowp, `${name} bias gradient`);
      }
    });

  test(`native ${bname} 3D transposed conv 2x2x2 stride 2: forward and gradients`, { skip }, () => {
    const be = make();
    for (const [xs, o] of [[[2, 3, 3, 4, 5], 5], [[1, 32, 3, 2, 3], 16]] as [V5, number][]) {
      const k = 2, ws: Shape = [xs[1], o, k, k, k];
      const x = u(xs), w = u(ws), b = u([o]);
      const xr = lowp ? bf16Round(x) : x, wr = lowp ? bf16Round(w) : w;
      const ys: V5 = [xs[0], o, 2 * xs[2], 2 * xs[3], 2 * xs[4]];
      const [y] = runOp(be, 'conv_transpose', [{ shape: xs, data: x }, { shape: ws, data: w, layout: 'plain' }, { shape: [o], data: b, layout: 'plain' }], { stride: k }, [ys]);
      close(y, deconv3d(xr, xs, wr, o, k, b), lowp, `deconv ${xs} forward`);
      const dy = u(ys), dyr = lowp ? bf16Round(dy) : dy, lin = deconv3d(xr, xs, wr, o, k, null);
      const [dx] = runOp(be, 'conv_transpose_grad_input', [{ shape: ys, data: dy }, { shape: ws, data: w, layout: 'plain' }], { stride: k, xShape: xs }, [xs]);
      adjoint(dyr, lin, dx, xr, lowp, 'deconv data gradient');
      const [dw] = runOp(be, 'conv_transpose_grad_weight', [{ shape: xs, data: x }, { shape: ys, data: dy }], { stride: k, wShape: ws, bias: true }, [ws, [o]], ['plain', 'plain']);
      adjoint(dyr, lin, dw, wr, lowp, 'deconv weight gradient');
    }
  });

  test(`native ${bname} 3D max-pool 2x2x2: forward and gradient (odd sizes floor)`, { skip }, () => {
    const be = make();
    for (const xs of [[2, 3, 5, 4, 7], [1, 16, 4, 6, 5], [1, 17, 2, 3, 2]] as V5[]) {
      const x = u(xs), xr = lowp ? bf16Round(x) : x;
      const { y: want, arg } = maxpool3d(xr, xs);
      const ys: V5 = [xs[0], xs[1], xs[2] >> 1, xs[3] >> 1, xs[4] >> 1];
      const [y] = runOp(be, 'maxpool', [{ shape: xs, data: x }], {}, [ys]);
      close(y, want, false, `maxpool ${xs}`, 0);  // a max selects: exact, bf16 too
      const dy = u(ys), dyr = lowp ? bf16Round(dy) : dy;
      const g = new Graph(), ps = new ParamStore();
      const xv = g.input('x', xs), dyv = g.input('dy', ys);
      const fwd = g.addNode('maxpool', [xv], {}, [ys]);
      const bwd = g.addNode('maxpool_grad', [xv, g.out(fwd), dyv], { fwd: fwd.id }, [xs]);
      const [dx] = new Plan(g, be, ps, [g.out(bwd)]).runToHost({ x, dy });
      const wantDx = new Float64Array(x.length);
      arg.forEach((p, i) => { wantDx[p] = dyr[i]; });
      close(dx, wantDx, false, `maxpool grad ${xs}`, 0);
    }
  });

  for (const [mode, ac] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const)
    test(`native ${bname} 3D x2 up-sampling ${mode === 'bilinear' ? 'trilinear' : mode}${ac ? ' align_corners' : ''}, and concat_up: forward and gradients`, { skip }, () => {
      const be = make();
      for (const [xs, parts] of [[[2, 3, 3, 2, 4], [5]], [[1, 16, 2, 3, 3], [16, 32]], [[1, 1, 1, 2, 1], []]] as [V5, number[]][]) {
        const ys: V5 = [xs[0], xs[1], 2 * xs[2], 2 * xs[3], 2 * xs[4]];
        const x = u(xs), xr = lowp ? bf16Round(x) : x;
        const want = up3d(xr, xs, mode, ac);
        const [y] = runOp(be, 'upsample2x', [{ shape: xs, data: x }], { mode, alignCorners: ac }, [ys]);
        close(y, want, lowp, `up ${xs}`);
        const dy = u(ys), dyr = lowp ? bf16Round(dy) : dy;
        const [dx] = runOp(be, 'upsample2x_grad', [{ shape: ys, data: dy }], { mode, alignCorners: ac, xShape: xs }, [xs]);
        adjoint(dyr, want, dx, xr, lowp, `up ${xs} gradient`);
        // concat_up: parts first, then the up-sampled input
        const ps = parts.map((c) => u([xs[0], c, ys[2], ys[3], ys[4]]));
        const ct = parts.reduce((s, c) => s + c, xs[1]), cs: V5 = [xs[0], ct, ys[2], ys[3], ys[4]];
        const [cy] = runOp(be, 'concat_up', [...ps.map((d, i) => ({ shape: [xs[0], parts[i], ys[2], ys[3], ys[4]], data: d })), { shape: xs, data: x }],
          { mode, alignCorners: ac }, [cs]);
        const per = numel(ys) / xs[0];
        const wantC = new Float64Array(numel(cs));
        for (let n = 0; n < xs[0]; n++) {
          let off = n * (numel(cs) / xs[0]);
          ps.forEach((d, i) => {
            const pn = parts[i] * numel(ys) / (xs[0] * xs[1]);
            for (let k = 0; k < pn; k++) wantC[off + k] = lowp ? bf16Round(d.subarray(n * pn + k, n * pn + k + 1))[0] : d[n * pn + k];
            off += pn;
          });
          for (let k = 0; k < per; k++) wantC[off + k] = want[n * per + k];
        }
        close(cy, wantC, lowp, `concat_up ${xs} + ${parts}`);
        const dcy = u(cs);
        const outShapes: Shape[] = [...parts.map((c) => [xs[0], c, ys[2], ys[3], ys[4]] as Shape), xs];
        const grads = runOp(be, 'concat_up_grad', [{ shape: cs, data: dcy }], { mode, alignCorners: ac }, outShapes);
        // dlow: the up-sampling's gradient of dcy's last channels
        const tail = new Float32Array(numel(ys));
        for (let n = 0; n < xs[0]; n++) tail.set(dcy.subarray((n + 1) * numel(cs) / xs[0] - per, (n + 1) * numel(cs) / xs[0]), n * per);
        const [dlow] = runOp(be, 'upsample2x_grad', [{ shape: ys, data: tail }], { mode, alignCorners: ac, xShape: xs }, [xs]);
        close(grads[grads.length - 1], dlow, false, `concat_up_grad ${xs}: dlow`, 0);
        let off = 0;
        parts.forEach((c, i) => {
          const pn = c * numel(ys) / (xs[0] * xs[1]), want = new Float64Array(pn * xs[0]);
          for (let n = 0; n < xs[0]; n++) for (let k = 0; k < pn; k++) want[n * pn + k] = dcy[n * numel(cs) / xs[0] + off + k];
          close(grads[i], lowp ? Float64Array.from(bf16Round(Float32Array.from(want))) : want, false, `concat_up_grad part ${i}`, 0);
          off += pn;
        });
      }
    });

  for (const rank of [4, 5])
    test(`native ${bname} instance norm, rank ${rank}: forward and gradients (with and without ReLU)`, { skip }, () => {
      const be = make();
      // the last two of each: enough positions (>= 4096) that an image's channels are split in pieces
      const shapes: Shape[] = rank === 5 ? [[2, 3, 3, 4, 5], [1, 16, 5, 3, 3], [2, 32, 2, 3, 2], [1, 17, 3, 2, 3], [1, 16, 16, 16, 17], [2, 3, 9, 23, 21]]
        : [[2, 3, 5, 7], [1, 16, 6, 5], [2, 17, 3, 3], [1, 16, 67, 65], [1, 5, 70, 61]];
      for (const s of shapes) for (const relu of [false, true]) {
        const C = s[1];
        const x = u(s, -2, 3), gamma = u([C], 0.5, 1.5), beta = u([C], -0.5, 0.5), dy = u(s);
        const xr = lowp ? bf16Round(x) : x;
        const want = instnorm(xr, s, gamma, beta, 1e-5, relu, lowp ? bf16Round(dy) : dy);
        const g = new Graph(), ps = new ParamStore();
        ps.set('gamma', [C], gamma); ps.set('beta', [C], beta);
        const xv = g.input('x', s), dyv = g.input('dy', s), gv = g.param('gamma', [C]), bv = g.param('beta', [C]);
        const fwd = g.addNode('instancenorm', [xv, gv, bv], { eps: 1e-5, relu }, [s]);
        const bwd = g.addNode('instancenorm_grad', [xv, gv, bv, dyv, g.out(fwd)], { eps: 1e-5, relu }, [s, [C], [C]], ['act', 'plain', 'plain']);
        const plan = new Plan(g, be, ps, [g.out(fwd), g.out(bwd, 0), g.out(bwd, 1), g.out(bwd, 2)]);
        const [y, dx, dg, db] = plan.runToHost({ x, dy });
        const what = `instancenorm ${s}${relu ? ' relu' : ''}`;
        close(y, want.y, lowp, `${what}: y`);
        // bf16: y's rounding flips some ReLU masks; dx sums many rounded terms
        close(dx, want.dx, lowp, `${what}: dx`, 1e-4);
        close(dg, want.dg, lowp, `${what}: dgamma`, 1e-4);
        close(db, want.db, lowp, `${what}: dbeta`, 1e-4);
      }
    });

  test(`native ${bname} volumes through the rank-generic kernels: concat, split, batch norm, loss`, { skip }, () => {
    const be = make();
    const a: Shape = [2, 16, 3, 2, 5], b: Shape = [2, 3, 3, 2, 5], cs: Shape = [2, 19, 3, 2, 5];
    const xa = u(a), xb = u(b);
    const [y] = runOp(be, 'concat', [{ shape: a, data: xa }, { shape: b, data: xb }], {}, [cs]);
    const per = 30, want = new Float64Array(numel(cs));
    for (let n = 0; n < 2; n++) {
      for (let k = 0; k < 16 * per; k++) want[n * 19 * per + k] = xa[n * 16 * per + k];
      for (let k = 0; k < 3 * per; k++) want[n * 19 * per + 16 * per + k] = xb[n * 3 * per + k];
    }
    close(y, lowp ? Float64Array.from(bf16Round(Float32Array.from(want))) : want, false, 'concat', 0);
    const [sa, sb] = runOp(be, 'split_channels', [{ shape: cs, data: Float32Array.from(want) }], {}, [a, b]);
    close(sa, lowp ? bf16Round(xa) : xa, false, 'split a', 0);
    close(sb, lowp ? bf16Round(xb) : xb, false, 'split b', 0);
    // batch norm, training: per-channel statistics over N, D, H, W
    const x = u(a, -1, 2), gamma = u([16], 0.5, 1.5), beta = u([16]), rm = new Float32Array(16), rv = new Float32Array(16).fill(1);
    const xr = lowp ? bf16Round(x) : x;
    const [bn] = runOp(be, 'batchnorm', [{ shape: a, data: x }, { shape: [16], data: gamma, layout: 'plain' }, { shape: [16], data: beta, layout: 'plain' },
      { shape: [16], data: rm, layout: 'plain' }, { shape: [16], data: rv, layout: 'plain' }],
      { training: true, eps: 1e-5, momentum: 0.1, relu: false, runningMean: 'p3', runningVar: 'p4' }, [a]);
    // = instance norm of the batch seen as one image: move n next to the positions
    const perm = new Float32Array(x.length);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 16; c++) for (let p = 0; p < per; p++) perm[(c * 2 + n) * per + p] = xr[(n * 16 + c) * per + p];
    const ref = instnorm(perm, [1, 16, 2 * per], gamma, beta, 1e-5, false).y, wantBn = new Float64Array(x.length);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 16; c++) for (let p = 0; p < per; p++) wantBn[(n * 16 + c) * per + p] = ref[(c * 2 + n) * per + p];
    close(bn, wantBn, lowp, 'batchnorm 3D', 1e-4);
    // loss: bce over all values of a [N,1,D,H,W] head
    const hs: Shape = [2, 1, 3, 4, 5], z = u(hs, -3, 3), t = Float32Array.from(u(hs), (v) => (v > 0 ? 1 : 0));
    const [l] = runOp(be, 'loss', [{ shape: hs, data: z }, { shape: hs, data: t }], { kind: 'bce', bceWeight: 1 }, [[1]], ['plain']);
    const zr = lowp ? bf16Round(z) : z;
    let bce = 0;
    for (let i = 0; i < zr.length; i++) bce += Math.max(zr[i], 0) - zr[i] * t[i] + Math.log1p(Math.exp(-Math.abs(zr[i])));
    close(l, [bce / zr.length], lowp, 'bce loss 3D', 1e-5);
  });
}

// On AVX2 the weight gradient of a same-size 3D conv on NDHWC runs as 2D ones over depth slices
// (native/conv3d-slices.cc): every tap, against the float64 sum, batch 2 so that slices of two images must
// not pair, depths 1 and 2 where most taps see no neighbour; per-axis kernels (1x3x3: one depth tap, every
// slice with its own; 3x1x3) too. The test below runs these again with oneDNN held to AVX2.
const SLICE_CASES: [V5, [number, number, number]][] = [
  [[2, 8, 5, 6, 7], [3, 3, 3]], [[2, 24, 2, 4, 3], [3, 3, 3]], [[3, 16, 1, 3, 4], [3, 3, 3]],
  [[2, 8, 3, 6, 7], [1, 3, 3]], [[2, 16, 4, 3, 5], [3, 1, 3]],
];
for (const [xs, k] of SLICE_CASES)
  test(`native nhwc 3D weight gradient, ${k.join('x')}, C${xs[1]} ${xs.slice(2).join('x')} batch ${xs[0]}: every tap equals the float64 sum`, { skip }, () => {
    const o = 16, pad = k.map((v) => (v - 1) / 2), ys: V5 = [xs[0], o, xs[2], xs[3], xs[4]], ws: V5 = [o, xs[1], ...k];
    const x = u(xs), dy = u(ys);
    const [dw] = runOp(new NativeBackend({ layout: 'nhwc' }), 'conv_grad_weight', [{ shape: xs, data: x }, { shape: ys, data: dy }],
      { stride: 1, pad: k.every((v) => v === 3) ? 1 : pad, wShape: ws, bias: false }, [ws], ['plain']);
    const want = new Float64Array(numel(ws));
    for (let oc = 0; oc < o; oc++) for (let c = 0; c < xs[1]; c++) for (let a = 0; a < k[0]; a++) for (let i = 0; i < k[1]; i++) for (let j = 0; j < k[2]; j++) {
      let s = 0;
      for (let n = 0; n < xs[0]; n++) for (let z = 0; z < xs[2]; z++) for (let r = 0; r < xs[3]; r++) for (let q = 0; q < xs[4]; q++) {
        const zz = z + a - pad[0], rr = r + i - pad[1], qq = q + j - pad[2];
        if (zz < 0 || zz >= xs[2] || rr < 0 || rr >= xs[3] || qq < 0 || qq >= xs[4]) continue;
        s += x[at5(xs, n, c, zz, rr, qq)] * dy[at5(ys, n, oc, z, r, q)];
      }
      want[(((oc * xs[1] + c) * k[0] + a) * k[1] + i) * k[2] + j] = s;
    }
    close(dw, want, false, 'weight gradient', 2e-5);
  });

// oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA): its 3D weight gradients on NDHWC are im2col + GEMM there (kd > 1), so
// the addon takes the depth-slices path. The cases above in a child process, against the float64 reference backend,
// with oneDNN's log showing 2D backward-weights primitives over the slices (mb.._ic..oc.._ih..: no depth).
test('native nhwc 3D weight gradients with oneDNN held to AVX2: the depth-slices path, cubic and per-axis kernels', { skip }, () => {
  const dist = resolve('dist/src');
  const script = `
    import { Graph } from '${dist}/engine/graph.js';
    import { Plan } from '${dist}/engine/plan.js';
    import { ParamStore } from '${dist}/engine/params.js';
    import { NativeBackend } from '${dist}/engine/backends/native.js';
    import { ReferenceBackend } from '${dist}/engine/backends/reference.js';
    const errs = ${JSON.stringify(SLICE_CASES)}.map(([xs, k]) => {
      const ys = [xs[0], 16, ...xs.slice(2)], ws = [16, xs[1], ...k], pad = k.map((v) => (v - 1) / 2);
      const n = (s) => s.reduce((a, b) => a * b, 1);
      const feeds = { x: Float32Array.from({ length: n(xs) }, (_, i) => Math.sin(i)), dy: Float32Array.from({ length: n(ys) }, (_, i) => Math.cos(3 * i)) };
      const run = (be) => {
        const g = new Graph();
        const node = g.addNode('conv_grad_weight', [g.input('x', xs), g.input('dy', ys)], { stride: 1, pad, wShape: ws, bias: false }, [ws], ['plain']);
        return new Plan(g, be, new ParamStore(), [g.out(node, 0)]).runToHost(feeds)[0];
      };
      const got = run(new NativeBackend({ layout: 'nhwc' })), want = run(new ReferenceBackend({ dtype: 'float64' }));
      let e = 0, scale = 0;
      for (let i = 0; i < want.length; i++) { e = Math.max(e, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
      return e / scale;
    });
    console.log(JSON.stringify(errs));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX2', ONEDNN_VERBOSE: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const errs = JSON.parse(r.stdout.trim().split('\n').pop()!) as number[];
  errs.forEach((e, i) => assert.ok(e <= 2e-5, `${SLICE_CASES[i][1].join('x')}: max error ${e} of the largest value`));
  // the 3x1x3 case: 2D 1x3 kernels over the slices; the 1x3x3 case needs none: oneDNN has a jit kernel for kd = 1
  assert.match(r.stdout, /convolution,.*backward_weights.*mb\d+_ic16oc16_ih3oh3kh1/);
  assert.match(r.stdout, /convolution,jit:avx2,backward_weights.*mb2_ic8oc16_id3od3kd1/);
});

test('native 3D conv: a bad geometry is an Error naming the op and the shapes, not a crash', { skip }, () => {
  const be = new NativeBackend({ layout: 'blocked' });
  assert.throws(() => runOp(be, 'conv', [{ shape: [1, 2, 2, 2, 2], data: u([1, 2, 2, 2, 2]) }, { shape: [4, 2, 3, 3, 3], data: u([4, 2, 3, 3, 3]), layout: 'plain' }],
    { stride: 1, pad: 0, relu: false }, [[1, 4, 1, 1, 1]]), /conv.*invalid geometry/);
});

// One addon entry per op for images and volumes: the length of the sizes picks the kernel.
test('native addon: rank-generic entries refuse what only one rank has, naming the entry', { skip }, () => {
  const A = loadAddon();
  const f = (n: number) => new Float32Array(n);
  const geo = { n: 1, c: 2, o: 4, size: [4, 4, 4], kernel: [3, 3, 1], stride: 1, pad: 1, layout: 'nhwc' as const };
  assert.throws(() => A.deconvFwd(f(128), f(4 * 2 * 9), null, f(4 * 4 * 12 * 12 * 4), { ...geo, pad: 0 }, false),
    /deconvFwd: a transposed conv's kernel must be cubic, got \[3,3,1\]/);
  assert.throws(() => A.convFwd(f(128), f(4 * 2 * 27), null, f(256), { ...geo, kernel: [3, 3] }, false),
    /convFwd: geometry: size and kernel must both have 3 values/);
  assert.throws(() => A.convFwd(f(128), f(4 * 2 * 9), null, f(256), { ...geo, pad: [1, 1] }, false),
    /convFwd: geometry: pad must be a number or have as many values as size/);
  // a kernel and a padding per axis: 3x3x1 padded [1, 1, 0] keeps 4x4x4
  const y = f(256);
  A.convFwd(Float32Array.from({ length: 128 }, () => 1), Float32Array.from({ length: 72 }, () => 1), null, y, { ...geo, pad: [1, 1, 0] }, false);
  assert.deepEqual([y[0], y[4 * 21]], [2 * 4, 2 * 9]);
  assert.throws(() => A.maxpoolFwd(f(128), f(16), 1, 2, [4, 4, 4], 2, 64), /maxpoolFwd: groups \(a strided view\) are for images only/);
  assert.throws(() => A.maxpoolFwd(f(128), f(16), 1, 2, [4, 4, 4, 4]), /maxpoolFwd: sizes must have 2 or 3 sizes, got 4/);
  // the same entry runs both ranks: 2x2(x2) windows of 1..n, the max is each window's last value
  const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i);
  const y2 = f(4), y3 = f(8);
  A.maxpoolFwd(ramp(16), y2, 1, 1, [4, 4]);
  A.maxpoolFwd(ramp(64), y3, 1, 1, [4, 4, 4]);
  assert.deepEqual([...y2], [5, 7, 13, 15]);
  assert.deepEqual([...y3], [21, 23, 29, 31, 53, 55, 61, 63]);
});
