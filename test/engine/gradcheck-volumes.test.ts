// Finite-difference checks in float64 of every op on volumes [N,C,D,H,W] (odd sizes and batch 1
// included), and of instance norm on images and volumes. The 2D cases are in gradcheck.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value } from '../../src/engine/graph.js';
import { check, paramsOf, rng, uniform, uniform32, awayFromZero, distinct } from '../helpers/gradcheck.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---- convolutions ----

const convCases: { name: string; x: number[]; w: number[]; bias: boolean; stride: number; pad: number; relu: boolean }[] = [
  { name: '3x3x3 pad 1 with bias, batch 1, odd sizes', x: [1, 2, 3, 4, 5], w: [3, 2, 3, 3, 3], bias: true, stride: 1, pad: 1, relu: false },
  { name: '3x3x3 pad 0 no bias', x: [2, 2, 4, 3, 5], w: [2, 2, 3, 3, 3], bias: false, stride: 1, pad: 0, relu: false },
  { name: '3x3x3 stride 2 pad 1 fused relu', x: [2, 2, 5, 3, 4], w: [2, 2, 3, 3, 3], bias: true, stride: 2, pad: 1, relu: true },
  { name: '1x1x1 with bias', x: [2, 3, 3, 2, 3], w: [4, 3, 1, 1, 1], bias: true, stride: 1, pad: 0, relu: false },
  { name: '2x2x2 kernel stride 2 on depth 1 pad 1', x: [1, 2, 1, 3, 3], w: [2, 2, 2, 2, 2], bias: false, stride: 2, pad: 1, relu: false },
];

for (const c of convCases) {
  test(`gradcheck volume conv: ${c.name}`, () => {
    const shapes: Record<string, number[]> = { w: c.w };
    if (c.bias) shapes.b = [c.w[0]];
    check({
      build: (g) => g.conv(g.input('x', c.x), g.param('w', c.w), c.bias ? g.param('b', [c.w[0]]) : null, { stride: c.stride, pad: c.pad, relu: c.relu }),
      feeds: { x: c.relu ? awayFromZero(size(c.x), rng(1), 0.05, 1) : uniform(size(c.x), rng(1)) },
      params: paramsOf(2, shapes),
      maxPerTensor: 60,
    });
  });
}

for (const bias of [true, false]) {
  test(`gradcheck volume conv_transpose 2x2x2 stride 2, ${bias ? 'with' : 'no'} bias`, () => {
    const w = [3, 2, 2, 2, 2];
    check({
      build: (g) => g.convTranspose(g.input('x', [2, 3, 2, 3, 1]), g.param('w', w), bias ? g.param('b', [2]) : null),
      feeds: { x: uniform(36, rng(3)) },
      params: paramsOf(4, bias ? { w, b: [2] } : { w }),
    });
  });
}

// ---- pooling, resampling, concat ----

for (const shape of [[2, 2, 5, 4, 3], [1, 1, 4, 4, 4], [1, 3, 3, 2, 2]]) {
  test(`gradcheck volume maxpool: [${shape}]`, () => {
    check({ build: (g) => g.maxPool(g.input('x', shape)), feeds: { x: distinct(size(shape), rng(5)) } });
  });
}

for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
  for (const shape of [[2, 2, 2, 3, 2], [1, 1, 1, 2, 3], [1, 2, 3, 1, 2]]) {
    test(`gradcheck volume upsample2x: ${mode}${mode === 'bilinear' ? ` alignCorners=${align}` : ''} [${shape}]`, () => {
      check({ build: (g) => g.upsample2x(g.input('x', shape), mode, align), feeds: { x: uniform(size(shape), rng(6)) }, maxPerTensor: 60 });
    });
  }
  test(`gradcheck volume concat_up: ${mode} alignCorners=${align}, [2,1,4,2,6] + [2,2,4,2,6] + up([2,2,2,1,3])`, () => {
    const rand = rng(17);
    check({
      build: (g) => g.concatUp([g.input('a', [2, 1, 4, 2, 6]), g.input('b', [2, 2, 4, 2, 6])], g.input('low', [2, 2, 2, 1, 3]), mode, align),
      feeds: { a: uniform(96, rand), b: uniform(192, rand), low: uniform(24, rand) },
      maxPerTensor: 60,
    });
  });
}

