// Known values of the reference kernels, computed by hand (PyTorch conventions), and the
// properties that make it usable as the oracle: op coverage, dtypes, params, speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Graph, Value } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { KERNEL_OPS } from '../../src/engine/ops.js';
import type { KernelTable } from '../../src/engine/backend.js';
import { dropoutStream, dropoutUniform } from '../../src/engine/dropout-hash.js';
import { rng, uniform, uniform32 } from '../helpers/gradcheck.js';

type Feeds = Record<string, Float64Array | Float32Array>;

/** Builds outputs in a fresh graph and runs them once on the float64 reference backend. */
function run(build: (g: Graph) => Value[], feeds: Feeds, params = new ParamStore(), dtype: 'float32' | 'float64' = 'float64'): number[][] {
  const g = new Graph();
  const outs = build(g);
  return new Plan(g, new ReferenceBackend({ dtype }), params, outs).runToHost(feeds).map((a) => Array.from(a));
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, what = '') {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
}

const f64 = (...v: number[]) => Float64Array.from(v);

// ---- coverage ----

// Backends' kernel tables are complete by type (KernelTable); this keeps the spec in step.
test('docs/engine.md specifies exactly the ops of the registry (ops.ts), each with a reference kernel', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/engine.md', import.meta.url)), 'utf8');
  const ops = new Set<string>();
  for (const line of doc.split('\n')) {
    const m = /^\| ([a-z0-9_, ]+) \|/.exec(line);
    if (!m || m[1].trim() === 'op') continue;
    for (const op of m[1].split(',')) ops.add(op.trim());
  }
  for (const leaf of ['input', 'param']) ops.delete(leaf);
  assert.ok(ops.size >= 30, `parsed only ${ops.size} ops from the spec`);
  assert.deepEqual([...ops].sort(), [...KERNEL_OPS].sort());
  const be = new ReferenceBackend();
  assert.deepEqual(KERNEL_OPS.filter((op) => typeof be.kernel(op) !== 'function'), []);
});

// tsc is the check here: an unused @ts-expect-error fails the build, so these lines fail if the
// registry stopped catching a missing kernel or wrong attributes.
test('the op registry\'s types: a table missing an op, or a node with wrong attributes, does not compile', () => {
  const be = new ReferenceBackend();
  const full = Object.fromEntries(KERNEL_OPS.map((op) => [op, be.kernel(op)])) as unknown as KernelTable;
  const { conv: _dropped, ...rest } = full;
  // @ts-expect-error: 'conv' is missing
  const partial: KernelTable = rest;
  const g = new Graph();
  const x = g.input('x', [1, 1, 4, 4]), w = g.param('w', [1, 1, 3, 3]);
  // @ts-expect-error: conv nodes need stride, pad and relu
  g.addNode('conv', [x, w], { stride: 1 }, [[1, 1, 2, 2]]);
  assert.equal(Object.keys(partial).length, KERNEL_OPS.length - 1);
});

// ---- convolutions ----

