// The native backend against the float64 reference backend, op by op: forward values and every
// gradient through autodiff, on odd shapes (7x5, 13x11, C = 1, 3, 17), and in both activation
// layouts (NHWC, and blocked nChw16c where C is a multiple of 16: the cases with C = 16, 32,
// 48 and mixes such as 16 + 3 exercise it). Skips when the addon is not built. Run: npm run build && node scripts/run-tests.mjs native
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value, Shape, numel, fmt } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable, bf16Support, adamStep, sgdStep, setThreads, getThreads, loadAddon } from '../../src/engine/backends/native.js';
import type { Backend } from '../../src/engine/backend.js';
import { rng, uniform32, distinct } from '../helpers/gradcheck.js';

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason}): run node scripts/build-native.mjs`;
const native = avail.ok ? new NativeBackend({ layout: 'nhwc' }) : (null as unknown as NativeBackend);
const nativeBlocked = avail.ok ? new NativeBackend({ layout: 'blocked' }) : (null as unknown as NativeBackend);
// bf16 activations: every parity case runs again, within bf16 rounding (8 significant bits).
// The tolerance is a relative L2 error of 6%: a pre-activation within bf16 rounding of 0 flips
// its ReLU mask, and with random upstream gradients a handful of flips in 10^4 values costs a
// few percent (measured: 6 flips -> 4.2% on conv 3x3 C32 + ReLU); a wrong kernel costs ~100%.
const bf16 = avail.ok ? bf16Support() : { ok: false, reason: avail.reason };
const skipBf16 = skip || (bf16.ok ? false : `no bf16 here: ${bf16.reason}`);
const nativeBf16 = bf16.ok ? new NativeBackend({ precision: 'bf16', layout: 'nhwc' }) : (null as unknown as NativeBackend);
const nativeBf16Blocked = bf16.ok ? new NativeBackend({ precision: 'bf16', layout: 'blocked' }) : (null as unknown as NativeBackend);
const BF16_TOL = 6e-2;
const reference = new ReferenceBackend({ dtype: 'float64' });

type Gen = 'uniform' | 'distinct' | 'binary' | 'onehot' | 'positive';
interface Spec { shape: Shape; gen?: Gen; grad?: boolean; trainable?: boolean }
interface Case {
  inputs: Record<string, Spec>;
  params?: Record<string, Spec>;
  /** Returns the value under test; a [1] value is the loss itself, else loss = mean(y * r). */
  build(g: Graph, v: Record<string, Value>): Value;
  tol?: number;
  /** bf16 relative L2 tolerance, where it differs from max(tol, BF16_TOL). */
  bf16Tol?: number;
}

function data(spec: Spec, rand: () => number): Float32Array {
  const n = numel(spec.shape);
  switch (spec.gen ?? 'uniform') {
    case 'distinct': {
      const d = distinct(n, rand, 0.01);
      return Float32Array.from(d);
    }
    case 'binary': return Float32Array.from({ length: n }, () => (rand() > 0.5 ? 1 : 0));
    case 'positive': return uniform32(n, rand, 0.5, 1.5);
    case 'onehot': {
      const [b, k, h, w] = spec.shape;
      const t = new Float32Array(n);
      for (let i = 0; i < b; i++) for (let p = 0; p < h * w; p++) t[(i * k + Math.floor(rand() * k)) * h * w + p] = 1;
      return t;
    }
    default: return uniform32(n, rand);
  }
}

/** Runs the case on a backend: outputs are [y, loss, ...grads] in NCHW, and the param store after the run. */
function runOn(be: Backend, c: Case, seed: number, runs = 1) {
  const rand = rng(seed);
  const g = new Graph();
  const v: Record<string, Value> = {};
  const feeds: Record<string, Float32Array> = {};
  const ps = new ParamStore();
  for (const [name, s] of Object.entries(c.inputs)) { v[name] = g.input(name, s.shape); feeds[name] = data(s, rand); }
  for (const [name, s] of Object.entries(c.params ?? {})) { v[name] = g.param(name, s.shape); ps.set(name, s.shape, data(s, rand), s.trainable ?? true); }
  const y = c.build(g, v);
  let loss = y;
  if (numel(y.shape) !== 1) {
    const r = g.input('__r', y.shape);
    feeds.__r = uniform32(numel(y.shape), rand);
    loss = g.meanAll(g.mul(y, r));
  }
  const wrtNames = [...Object.entries(c.inputs).filter(([, s]) => s.grad !== false).map(([k]) => k),
    ...Object.entries(c.params ?? {}).filter(([, s]) => s.trainable !== false && s.grad !== false).map(([k]) => k)];
  const grads = gradients(g, loss, wrtNames.map((k) => v[k]));
  const outs = [y, loss, ...grads.filter((x): x is Value => !!x)];
  const names = ['y', 'loss', ...wrtNames.filter((_, i) => grads[i]).map((k) => `d${k}`)];
  const plan = new Plan(g, be, ps, outs);
  let res: (Float32Array | Float64Array)[] = [];
  for (let i = 0; i < runs; i++) res = plan.runToHost(feeds);
  return { res, names, ps };
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= worst)) { worst = e; at = i; }
  }
  assert.ok(worst <= tol * Math.max(scale, 1e-3), `${what}: max error ${worst} at ${at} (native ${a[at]}, reference ${b[at]}, scale ${scale})`);
}

/** Relative L2 error: robust to the few values where bf16 rounding flips a ReLU mask or a max. */
function closeL2(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let e = 0, n = 0;
  for (let i = 0; i < a.length; i++) { e += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  const rel = Math.sqrt(e / Math.max(n, 1e-30));
  assert.ok(rel <= tol || Math.sqrt(e / a.length) < 1e-6, `${what}: relative L2 error ${rel} > ${tol}`);
}

function parity(name: string, c: Case, seed = 1) {
  for (const [tag, be] of [['', () => native], [' blocked', () => nativeBlocked]] as const)
    test(`native${tag} vs reference: ${name}`, { skip }, () => {
      const want = runOn(reference, c, seed);
      const got = runOn(be(), c, seed);
      want.names.forEach((n, i) => close(got.res[i], want.res[i], c.tol ?? 1e-4, `${name}${tag}: ${n}`));
    });
  for (const [tag, be] of [['', () => nativeBf16], [' blocked', () => nativeBf16Blocked]] as const)
    test(`native bf16${tag} vs reference: ${name}`, { skip: skipBf16 }, () => {
      const want = runOn(reference, c, seed);
      const got = runOn(be(), c, seed);
      want.names.forEach((n, i) => {
        // mean(y * r) cancels; y and every gradient are compared instead.
        if (n === 'loss' && want.names[0] === 'y' && want.res[0].length > 1) return;
        closeL2(got.res[i], want.res[i], c.bf16Tol ?? Math.max(c.tol ?? 0, BF16_TOL), `${name} (bf16${tag}): ${n}`);
      });
    });
}

// ---- convolutions ----
const conv = (n: number, c: number, h: number, w: number, o: number, k: number, stride: number, pad: number, bias: boolean, relu: boolean): Case => ({
  inputs: { x: { shape: [n, c, h, w] } },
  params: { w: { shape: [o, c, k, k] }, ...(bias ? { b: { shape: [o] } } : {}) },
  build: (g, v) => g.conv(v.x, v.w, bias ? v.b : null, { stride, pad, relu }),
});
parity('conv 3x3 pad 1, bias, relu, C3 -> 4 on 7x5', conv(2, 3, 7, 5, 4, 3, 1, 1, true, true));
parity('conv 3x3 stride 2, no pad, C1 -> 17 on 13x11', conv(1, 1, 13, 11, 17, 3, 2, 0, false, false));
parity('conv 1x1 head, C17 -> 1 on 7x5', conv(3, 17, 7, 5, 1, 1, 1, 0, true, false));
// Blocked bf16 runs this one as Winograd (forward and data gradient): its rounding, about twice
// the direct conv's (bounded against float64 in winograd.test.ts), flips more ReLU masks, which
// moves the bias gradient by up to ~7% here. The same conv at 10x10 stays direct (under 12 a side).
parity('conv 3x3, C32 -> 32 on 12x12, bias, relu', { ...conv(2, 32, 12, 12, 32, 3, 1, 1, true, true), bf16Tol: 0.1 });
parity('conv 3x3, C32 -> 32 on 10x10, bias, relu', conv(2, 32, 10, 10, 32, 3, 1, 1, true, true));
parity('conv 5x5 pad 2, C3 -> 17 on 9x6', conv(2, 3, 9, 6, 17, 5, 1, 2, true, false));
parity('conv 3x3, C3 -> 16 on 7x5, bias (NHWC in, blocked out)', conv(2, 3, 7, 5, 16, 3, 1, 1, true, false));
parity('conv 1x1 head, C48 -> 1 on 6x5, bias (blocked in, NHWC out)', conv(2, 48, 6, 5, 1, 1, 1, 0, true, false));
parity('conv 3x3 stride 2, C16 -> 48 on 9x7, bias', conv(2, 16, 9, 7, 48, 3, 2, 1, true, false));
parity('conv 1x1 head, C32 -> 3 on 5x4, relu (blocked in, NHWC out)', conv(2, 32, 5, 4, 3, 1, 1, 0, false, true));

const deconv = (n: number, c: number, h: number, w: number, o: number, k: number, bias: boolean): Case => ({
  inputs: { x: { shape: [n, c, h, w] } },
  params: { w: { shape: [c, o, k, k] }, ...(bias ? { b: { shape: [o] } } : {}) },
  build: (g, v) => g.convTranspose(v.x, v.w, bias ? v.b : null),
});
parity('conv_transpose k2, C3 -> 4 on 7x5, bias', deconv(2, 3, 7, 5, 4, 2, true));
parity('conv_transpose k2, C17 -> 1 on 3x3', deconv(1, 17, 3, 3, 1, 2, false));
parity('conv_transpose k3, C1 -> 3 on 4x5, bias', deconv(2, 1, 4, 5, 3, 3, true));
parity('conv_transpose k2, C32 -> 16 on 5x3, bias', deconv(2, 32, 5, 3, 16, 2, true));

// ---- pooling, resampling, channels ----
for (const [c, h, w] of [[3, 13, 11], [17, 7, 5], [1, 2, 2], [32, 7, 5]])
  parity(`maxpool C${c} ${h}x${w} (odd sizes floor)`, { inputs: { x: { shape: [2, c, h, w], gen: 'distinct' } }, build: (g, v) => g.maxPool(v.x) });
for (const mode of ['bilinear-true', 'bilinear-false', 'nearest'])
  for (const [c, h, w] of [[3, 7, 5], [1, 1, 1], [17, 13, 11], [32, 5, 3], [24, 5, 4]]) {
    const [m, ac] = mode.split('-');
    parity(`upsample2x ${mode} C${c} ${h}x${w}`, {
      inputs: { x: { shape: [2, c, h, w] } },
      build: (g, v) => g.upsample2x(v.x, m as 'bilinear' | 'nearest', ac === 'true'),
    });
  }
for (const cs of [[1, 3, 17], [16, 32], [16, 3], [8, 8], [32, 16, 1]])
  parity(`concat C${cs.join(' + ')} (and split_channels back)`, {
    inputs: Object.fromEntries(cs.map((c, i) => [`x${i}`, { shape: [2, c, 7, 5] }])),
    build: (g, v) => g.concat(cs.map((_, i) => v[`x${i}`])),
  });

// concat_up: the up-sampling writes into its channels of the concat, its gradient reads dy's in place.
for (const mode of ['bilinear-true', 'bilinear-false', 'nearest'])
  for (const [cs, cl, h, w] of [[[1, 3], 17, 7, 5], [[16], 8, 3, 4], [[], 3, 1, 1], [[5, 2, 9], 1, 6, 3],
                                [[16, 32], 16, 3, 2], [[], 32, 2, 3], [[3], 16, 2, 2], [[8, 8], 16, 2, 2], [[16], 24, 3, 2]] as const) {
    const [m, ac] = mode.split('-');
    const inputs: Case['inputs'] = { low: { shape: [2, cl, h, w] } };
    cs.forEach((c, i) => { inputs[`x${i}`] = { shape: [2, c, 2 * h, 2 * w] }; });
    parity(`concat_up ${mode} C${cs.join('+') || '-'} + up(C${cl} ${h}x${w})`, {
      inputs,
      build: (g, v) => g.concatUp(cs.map((_, i) => v[`x${i}`]), v.low, m as 'bilinear' | 'nearest', ac === 'true'),
    });
  }

// ---- conv_bn: eval-mode conv + batch norm, forward only (no gradient rule) ----
for (const [bias, relu, c, o] of [[true, true, 3, 17], [false, false, 17, 16], [true, false, 32, 1], [true, true, 16, 32]] as const)
  test(`native vs reference: conv_bn${bias ? ' bias' : ''}${relu ? ' relu' : ''} C${c} -> ${o}, and = conv + batchnorm`, { skip }, () => {
    const rand = rng(7);
    const ps = new ParamStore();
    ps.set('w', [o, c, 3, 3], uniform32(o * c * 9, rand));
    ps.set('b', [o], uniform32(o, rand));
    ps.set('g', [o], uniform32(o, rand, 0.5, 1.5));
    ps.set('be', [o], uniform32(o, rand));
    ps.set('rm', [o], uniform32(o, rand), false);
    ps.set('rv', [o], uniform32(o, rand, 0.5, 1.5), false);
    const x = uniform32(2 * c * 7 * 5, rand);
    const run = (be: Backend, fused: boolean) => {
      const g = new Graph();
      const xv = g.input('x', [2, c, 7, 5]);
      const [w, b, gm, bt] = ['w', 'b', 'g', 'be'].map((n) => g.param(n, ps.get(n).shape));
      const y = fused
        ? g.convBnEval(xv, w, bias ? b : null, gm, bt, 'rm', 'rv', { pad: 1, relu })
        : g.batchNorm(g.conv(xv, w, bias ? b : null, { pad: 1 }), gm, bt, 'rm', 'rv', { training: false, relu });
      return new Plan(g, be, ps, [y]).runToHost({ x })[0];
    };
    const want = run(reference, false);
    close(run(reference, true), want, 1e-9, 'reference fused vs unfused');
    close(run(native, true), want, 1e-4, 'native fused vs reference');
    close(run(nativeBlocked, true), want, 1e-4, 'native blocked fused vs reference');
  });

// conv_bn keeps its folded weights between runs: changing any input of the fold in place
// (weights, bias, BN params, running statistics) must show in the next run, in both precisions.
test('native conv_bn: folded weights follow in-place changes of every parameter', { skip }, () => {
  const rand = rng(9);
  const ps = new ParamStore();
  const [c, o] = [16, 32];
  for (const [name, shape, lo] of [['w', [o, c, 3, 3], -1], ['b', [o], -1], ['g', [o], 0.5], ['bt', [o], -1], ['rm', [o], -1], ['rv', [o], 0.5]] as const)
    ps.set(name, [...shape], uniform32(shape.reduce((a, b) => a * b, 1), rand, lo, lo + 1.5), name !== 'rm' && name !== 'rv');
  const x = uniform32(2 * c * 9 * 7, rand);
  const graph = () => {
    const g = new Graph();
    const xv = g.input('x', [2, c, 9, 7]);
    const [w, b, gm, bt] = ['w', 'b', 'g', 'bt'].map((n) => g.param(n, ps.get(n).shape));
    g.param('rm', [o]); g.param('rv', [o]);
    return { g, y: g.convBnEval(xv, w, b, gm, bt, 'rm', 'rv', { pad: 1, relu: false }) };
  };
  const ref = () => { const { g, y } = graph(); return new Plan(g, reference, ps, [y]).runToHost({ x })[0]; };
  for (const be of [native, nativeBlocked, ...(bf16.ok ? [nativeBf16, nativeBf16Blocked] : [])]) {
    const { g, y } = graph();
    const plan = new Plan(g, be, ps, [y]);
    const tol = be.precision === 'bf16' ? 2e-2 : 1e-4;
    close(plan.runToHost({ x })[0], ref(), tol, `${be.precision} first run`);
    for (const name of ['w', 'b', 'g', 'bt', 'rm', 'rv']) {
      const d = ps.get(name).data;
      d[d.length - 1] += 0.75;  // the last output channel
      close(plan.runToHost({ x })[0], ref(), tol, `${be.precision} after changing ${name}`);
    }
  }
});

// frozenParams: the plan folds on its first run and never reads the params again (the contract:
// a predictor's private copy), so an in-place change is not seen by it, while a new plan sees it;
// each plan keeps its own folded weights.
test('native conv_bn: a frozenParams plan folds once, and per plan', { skip }, () => {
  const rand = rng(10);
  const ps = new ParamStore();
  const [c, o] = [16, 32];
  for (const [name, shape, lo] of [['w', [o, c, 3, 3], -1], ['g', [o], 0.5], ['bt', [o], -1], ['rm', [o], -1], ['rv', [o], 0.5]] as const)
    ps.set(name, [...shape], uniform32(shape.reduce((a, b) => a * b, 1), rand, lo, lo + 1.5), name !== 'rm' && name !== 'rv');
  const x = uniform32(2 * c * 8 * 8, rand);
  const plan = (be: NativeBackend, frozenParams: boolean) => {
    const g = new Graph();
    const xv = g.input('x', [2, c, 8, 8]);
    const [w, gm, bt] = ['w', 'g', 'bt'].map((n) => g.param(n, ps.get(n).shape));
    g.param('rm', [o]); g.param('rv', [o]);
    return new Plan(g, be, ps, [g.convBnEval(xv, w, null, gm, bt, 'rm', 'rv', { pad: 1, relu: false })], { frozenParams });
  };
  for (const be of [native, nativeBlocked, ...(bf16.ok ? [nativeBf16Blocked] : [])]) {
    const w = ps.get('w').data, saved = w.slice();
    const frozen = plan(be, true), checked = plan(be, false);
    const first = frozen.runToHost({ x })[0];
    close(checked.runToHost({ x })[0], first, 0, `${be.precision} frozen and checked plans agree`);
    w.fill(0.01);
    close(frozen.runToHost({ x })[0], first, 0, `${be.precision} the frozen plan keeps its fold`);
    const now = plan(be, true).runToHost({ x })[0];
    close(checked.runToHost({ x })[0], now, 0, `${be.precision} a new frozen plan and the checked plan see the change`);
    assert.ok(now.some((v, i) => Math.abs(v - first[i]) > 1e-3), 'the change must matter');
    w.set(saved);
  }
});

// ---- batch norm ----
for (const training of [true, false])
  for (const relu of [false, true])
    for (const [c, h, w] of [[3, 7, 5], [17, 13, 11], [16, 5, 3]])
      parity(`batchnorm ${training ? 'training' : 'eval'}${relu ? ' + relu' : ''} C${c} ${h}x${w}`, {
        inputs: { x: { shape: [2, c, h, w] } },
        params: { g: { shape: [c], gen: 'positive' }, b: { shape: [c] },
                  rm: { shape: [c], trainable: false }, rv: { shape: [c], gen: 'positive', trainable: false } },
        build: (g, v) => g.batchNorm(v.x, v.g, v.b, 'rm', 'rv', { training, relu }),
        tol: 2e-4,
      });

test('native vs reference: batchnorm running statistics after two training steps', { skip }, () => {
  const c: Case = {
    inputs: { x: { shape: [3, 17, 7, 5] } },
    params: { g: { shape: [17] }, b: { shape: [17] }, rm: { shape: [17], trainable: false }, rv: { shape: [17], gen: 'positive', trainable: false } },
    build: (g, v) => g.batchNorm(v.x, v.g, v.b, 'rm', 'rv', { training: true, relu: true, momentum: 0.1 }),
  };
  const want = runOn(reference, c, 3, 2);
  for (const be of [native, nativeBlocked]) {
    const got = runOn(be, c, 3, 2);
    for (const name of ['rm', 'rv']) close(got.ps.get(name).data, want.ps.get(name).data, 1e-5, `running ${name} (${be.layout})`);
  }
  const c16: Case = { ...c, inputs: { x: { shape: [3, 16, 5, 3] } },
    params: { g: { shape: [16] }, b: { shape: [16] }, rm: { shape: [16], trainable: false }, rv: { shape: [16], gen: 'positive', trainable: false } } };
  const want16 = runOn(reference, c16, 3, 2), got16 = runOn(nativeBlocked, c16, 3, 2);
  for (const name of ['rm', 'rv']) close(got16.ps.get(name).data, want16.ps.get(name).data, 1e-5, `running ${name} C16 (blocked)`);
});

// ---- element-wise ----
const unary = (name: string, f: (g: Graph, x: Value) => Value, shape: Shape = [2, 3, 7, 5]) =>
  parity(`${name} ${fmt(shape)}`, { inputs: { x: { shape } }, build: (g, v) => f(g, v.x) });
unary('relu', (g, x) => g.relu(x));
unary('leaky_relu', (g, x) => g.leakyRelu(x, 0.2), [1, 17, 13, 11]);
unary('sigmoid', (g, x) => g.sigmoid(x), [2, 1, 7, 5]);
for (const k of [1, 3, 17, 16]) unary('softmax', (g, x) => g.softmax(g.scale(x, 3)), [2, k, 7, 5]);
unary('scale', (g, x) => g.scale(x, -1.5));
unary('add, mul, add_n (x used three times)', (g, x) => g.addN([g.add(x, g.relu(x)), g.mul(x, g.sigmoid(x)), x]), [2, 17, 5, 3]);
unary('mean_all / fill_grad / ones', (g, x) => g.meanAll(g.mul(x, x)), [2, 3, 13, 11]);
unary('relu, add, mul, add_n on blocked', (g, x) => g.addN([g.add(x, g.relu(x)), g.mul(x, g.sigmoid(x)), x]), [2, 32, 5, 3]);

// ---- losses ----
for (const kind of ['bce', 'dice', 'bce_dice', 'ce', 'ce_dice'] as const)
  for (const k of [1, 3, 16]) {
    parity(`loss ${kind}, K=${k}`, {
      inputs: { z: { shape: [3, k, 7, 5] }, t: { shape: [3, k, 7, 5], gen: kind.startsWith('ce') ? 'onehot' : 'binary', grad: false } },
      build: (g, v) => g.scale(g.loss(g.scale(v.z, 3), v.t, kind, 0.7), 1.3),
    });
  }

// ---- dropout: the exact mask of the reference ----
test('native vs reference: dropout draws the same mask (NHWC storage, NCHW hash index), step after step', { skip }, () => {
  for (const shape of [[2, 3, 7, 5], [1, 17, 13, 11], [3, 1, 4, 4], [2, 16, 5, 3]] as Shape[]) {
    const c: Case = { inputs: { x: { shape, gen: 'positive' } }, build: (g, v) => g.dropout(v.x, 0.3, 1234567, true) };
    for (const [runs, be] of [[1, native], [2, native], [1, nativeBlocked], [2, nativeBlocked]] as const) {
      const want = runOn(reference, c, 5, runs), got = runOn(be, c, 5, runs);
      want.names.forEach((n, i) => {
        const a = got.res[i], b = want.res[i];
        if (n !== 'loss') for (let j = 0; j < a.length; j++) assert.equal(a[j] === 0, b[j] === 0, `${fmt(shape)} ${n}[${j}] mask, run ${runs}`);
        close(a, b, 1e-5, `dropout ${fmt(shape)} ${n}`);
      });
    }
  }
});

// ---- a small network: everything at once, with buffer reuse ----
parity('small UNet-like block: conv+bn+relu, pool, upsample, concat, head, bce_dice', {
  inputs: { x: { shape: [2, 3, 10, 8] }, t: { shape: [2, 1, 10, 8], gen: 'binary', grad: false } },
  params: { w1: { shape: [8, 3, 3, 3] }, g1: { shape: [8], gen: 'positive' }, b1: { shape: [8] },
            m1: { shape: [8], trainable: false }, v1: { shape: [8], gen: 'positive', trainable: false },
            w2: { shape: [8, 8, 3, 3] }, w3: { shape: [1, 16, 1, 1] }, b3: { shape: [1] } },
  build: (g, v) => {
    const a = g.batchNorm(g.conv(v.x, v.w1, null, { pad: 1 }), v.g1, v.b1, 'm1', 'v1', { training: true, relu: true });
    const d = g.conv(g.maxPool(a), v.w2, null, { pad: 1, relu: true });
    const u = g.upsample2x(d, 'bilinear', true);
    const cat = g.concat([g.dropout(a, 0.2, 7, true), u]);
    return g.loss(g.conv(cat, v.w3, v.b3), v.t, 'bce_dice');
  },
  tol: 2e-4,
});

// The same in blocked sizes: every activation but the input and the head is nChw16c there.
parity('small UNet-like block, 16/32 channels: conv+bn+relu, pool, concat_up, head, bce_dice', {
  inputs: { x: { shape: [2, 3, 8, 6] }, t: { shape: [2, 1, 8, 6], gen: 'binary', grad: false } },
  params: { w1: { shape: [16, 3, 3, 3] }, g1: { shape: [16], gen: 'positive' }, b1: { shape: [16] },
            m1: { shape: [16], trainable: false }, v1: { shape: [16], gen: 'positive', trainable: false },
            w2: { shape: [32, 16, 3, 3] }, b2: { shape: [32] }, w3: { shape: [16, 48, 3, 3] }, w4: { shape: [1, 16, 1, 1] }, b4: { shape: [1] } },
  build: (g, v) => {
    const a = g.batchNorm(g.conv(v.x, v.w1, null, { pad: 1 }), v.g1, v.b1, 'm1', 'v1', { training: true, relu: true });
    const d = g.conv(g.maxPool(a), v.w2, v.b2, { pad: 1, relu: true });
    const c = g.conv(g.concatUp([a], d, 'bilinear', false), v.w3, null, { pad: 1, relu: true });
    return g.loss(g.conv(c, v.w4, v.b4), v.t, 'bce_dice');
  },
  tol: 2e-4,
});

// ---- optimiser steps ----
test('adamStep and sgdStep follow PyTorch semantics', { skip }, () => {
  const rand = rng(9);
  const n = 1000;
  const p0 = uniform32(n, rand), grads = [uniform32(n, rand), uniform32(n, rand), uniform32(n, rand)];
  const p = p0.slice(), m = new Float32Array(n), v = new Float32Array(n);
  const P = Float64Array.from(p0), M = new Float64Array(n), V = new Float64Array(n);
  const [lr, b1, b2, eps, wd] = [3e-4, 0.9, 0.999, 1e-8, 1e-4];
  grads.forEach((g, s) => {
    adamStep(p, g, m, v, lr, b1, b2, eps, wd, s + 1);
    for (let i = 0; i < n; i++) {
      const gi = g[i] + wd * P[i];
      M[i] = b1 * M[i] + (1 - b1) * gi;
      V[i] = b2 * V[i] + (1 - b2) * gi * gi;
      P[i] -= (lr / (1 - b1 ** (s + 1))) * M[i] / (Math.sqrt(V[i]) / Math.sqrt(1 - b2 ** (s + 1)) + eps);
    }
  });
  close(p, P, 1e-6, 'adam param');
  const q = p0.slice(), buf = new Float32Array(n), Q = Float64Array.from(p0), B = new Float64Array(n);
  grads.forEach((g, s) => {
    sgdStep(q, g, buf, 0.1, 0.9, 1e-3, s + 1, 0, true);
    for (let i = 0; i < n; i++) {
      const gi = g[i] + 1e-3 * Q[i];
      B[i] = s === 0 ? gi : 0.9 * B[i] + gi;
      Q[i] -= 0.1 * (gi + 0.9 * B[i]);
    }
  });
  close(q, Q, 1e-6, 'sgd param');
});

// ---- boundary errors and threads ----
test('native: a wrong-shaped tensor raises an Error naming the op, the node and the shapes', { skip }, () => {
  const g = new Graph();
  const x = g.input('x', [1, 3, 5, 5]);
  const w = g.param('w', [4, 3, 3, 3]);
  const y = g.within('enc1', () => g.conv(x, w, null, { pad: 1 }));
  const k = native.kernel('conv')!;
  const rt = { step: 0, saved: () => ({}), param: () => { throw new Error('none'); } };
  const wt = { shape: [4, 3, 3, 3], data: new Float32Array(108) };
  const out = { shape: [1, 4, 5, 5], data: new Float32Array(100) };
  assert.throws(() => k([{ shape: [1, 3, 5, 4], data: new Float32Array(60) }, wt], [out], y.node, rt),
    /conv \(node enc1\/conv#\d+\): inputs \[1,3,5,4\]\(60\), \[4,3,3,3\]\(108\) -> outputs \[1,4,5,5\]\(100\): input 0 has 60 values, expected \[1,3,5,5\]/);
  assert.throws(() => k([{ shape: [1, 3, 5, 5], data: new Float64Array(75) }, wt], [out], y.node, rt), /conv .*input 0 is neither float32 nor bf16/);
  // The addon itself checks too, and names its function.
  const A = loadAddon();
  const geo = (k: number) => ({ n: 1, c: 3, o: 4, size: [5, 5], kernel: [k, k], stride: 1, pad: 1, layout: 'nhwc' as const });
  assert.throws(() => A.convFwd(new Float32Array(10), wt.data, null, out.data, geo(3), false), /convFwd: x \(argument 0\) has 10 values, expected 75/);
  assert.throws(() => A.convFwd(new Float32Array(75), wt.data, null, out.data, { ...geo(7), pad: 0 }, false), /convFwd: invalid geometry/);
  const noLayout = { ...geo(3), layout: undefined as unknown as 'nhwc' };
  assert.throws(() => A.convFwd(new Float32Array(75), wt.data, null, out.data, noLayout, false),
    /convFwd: geometry.layout must be the activation layout 'nhwc' or 'blocked'/);
  assert.throws(() => A.maxpoolFwd(new Float32Array(3), new Float32Array(1), 1, 3, [1, 1]), /maxpoolFwd: input \[1,3,1,1\] is smaller than 2x2/);
});

test('native: results do not depend on the thread count', { skip }, () => {
  const c = conv(2, 17, 13, 11, 8, 3, 1, 1, true, true);
  const before = getThreads();
  try {
    setThreads(1);
    const one = runOn(native, c, 4);
    setThreads(2);
    const two = runOn(native, c, 4);
    one.names.forEach((n, i) => close(one.res[i], two.res[i], 1e-5, `threads ${n}`));
  } finally {
    setThreads(before);
  }
});

// ---- layout choice ----
test('native layout: blocked, but NHWC for fp32 inference without Winograd; UNETPP_LAYOUT overrides, bad values are named', { skip }, async () => {
  const { defaultLayout } = await import('../../src/engine/backends/native.js');
  const saved = process.env.UNETPP_LAYOUT, savedWino = process.env.UNETPP_WINOGRAD, savedWino3d = process.env.UNETPP_WINOGRAD3D;
  try {
    delete process.env.UNETPP_LAYOUT;
    delete process.env.UNETPP_WINOGRAD;
    delete process.env.UNETPP_WINOGRAD3D;
    // training is blocked only where oneDNN has AVX-512 kernels for 16-channel blocks
    const info = (await import('../../src/engine/backends/native/addon.js')).loadAddon().info();
    const avx512 = info.avx512;
    // volumes: float32 inference blocked where our 3D Winograd runs its 3x3x3 convs, else NDHWC
    assert.equal(defaultLayout('fp32', 'infer', 3), avx512 && info.winograd3d ? 'blocked' : 'nhwc');
    process.env.UNETPP_WINOGRAD3D = '0';
    assert.equal(defaultLayout('fp32', 'infer', 3), 'nhwc');
    delete process.env.UNETPP_WINOGRAD3D;
    assert.equal(defaultLayout('fp32', 'train'), avx512 ? 'blocked' : 'nhwc');
    assert.equal(new NativeBackend({ use: 'train' }).layout, avx512 ? 'blocked' : 'nhwc');
    assert.equal(defaultLayout('bf16', 'infer'), 'blocked');
    assert.equal(defaultLayout('fp32', 'infer'), 'blocked');
    process.env.UNETPP_WINOGRAD = '0';
    assert.equal(defaultLayout('fp32', 'infer'), 'nhwc');
    assert.equal(defaultLayout('bf16', 'infer'), 'blocked');
    assert.equal(new NativeBackend({ use: 'infer' }).layout, 'nhwc');
    assert.equal(defaultLayout('fp32', 'train', 3), avx512 ? 'blocked' : 'nhwc');
    assert.equal(defaultLayout('fp32', 'infer', 3), 'nhwc');
    process.env.UNETPP_LAYOUT = 'nhwc';
    assert.equal(new NativeBackend({ use: 'train' }).layout, 'nhwc');
    process.env.UNETPP_LAYOUT = 'nchw';
    assert.throws(() => new NativeBackend(), /layout must be nhwc or blocked, got nchw \(from UNETPP_LAYOUT\)/);
  } finally {
    if (saved === undefined) delete process.env.UNETPP_LAYOUT; else process.env.UNETPP_LAYOUT = saved;
    if (savedWino === undefined) delete process.env.UNETPP_WINOGRAD; else process.env.UNETPP_WINOGRAD = savedWino;
    if (savedWino3d === undefined) delete process.env.UNETPP_WINOGRAD3D; else process.env.UNETPP_WINOGRAD3D = savedWino3d;
  }
});

// ---- giving memory back ----
test('native plan.dispose() frees its buffers at once (views detached), leaves params, and refuses to run again', { skip }, () => {
  const A = loadAddon();
  assert.equal(A.releaseArray(new Float32Array(8)), false, 'a plain Float32Array is not ours to free');
  const rand = rng(3);
  const ps = new ParamStore();
  ps.set('w', [16, 3, 3, 3], uniform32(16 * 27, rand));
  const g = new Graph();
  const y = g.relu(g.conv(g.input('x', [2, 3, 8, 8]), g.param('w', [16, 3, 3, 3]), null, { pad: 1 }));
  const plan = new Plan(g, nativeBlocked, ps, [y]);
  const x = uniform32(2 * 3 * 64, rand);
  const before = plan.runToHost({ x })[0];
  const out = plan.run({ x })[0].data;
  assert.equal(out.length, 2 * 16 * 64);
  plan.dispose();
  assert.equal(out.length, 0, 'the output buffer is detached');
  assert.equal(ps.get('w').data.length, 16 * 27, 'params stay');
  assert.throws(() => plan.run({ x }), /disposed/);
  const again = new Plan(g, nativeBlocked, ps, [y]).runToHost({ x })[0];
  close(again, before, 0, 'a new plan over the same params');
});