test('gradcheck volume concat of 3 (1, 3 and 2 channels)', () => {
  const rand = rng(7);
  check({
    build: (g) => g.concat([g.input('a', [2, 1, 3, 2, 3]), g.input('b', [2, 3, 3, 2, 3]), g.input('c', [2, 2, 3, 2, 3])]),
    feeds: { a: uniform(36, rand), b: uniform(108, rand), c: uniform(72, rand) },
  });
});

// ---- norms ----

for (const shape of [[2, 3, 2, 3, 2], [1, 2, 3, 1, 3]]) {
  for (const training of [true, false]) {
    test(`gradcheck volume batchnorm: ${training ? 'training' : 'eval'} + fused relu [${shape}]`, () => {
      const c = shape[1];
      const ps = paramsOf(8, { gamma: [c], beta: [c] }, 0.5, 1.5);
      const rand = rng(9);
      ps.set('rm', [c], uniform32(c, rand, -0.5, 0.5), false);
      ps.set('rv', [c], uniform32(c, rand, 0.5, 2), false);
      check({
        build: (g) => g.batchNorm(g.input('x', shape), g.param('gamma', [c]), g.param('beta', [c]), 'rm', 'rv', { training, relu: true }),
        feeds: { x: uniform(size(shape), rng(10), -2, 2) },
        params: ps,
      });
    });
  }
}

for (const shape of [[2, 3, 2, 3, 2], [1, 2, 3, 1, 3], [2, 3, 3, 4], [1, 2, 1, 3]]) {
  for (const relu of [false, true]) {
    test(`gradcheck instancenorm${relu ? ' + fused relu' : ''} [${shape}]`, () => {
      const c = shape[1];
      check({
        build: (g) => g.instanceNorm(g.input('x', shape), g.param('gamma', [c]), g.param('beta', [c]), { relu }),
        feeds: { x: uniform(size(shape), rng(10), -2, 2) },
        params: paramsOf(8, { gamma: [c], beta: [c] }, 0.5, 1.5),
      });
    });
  }
}

test('gradcheck instancenorm eps 1e-3 inside a conv block (the gradient flows to the conv through the statistics)', () => {
  const ps = paramsOf(21, { w: [2, 2, 3, 3, 3], gamma: [2], beta: [2] }, -0.5, 0.5);
  check({
    build: (g) => {
      const z = g.conv(g.input('x', [1, 2, 3, 3, 3]), g.param('w', [2, 2, 3, 3, 3]), null, { pad: 1 });
      return g.instanceNorm(z, g.param('gamma', [2]), g.param('beta', [2]), { eps: 1e-3 });
    },
    feeds: { x: uniform(54, rng(22)) },
    params: ps,
    maxPerTensor: 60,
  });
});

// ---- activations and losses ----

const unaryCases: [string, (g: Graph, x: Value) => Value][] = [
  ['softmax over 3 channels', (g, x) => g.softmax(x)],
  ['dropout p=0.3', (g, x) => g.dropout(x, 0.3, 17, true)],
  ['leaky_relu alpha 0.01', (g, x) => g.leakyRelu(x)],
  ['relu', (g, x) => g.relu(x)],
  ['sigmoid', (g, x) => g.sigmoid(x)],
  ['scale, mul, add, add_n', (g, x) => g.addN([g.mul(x, g.scale(x, -1.5)), g.add(x, g.sigmoid(x)), x])],
  ['mean_all', (g, x) => g.meanAll(x)],
];
for (const [name, f] of unaryCases) {
  test(`gradcheck volume ${name}`, () => {
    check({ build: (g) => f(g, g.input('x', [2, 3, 2, 3, 2])), feeds: { x: awayFromZero(72, rng(11), 0.05, 3) } });
  });
}