test('conv: 3x3 box filter on 1..9, pad 1, stride 1 and 2; bias and fused relu', () => {
  const x = f64(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const ps = new ParamStore();
  ps.set('w', [1, 1, 3, 3], new Float32Array(9).fill(1));
  ps.set('b', [1], f32(-30));
  const [s1, s2, relu] = run((g) => {
    const xi = g.input('x', [1, 1, 3, 3]);
    return [g.conv(xi, g.param('w', [1, 1, 3, 3]), null, { pad: 1 }),
      g.conv(xi, g.param('w', [1, 1, 3, 3]), null, { pad: 1, stride: 2 }),
      g.conv(xi, g.param('w', [1, 1, 3, 3]), g.param('b', [1]), { pad: 1, relu: true })];
  }, { x }, ps);
  close(s1, [12, 21, 16, 27, 45, 33, 24, 39, 28]);
  close(s2, [12, 16, 24, 28]);
  close(relu, [0, 0, 0, 0, 15, 3, 0, 9, 0]);
});

test('conv: cross-correlation (not convolution), OIHW weights over two channels', () => {
  // Weight picks x[c=0] at the top-left tap and x[c=1] at the bottom-right one, times 10.
  const w = new Float32Array(2 * 4);
  w[0] = 1; w[4 + 3] = 10;
  const ps = new ParamStore();
  ps.set('w', [1, 2, 2, 2], w);
  const x = f64(1, 2, 3, 4, 5, 6, 7, 8, 9, /* channel 1 */ 10, 20, 30, 40, 50, 60, 70, 80, 90);
  const [y] = run((g) => [g.conv(g.input('x', [1, 2, 3, 3]), g.param('w', [1, 2, 2, 2]), null)], { x }, ps);
  close(y, [1 + 500, 2 + 600, 4 + 800, 5 + 900]);
});

test('conv_transpose: k=stride=2 paints a 2x2 block per input pixel, plus bias', () => {
  const ps = new ParamStore();
  ps.set('w', [1, 1, 2, 2], f32(1, 2, 3, 4));
  ps.set('b', [1], f32(0.5));
  const [y] = run((g) => [g.convTranspose(g.input('x', [1, 1, 1, 2]), g.param('w', [1, 1, 2, 2]), g.param('b', [1]))], { x: f64(1, 2) }, ps);
  close(y, [1.5, 2.5, 2.5, 4.5, 3.5, 4.5, 6.5, 8.5]);
});

// ---- pooling ----

test('maxpool floors odd sizes; the gradient goes to the first max of each window, 0 elsewhere', () => {
  // 5x5: the last row and column are dropped (they hold the largest values, 100+).
  const x = f64(
    1, 3, 2, 2, 100,
    4, 2, 5, 1, 101,
    0, 0, 7, 6, 102,
    0, 0, 6, 7, 103,
    104, 105, 106, 107, 108);
  const g = new Graph();
  const xi = g.input('x', [1, 1, 5, 5]);
  const y = g.maxPool(xi);
  const dx = gradients(g, g.meanAll(g.mul(y, g.input('r', [1, 1, 2, 2]))), [xi])[0]!;
  const [yv, dxv] = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [y, dx]).runToHost({ x, r: f64(4, 8, 12, 16) });
  close(yv, [4, 5, 0, 7]);
  // mean over 4 values: d/dy = r / 4. The all-zero window ties: the first (top-left) wins;
  // the 7,7 window ties too (row-major: (2,2) before (3,3)).
  const expected = new Array(25).fill(0);
  expected[5] = 1; expected[7] = 2; expected[10] = 3; expected[12] = 4;
  close(dxv, expected);
});

// ---- resampling ----

test('upsample2x bilinear alignCorners=true on 2x2 matches PyTorch', () => {
  // Sources at o/3: out[i][j] = 1 + j/3 + 2 i/3 for input [[1,2],[3,4]].
  const [y] = run((g) => [g.upsample2x(g.input('x', [1, 1, 2, 2]), 'bilinear', true)], { x: f64(1, 2, 3, 4) });
  const expected: number[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expected.push(1 + j / 3 + (2 * i) / 3);
  close(y, expected);
});

test('upsample2x bilinear alignCorners=false on 2x2 matches PyTorch (half-pixel, clamped)', () => {
  const [y] = run((g) => [g.upsample2x(g.input('x', [1, 1, 2, 2]), 'bilinear', false)], { x: f64(1, 2, 3, 4) });
  close(y, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
});

test('upsample2x on a 3-wide row: alignCorners=true puts sources at o*2/5', () => {
  const [t, f, n] = run((g) => {
    const x = g.input('x', [1, 1, 1, 3]);
    return [g.upsample2x(x, 'bilinear', true), g.upsample2x(x, 'bilinear', false), g.upsample2x(x, 'nearest')];
  }, { x: f64(0, 10, 40) });
  // Sources 0, .4, .8, 1.2, 1.6, 2 for alignCorners; .0(clamped), .25, .75, 1.25, 1.75, 2.25->2 for half-pixel.
  // The single row becomes two identical rows.
  const twice = (row: number[]) => [...row, ...row];
  close(t, twice([0, 4, 8, 16, 28, 40]));
  close(f, twice([0, 2.5, 7.5, 17.5, 32.5, 40]));
  close(n, twice([0, 0, 10, 10, 40, 40]));
});

test('upsample2x nearest repeats each pixel 2x2; its gradient sums the 4 copies', () => {
  const g = new Graph();
  const x = g.input('x', [1, 1, 2, 2]);
  const y = g.upsample2x(x, 'nearest');
  const dx = gradients(g, g.scale(g.meanAll(g.mul(y, g.input('r', [1, 1, 4, 4]))), 16), [x])[0]!;
  const r = Float64Array.from({ length: 16 }, (_, i) => i);
  const [yv, dxv] = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [y, dx]).runToHost({ x: f64(1, 2, 3, 4), r });
  close(yv, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  close(dxv, [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
});

// ---- batch norm ----

for (const dtype of ['float32', 'float64'] as const) {
  test(`batchnorm (${dtype}): one training step normalises with the biased variance and updates the store's running stats`, () => {
    const ps = new ParamStore();
    ps.set('gamma', [1], f32(2));
    ps.set('beta', [1], f32(0.5));
    ps.set('rm', [1], f32(0), false);
    ps.set('rv', [1], f32(1), false);
    const build = (training: boolean) => (g: Graph) =>
      [g.batchNorm(g.input('x', [2, 1, 1, 2]), g.param('gamma', [1]), g.param('beta', [1]), 'rm', 'rv', { training })];
    const [y] = run(build(true), { x: f64(1, 2, 3, 4) }, ps, dtype);
    // mean 2.5, biased var 1.25, unbiased var 5/3.
    const inv = 1 / Math.sqrt(1.25 + 1e-5);
    const tol = dtype === 'float32' ? 1e-6 : 1e-12;
    close(y, [1, 2, 3, 4].map((v) => 2 * (v - 2.5) * inv + 0.5), tol);
    close(ps.get('rm').data, [0.9 * 0 + 0.1 * 2.5], 1e-7, 'running mean');
    close(ps.get('rv').data, [0.9 * 1 + 0.1 * (5 / 3)], 1e-7, 'running var');
    // Eval mode reads those running statistics.
    const [ye] = run(build(false), { x: f64(1, 2, 3, 4) }, ps, dtype);
    const rm = ps.get('rm').data[0], rv = ps.get('rv').data[0];
    close(ye, [1, 2, 3, 4].map((v) => (2 * (v - rm)) / Math.sqrt(rv + 1e-5) + 0.5), tol);
    assert.equal(ps.get('rm').data[0], rm, 'eval must not move the running mean');
  });
}

test('batchnorm: a training plan moves the running stats once per run, by momentum 0.1', () => {
  const ps = new ParamStore();
  ps.set('gamma', [2], f32(1, 1));
  ps.set('beta', [2], f32(0, 0));
  ps.set('rm', [2], f32(0, 0), false);
  ps.set('rv', [2], f32(1, 1), false);
  const g = new Graph();
  const y = g.batchNorm(g.input('x', [1, 2, 2, 2]), g.param('gamma', [2]), g.param('beta', [2]), 'rm', 'rv', { training: true, relu: true });
  const plan = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), ps, [y]);
  const x = f64(1, 1, 1, 1, /* c1 */ 0, 2, 0, 2); // c0 mean 1 var 0; c1 mean 1 var 1 (unbiased 4/3)
  let rm = [0, 0], rv = [1, 1];
  for (let step = 0; step < 3; step++) {
    const [out] = plan.runToHost({ x });
    rm = rm.map((r) => 0.9 * r + 0.1);
    rv = [0.9 * rv[0], 0.9 * rv[1] + 0.1 * (4 / 3)];
    close(ps.get('rm').data, rm, 1e-6, `rm after ${step + 1}`);
    close(ps.get('rv').data, rv, 1e-6, `rv after ${step + 1}`);
    // Fused ReLU: c0 is constant (normalises to 0), c1 is -1/+1 scaled by 1/sqrt(1+eps).
    const s = 1 / Math.sqrt(1 + 1e-5);
    close(out, [0, 0, 0, 0, 0, s, 0, s], 1e-12);
  }
});

// ---- activations ----

test('relu, leaky_relu, sigmoid, softmax, scale, add, mul, add_n, mean_all on known values', () => {
  const x = f64(-2, -0.5, 0, 1, 3, Math.log(3));
  const [relu, leaky, sig, sc, ad, mu, an, mean] = run((g) => {
    const xi = g.input('x', [1, 1, 2, 3]);
    return [g.relu(xi), g.leakyRelu(xi, 0.1), g.sigmoid(xi), g.scale(xi, -2), g.add(xi, xi), g.mul(xi, xi), g.addN([xi, xi, xi]), g.meanAll(xi)];
  }, { x });
  close(relu, [0, 0, 0, 1, 3, Math.log(3)]);
  close(leaky, [-0.2, -0.05, 0, 1, 3, Math.log(3)]);
  close(sig, [1 / (1 + Math.exp(2)), 1 / (1 + Math.exp(0.5)), 0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-3)), 0.75]);
  close(sc, Array.from(x, (v) => -2 * v));
  close(ad, Array.from(x, (v) => 2 * v));
  close(mu, Array.from(x, (v) => v * v));
  close(an, Array.from(x, (v) => 3 * v));
  close(mean, [(-2 - 0.5 + 0 + 1 + 3 + Math.log(3)) / 6]);
  // Sigmoid stays finite and exact far from 0.
  const [big] = run((g) => [g.sigmoid(g.input('x', [1, 1, 1, 2]))], { x: f64(-800, 800) });
  close(big, [0, 1]);
});