/** One-hot over the channels of [N,K,...]. */
function oneHot(shape: number[], rand: () => number): Float64Array {
  const [n, k] = shape;
  const s = size(shape) / (n * k);
  const t = new Float64Array(size(shape));
  for (let ni = 0; ni < n; ni++) for (let p = 0; p < s; p++) t[(ni * k + Math.floor(rand() * k)) * s + p] = 1;
  return t;
}

for (const kind of ['bce', 'dice', 'bce_dice'] as const) {
  for (const shape of [[2, 1, 2, 3, 2], [1, 2, 3, 2, 1]]) {
    test(`gradcheck volume loss ${kind} [${shape}]`, () => {
      const rand = rng(13);
      check({
        build: (g) => g.loss(g.input('z', shape), g.input('t', shape), kind, 0.5),
        feeds: { z: uniform(size(shape), rand, -3, 3), t: Float64Array.from({ length: size(shape) }, () => (rand() < 0.4 ? 1 : 0)) },
        wrtInputs: ['z'],
      });
    });
  }
}

for (const kind of ['ce', 'ce_dice'] as const) {
  test(`gradcheck volume loss ${kind}, one-hot targets [2,3,2,2,3]`, () => {
    const rand = rng(14);
    const shape = [2, 3, 2, 2, 3];
    check({
      build: (g) => g.loss(g.input('z', shape), g.input('t', shape), kind),
      feeds: { z: uniform(size(shape), rand, -3, 3), t: oneHot(shape, rand) },
      wrtInputs: ['z'],
    });
  });
}

// ---- a small 3D network: every path at once ----

test('gradcheck a small nested-U volume block: conv + instance norm + relu, pool, trilinear concat_up, transposed conv, head, bce_dice', () => {
  const ps = paramsOf(15, {
    'c00.w': [2, 1, 3, 3, 3], 'c00.b': [2], 'c10.w': [3, 2, 3, 3, 3], 'c10.b': [3],
    'up.w': [3, 2, 2, 2, 2], 'up.b': [2], 'c01.w': [2, 2 + 3 + 2, 3, 3, 3], 'c01.b': [2], 'head.w': [1, 2, 1, 1, 1], 'head.b': [1],
  }, -0.5, 0.5);
  ps.set('in.gamma', [2], Float32Array.from([1, 0.8]));
  ps.set('in.beta', [2], Float32Array.from([0.1, -0.1]));
  const rand = rng(16);
  const r = check({
    build: (g) => {
      const x = g.input('x', [1, 1, 4, 4, 4]);
      let x00 = g.conv(x, g.param('c00.w', [2, 1, 3, 3, 3]), g.param('c00.b', [2]), { pad: 1 });
      x00 = g.instanceNorm(x00, g.param('in.gamma', [2]), g.param('in.beta', [2]), { relu: true });
      const x10 = g.conv(g.maxPool(x00), g.param('c10.w', [3, 2, 3, 3, 3]), g.param('c10.b', [3]), { pad: 1, relu: true });
      const upT = g.convTranspose(x10, g.param('up.w', [3, 2, 2, 2, 2]), g.param('up.b', [2]));
      const cat = g.concatUp([x00, upT], x10, 'bilinear', true);
      const x01 = g.conv(cat, g.param('c01.w', [2, 7, 3, 3, 3]), g.param('c01.b', [2]), { pad: 1, relu: true });
      const logits = g.conv(x01, g.param('head.w', [1, 2, 1, 1, 1]), g.param('head.b', [1]));
      return g.loss(logits, g.input('t', [1, 1, 4, 4, 4]), 'bce_dice');
    },
    feeds: { x: uniform(64, rand), t: Float64Array.from({ length: 64 }, () => (rand() < 0.4 ? 1 : 0)) },
    params: ps,
    wrtInputs: ['x'],
    maxPerTensor: 30,
  });
  assert.ok(r.checked > 150);
});