test('softmax is over channels, per pixel, and stable for large logits', () => {
  // Two pixels, three channels: pixel 0 logits (0, ln 2, ln 5), pixel 1 (1000, 1000, 1000).
  const x = f64(0, 1000, Math.log(2), 1000, Math.log(5), 1000);
  const [y] = run((g) => [g.softmax(g.input('x', [1, 3, 1, 2]))], { x });
  close(y, [1 / 8, 1 / 3, 2 / 8, 1 / 3, 5 / 8, 1 / 3]);
});

test('concat stacks channels in order per image', () => {
  const [y] = run((g) => [g.concat([g.input('a', [2, 1, 1, 2]), g.input('b', [2, 2, 1, 2])])],
    { a: f64(1, 2, 3, 4), b: f64(10, 20, 30, 40, 50, 60, 70, 80) });
  close(y, [1, 2, 10, 20, 30, 40, 3, 4, 50, 60, 70, 80]);
});

// ---- dropout ----

test('dropout follows dropoutUniform on the logical NCHW index, changes with the step, and its gradient reuses the mask', () => {
  const p = 0.3, seed = 42;
  const n = 2 * 3 * 8 * 8;
  const g = new Graph();
  const x = g.input('x', [2, 3, 8, 8]);
  const y = g.dropout(x, p, seed, true);
  const dx = gradients(g, g.scale(g.meanAll(y), n), [x])[0]!;
  const plan = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [y, dx]);
  const xs = Float64Array.from({ length: n }, (_, i) => 1 + i);
  const masks: boolean[][] = [];
  for (let step = 0; step < 2; step++) {
    const [yv, dxv] = plan.runToHost({ x: xs });
    const stream = dropoutStream(seed, step);
    const keep = Array.from({ length: n }, (_, i) => dropoutUniform(stream, i) >= p);
    masks.push(keep);
    close(yv, keep.map((k, i) => (k ? xs[i] / (1 - p) : 0)), 1e-12, `y at step ${step}`);
    close(dxv, keep.map((k) => (k ? 1 / (1 - p) : 0)), 1e-12, `dx at step ${step}`);
    const kept = keep.filter(Boolean).length / n;
    assert.ok(Math.abs(kept - (1 - p)) < 0.08, `kept fraction ${kept}`);
  }
  assert.notDeepEqual(masks[0], masks[1], 'the mask must change from step to step');
  // Not training, or p = 0: the identity (no node at all).
  const g2 = new Graph();
  const x2 = g2.input('x', [1, 1, 1, 2]);
  assert.equal(g2.dropout(x2, 0.5, 1, false), x2);
  assert.equal(g2.dropout(x2, 0, 1, true), x2);
});

// ---- losses ----

function lossOf(kind: 'bce' | 'dice' | 'bce_dice' | 'ce' | 'ce_dice', z: Float64Array, t: Float64Array, shape: number[], bceWeight = 0.5): number {
  return run((g) => [g.loss(g.input('z', shape), g.input('t', shape), kind, bceWeight)], { z, t })[0][0];
}

test('losses: bce of z = 0 is log 2 whatever the target; bce is stable for large |z|', () => {
  close([lossOf('bce', f64(0, 0, 0, 0), f64(0, 1, 0.3, 1), [1, 1, 2, 2])], [Math.log(2)]);
  close([lossOf('bce', f64(50, -50, 800, -800), f64(1, 0, 1, 0), [1, 1, 2, 2])], [Math.log1p(Math.exp(-50)) / 2], 1e-9);
  // A wrong confident logit costs |z|.
  close([lossOf('bce', f64(-30, 30), f64(1, 0), [1, 1, 1, 2])], [30 + Math.log1p(Math.exp(-30))]);
});

test('losses: dice of a perfect prediction is ~0, of p = 0.5 is known; empty truth and prediction score ~0 loss', () => {
  const t = f64(1, 0, 1, 0, /* image 2 */ 0, 0, 1, 1);
  const z = Float64Array.from(t, (v) => (v ? 40 : -40));
  assert.ok(lossOf('dice', z, t, [2, 1, 2, 2]) < 1e-9);
  // p = 0.5 everywhere: D = (2 * 0.5 * 2 + s) / (2 + 2 + s) for each image.
  const s = 1e-5;
  const d = (2 + s) / (4 + s);
  close([lossOf('dice', new Float64Array(8), t, [2, 1, 2, 2])], [1 - d]);
  close([lossOf('bce_dice', new Float64Array(8), t, [2, 1, 2, 2])], [0.5 * Math.log(2) + 1 - d]);
  close([lossOf('bce_dice', new Float64Array(8), t, [2, 1, 2, 2], 2)], [2 * Math.log(2) + 1 - d]);
  // An image with nothing to find and nothing found: D ~ 1.
  assert.ok(lossOf('dice', f64(-40, -40, -40, -40), f64(0, 0, 0, 0), [1, 1, 2, 2]) < 1e-6);
  // Dice sums over all channels of an image: one D per image, not per channel.
  const two = lossOf('dice', new Float64Array(8), f64(1, 1, 1, 1, 0, 0, 0, 0), [1, 2, 2, 2]);
  close([two], [1 - (2 * 0.5 * 4 + s) / (4 + 4 + s)]);
});

test('losses: ce of uniform logits is log K; ce_dice adds per-class Dice over H,W', () => {
  const t = f64(1, 0, 0, 1, /* class 1 */ 0, 1, 0, 0, /* class 2 */ 0, 0, 1, 0);
  close([lossOf('ce', new Float64Array(12), t, [1, 3, 2, 2])], [Math.log(3)]);
  // p = 1/3 everywhere; class k with a_k ones among 4 pixels: D = (2 a/3 + s) / (4/3 + a + s).
  const s = 1e-5;
  const D = (a: number) => ((2 * a) / 3 + s) / (4 / 3 + a + s);
  close([lossOf('ce_dice', new Float64Array(12), t, [1, 3, 2, 2])], [Math.log(3) + 1 - (D(2) + D(1) + D(1)) / 3]);
  // A confident correct prediction: ce ~ 0, Dice ~ 1 for every class.
  const z = Float64Array.from(t, (v) => (v ? 30 : -30));
  assert.ok(lossOf('ce_dice', z, t, [1, 3, 2, 2]) < 1e-9);
  // Confident and wrong on one pixel of four costs 60/4 in ce.
  const wrong = Float64Array.from(z);
  [wrong[0], wrong[4]] = [-30, 30]; // pixel 0 says class 1, truth is class 0
  const ce = lossOf('ce', wrong, t, [1, 3, 2, 2]);
  close([ce], [(60 + Math.log1p(2 * Math.exp(-60))) / 4 + (3 * Math.log1p(2 * Math.exp(-60))) / 4], 1e-9);
});

// ---- dtypes and params ----

/** A small UNet++ (bn preset shape: conv-BN-ReLU x2 per node, bilinear x2, deep supervision) built here, independent of src/models. */
function tinyUnetpp(g: Graph, ps: ParamStore | null, filters: number[], inCh: number, n: number, size: number, rand: () => number) {
  const param = (name: string, shape: number[], init: () => Float32Array, trainable = true) => {
    if (ps && !ps.has(name)) ps.set(name, shape, init(), trainable);
    return g.param(name, shape);
  };
  // PyTorch's default bound 1/sqrt(fan_in).
  const fanIn = (shape: number[]) => () => {
    const bound = 1 / Math.sqrt(shape[1] * shape[2] * shape[3]);
    return uniform32(shape.reduce((a, b) => a * b, 1), rand, -bound, bound);
  };
  const block = (name: string, x: Value, cout: number) => {
    let h = x;
    for (const k of [1, 2]) {
      const wShape = [cout, h.shape[1], 3, 3];
      h = g.conv(h, param(`${name}.conv${k}.weight`, wShape, fanIn(wShape)), param(`${name}.conv${k}.bias`, [cout], () => new Float32Array(cout)), { pad: 1 });
      h = g.batchNorm(h, param(`${name}.bn${k}.weight`, [cout], () => new Float32Array(cout).fill(1)),
        param(`${name}.bn${k}.bias`, [cout], () => new Float32Array(cout)),
        (param(`${name}.bn${k}.running_mean`, [cout], () => new Float32Array(cout), false), `${name}.bn${k}.running_mean`),
        (param(`${name}.bn${k}.running_var`, [cout], () => new Float32Array(cout).fill(1), false), `${name}.bn${k}.running_var`),
        { training: true, relu: true });
    }
    return h;
  };
  const L = filters.length - 1;
  const x = g.input('x', [n, inCh, size, size]);
  const X: Value[][] = [];
  for (let i = 0; i <= L; i++) X.push([block(`conv${i}_0`, i === 0 ? x : g.maxPool(X[i - 1][0]), filters[i])]);
  for (let j = 1; j <= L; j++)
    for (let i = 0; i + j <= L; i++)
      X[i][j] = block(`conv${i}_${j}`, g.concat([...X[i].slice(0, j), g.upsample2x(X[i + 1][j - 1], 'bilinear', true)]), filters[i]);
  const target = g.input('target', [n, 1, size, size]);
  const losses = [];
  for (let j = 1; j <= L; j++) {
    const wShape = [1, filters[0], 1, 1];
    const logits = g.conv(X[0][j], param(`final${j}.weight`, wShape, fanIn(wShape)), param(`final${j}.bias`, [1], () => new Float32Array(1)));
    losses.push(g.loss(logits, target, 'bce_dice'));
  }
  return g.scale(g.addN(losses), 1 / L);
}

test('float32 and float64 reference backends agree on a UNet++ training step (loss and gradients)', () => {
  const ps = new ParamStore();
  const g = new Graph();
  const loss = tinyUnetpp(g, ps, [2, 4, 8], 1, 2, 8, rng(20));
  const names = ps.trainableNames();
  const grads = gradients(g, loss, names.map((nm) => g.params.get(nm)!)) as Value[];
  const rand = rng(21);
  const feeds = { x: uniform32(128, rand), target: Float32Array.from(uniform(128, rand, 0, 1), (v) => (v > 0.6 ? 1 : 0)) };
  // Separate copies of the store: training mode moves running stats in both.
  const copy = () => { const c = new ParamStore(); for (const nm of ps.names()) { const p = ps.get(nm); c.set(nm, p.shape, p.data.slice(), p.trainable); } return c; };
  const p32 = copy(), p64 = copy();
  const o32 = new Plan(g, new ReferenceBackend({ dtype: 'float32' }), p32, [loss, ...grads]).runToHost(feeds);
  const o64 = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), p64, [loss, ...grads]).runToHost(feeds);
  assert.ok(o32[0] instanceof Float32Array && o64[0] instanceof Float64Array);
  for (let k = 0; k < o32.length; k++) {
    let scale = 0;
    for (const v of o64[k]) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < o32[k].length; i++)
      assert.ok(Math.abs(o32[k][i] - o64[k][i]) <= 1e-4 * scale + 1e-6, `${k === 0 ? 'loss' : names[k - 1]}[${i}]: ${o32[k][i]} vs ${o64[k][i]}`);
  }
  // Both wrote the same running statistics back to their stores.
  for (const nm of ps.names().filter((nm) => nm.includes('running')))
    close(p32.get(nm).data, p64.get(nm).data, 1e-5, nm);
});

test('bindParam shares float32 memory and copies for float64', () => {
  const host = f32(1, 2, 3);
  const t32 = new ReferenceBackend({ dtype: 'float32' }).bindParam(host, [3]);
  const t64 = new ReferenceBackend({ dtype: 'float64' }).bindParam(host, [3]);
  assert.equal(t32.data, host);
  assert.ok(t64.data instanceof Float64Array && t64.data !== (host as unknown));
  close(t64.data, [1, 2, 3]);
  assert.equal(new ReferenceBackend().dtype, 'float32');
  assert.throws(() => new ReferenceBackend({ dtype: 'float16' as never }), /dtype must be float32 or float64/);
});

test('speed: a UNet++ (filters 4,8,16,32) training step on 2x3x32x32 runs well under a second', () => {
  const ps = new ParamStore();
  const g = new Graph();
  const loss = tinyUnetpp(g, ps, [4, 8, 16, 32], 3, 2, 32, rng(30));
  const grads = gradients(g, loss, ps.trainableNames().map((nm) => g.params.get(nm)!)) as Value[];
  const plan = new Plan(g, new ReferenceBackend(), ps, [loss, ...grads]);
  const rand = rng(31);
  const feeds = { x: uniform32(2 * 3 * 32 * 32, rand), target: Float32Array.from(uniform(2 * 32 * 32, rand, 0, 1), (v) => (v > 0.5 ? 1 : 0)) };
  plan.run(feeds); // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    plan.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  assert.ok(Number.isFinite(plan.runToHost(feeds)[0][0]));
  assert.ok(times[1] < 1000, `median step ${times[1].toFixed(0)} ms`);
  if (process.env.REF_BENCH) console.log(`reference UNet++ 4,8,16,32 2x3x32x32 train step: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
});

function f32(...v: number[]) { return Float32Array.from(v); }
