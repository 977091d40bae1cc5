// Finite-difference checks of every gradient rule on the float64 reference backend: the
// analytic gradients (autodiff rules + reference backward kernels) of inputs and params.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value } from '../../src/engine/graph.js';
import { hasGradRule } from '../../src/engine/autodiff.js';
import type { Kernel } from '../../src/engine/backend.js';
import type { KernelOp } from '../../src/engine/ops.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { gradcheck, check, paramsOf, GradCheckSpec, GradCheckError, rng, uniform, uniform32, awayFromZero, distinct } from '../helpers/gradcheck.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---- convolutions ----

const convCases: { name: string; x: number[]; w: number[]; bias: boolean; stride: number; pad: number; relu: boolean }[] = [
  { name: '3x3 pad 1 with bias', x: [2, 3, 5, 6], w: [4, 3, 3, 3], bias: true, stride: 1, pad: 1, relu: false },
  { name: '3x3 pad 0 no bias', x: [2, 2, 5, 4], w: [3, 2, 3, 3], bias: false, stride: 1, pad: 0, relu: false },
  { name: '3x3 stride 2 pad 1 odd sizes', x: [1, 2, 7, 5], w: [3, 2, 3, 3], bias: true, stride: 2, pad: 1, relu: false },
  { name: '3x3 stride 2 pad 0', x: [2, 2, 6, 7], w: [2, 2, 3, 3], bias: false, stride: 2, pad: 0, relu: false },
  { name: '1x1 with bias', x: [2, 3, 4, 3], w: [5, 3, 1, 1], bias: true, stride: 1, pad: 0, relu: false },
  { name: '1x1 stride 2 fused relu', x: [2, 3, 5, 5], w: [2, 3, 1, 1], bias: true, stride: 2, pad: 0, relu: true },
  { name: '3x3 pad 1 fused relu', x: [2, 2, 5, 5], w: [3, 2, 3, 3], bias: true, stride: 1, pad: 1, relu: true },
  { name: '2x3 kernel pad 1', x: [1, 2, 4, 5], w: [2, 2, 2, 3], bias: true, stride: 1, pad: 1, relu: false },
];

for (const c of convCases) {
  test(`gradcheck conv: ${c.name}`, () => {
    const shapes: Record<string, number[]> = { w: c.w };
    if (c.bias) shapes.b = [c.w[0]];
    check({
      build: (g) => g.conv(g.input('x', c.x), g.param('w', c.w), c.bias ? g.param('b', [c.w[0]]) : null, { stride: c.stride, pad: c.pad, relu: c.relu }),
      feeds: { x: uniform(size(c.x), rng(1)) },
      params: paramsOf(2, shapes),
    });
  });
}

for (const [k, bias] of [[2, true], [2, false], [3, true]] as const) {
  test(`gradcheck conv_transpose: k=stride=${k}, ${bias ? 'with' : 'no'} bias`, () => {
    const w = [3, 2, k, k];
    check({
      build: (g) => g.convTranspose(g.input('x', [2, 3, 3, 4]), g.param('w', w), bias ? g.param('b', [2]) : null),
      feeds: { x: uniform(72, rng(3)) },
      params: paramsOf(4, bias ? { w, b: [2] } : { w }),
    });
  });
}

// ---- pooling, resampling, concat ----

for (const shape of [[2, 2, 5, 7], [1, 3, 4, 4], [1, 1, 3, 2]]) {
  test(`gradcheck maxpool: [${shape}]`, () => {
    // Distinct values 0.01 apart: no ties, and the step never reorders a window.
    check({ build: (g) => g.maxPool(g.input('x', shape)), feeds: { x: distinct(size(shape), rng(5)) } });
  });
}

for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
  for (const shape of [[2, 2, 3, 5], [1, 1, 1, 3], [1, 2, 4, 2]]) {
    test(`gradcheck upsample2x: ${mode}${mode === 'bilinear' ? ` alignCorners=${align}` : ''} [${shape}]`, () => {
      check({ build: (g) => g.upsample2x(g.input('x', shape), mode, align), feeds: { x: uniform(size(shape), rng(6)) } });
    });
  }
}

test('gradcheck concat of 3 (1, 3 and 2 channels)', () => {
  const rand = rng(7);
  check({
    build: (g) => g.concat([g.input('a', [2, 1, 3, 4]), g.input('b', [2, 3, 3, 4]), g.input('c', [2, 2, 3, 4])]),
    feeds: { a: uniform(24, rand), b: uniform(72, rand), c: uniform(48, rand) },
  });
});

for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
  const tag = `${mode}${mode === 'bilinear' ? ` alignCorners=${align}` : ''}`;
  test(`gradcheck concat_up: ${tag}, [2,1,6,10] + [2,2,6,10] + up([2,3,3,5])`, () => {
    const rand = rng(17);
    check({
      build: (g) => g.concatUp([g.input('a', [2, 1, 6, 10]), g.input('b', [2, 2, 6, 10])], g.input('low', [2, 3, 3, 5]), mode, align),
      feeds: { a: uniform(120, rand), b: uniform(240, rand), low: uniform(90, rand) },
    });
  });
  test(`gradcheck concat_up: ${tag}, [1,2,2,6] + up([1,1,1,3]); and up alone`, () => {
    const rand = rng(18);
    check({
      build: (g) => g.concatUp([g.input('a', [1, 2, 2, 6])], g.input('low', [1, 1, 1, 3]), mode, align),
      feeds: { a: uniform(24, rand), low: uniform(3, rand) },
    });
    check({ build: (g) => g.concatUp([], g.input('low', [1, 2, 3, 1]), mode, align), feeds: { low: uniform(6, rand) } });
  });
}

// ---- batch norm ----

for (const training of [true, false]) {
  for (const relu of [false, true]) {
    test(`gradcheck batchnorm: ${training ? 'training' : 'eval'}${relu ? ' + fused relu' : ''}`, () => {
      const ps = paramsOf(8, { gamma: [3], beta: [3] }, 0.5, 1.5);
      const rand = rng(9);
      ps.set('rm', [3], uniform32(3, rand, -0.5, 0.5), false);
      ps.set('rv', [3], uniform32(3, rand, 0.5, 2), false);
      // In training mode each run moves the running statistics, but they do not feed the output.
      const r = check({
        build: (g) => g.batchNorm(g.input('x', [2, 3, 3, 4]), g.param('gamma', [3]), g.param('beta', [3]), 'rm', 'rv', { training, relu }),
        feeds: { x: uniform(72, rng(10), -2, 2) },
        params: ps,
      });
      assert.ok(r.checked >= 72 + 6);
    });
  }
}

// ---- activations ----

const unaryCases: [string, (g: Graph, x: Value) => Value][] = [
  ['relu', (g, x) => g.relu(x)],
  ['leaky_relu alpha 0.2', (g, x) => g.leakyRelu(x, 0.2)],
  ['sigmoid', (g, x) => g.sigmoid(x)],
  ['softmax over 4 channels', (g, x) => g.softmax(x)],
  ['scale -1.5', (g, x) => g.scale(x, -1.5)],
  ['mean_all', (g, x) => g.meanAll(x)],
  ['dropout p=0.3', (g, x) => g.dropout(x, 0.3, 17, true)],
];
for (const [name, f] of unaryCases) {
  test(`gradcheck ${name}`, () => {
    // Away from 0 so that ReLU-like kinks are out of reach of the step.
    check({ build: (g) => f(g, g.input('x', [2, 4, 3, 3])), feeds: { x: awayFromZero(72, rng(11), 0.05, 3) } });
  });
}

test('gradcheck add, mul, add_n (with a value used twice)', () => {
  const rand = rng(12);
  check({
    build: (g) => {
      const a = g.input('a', [2, 2, 3, 3]), b = g.input('b', [2, 2, 3, 3]), c = g.input('c', [2, 2, 3, 3]);
      return g.addN([g.mul(a, b), g.add(b, c), a, g.mul(c, c)]);
    },
    feeds: { a: uniform(36, rand), b: uniform(36, rand), c: uniform(36, rand) },
  });
});

// ---- losses ----

const lossTargets = {
  binary: (n: number, rand: () => number) => Float64Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0)),
  soft: (n: number, rand: () => number) => uniform(n, rand, 0, 1),
};

/** One-hot over the channels of [N,K,H,W]. */
function oneHot(shape: number[], rand: () => number): Float64Array {
  const [n, k, h, w] = shape;
  const t = new Float64Array(size(shape));
  for (let ni = 0; ni < n; ni++) for (let p = 0; p < h * w; p++) t[(ni * k + Math.floor(rand() * k)) * h * w + p] = 1;
  return t;
}

for (const kind of ['bce', 'dice', 'bce_dice'] as const) {
  for (const [tname, make] of Object.entries(lossTargets)) {
    for (const shape of [[2, 1, 3, 4], [2, 2, 2, 3]]) {
      test(`gradcheck loss ${kind}, ${tname} targets, [${shape}]`, () => {
        const rand = rng(13);
        check({
          build: (g) => g.loss(g.input('z', shape), g.input('t', shape), kind, 0.7),
          feeds: { z: uniform(size(shape), rand, -3, 3), t: make(size(shape), rand) },
          wrtInputs: ['z', 't'],
        }, ['t']); // targets get no gradient, by design
      });
    }
  }
}

for (const kind of ['ce', 'ce_dice'] as const) {
  for (const shape of [[2, 3, 2, 3], [1, 2, 4, 4]]) {
    test(`gradcheck loss ${kind}, one-hot targets, [${shape}]`, () => {
      const rand = rng(14);
      check({
        build: (g) => g.loss(g.input('z', shape), g.input('t', shape), kind),
        feeds: { z: uniform(size(shape), rand, -3, 3), t: oneHot(shape, rand) },
        wrtInputs: ['z'],
      });
    });
  }
}

// ---- a small network: every path at once, params included ----

test('gradcheck a small nested-U block: conv+bn+relu, pool, upsample, transpose conv, concat, head, bce_dice', () => {
  const ps = paramsOf(15, {
    'c00.w': [3, 2, 3, 3], 'c00.b': [3], 'c10.w': [4, 3, 3, 3], 'c10.b': [4],
    'up.w': [4, 2, 2, 2], 'up.b': [2], 'c01.w': [3, 3 + 4 + 2, 3, 3], 'c01.b': [3], 'head.w': [1, 3, 1, 1], 'head.b': [1],
  }, -0.5, 0.5);
  ps.set('bn.gamma', [3], Float32Array.from([1, 0.8, 1.2]));
  ps.set('bn.beta', [3], Float32Array.from([0.1, -0.1, 0.2]));
  ps.set('bn.rm', [3], new Float32Array(3), false);
  ps.set('bn.rv', [3], Float32Array.from([1, 1, 1]), false);
  const rand = rng(16);
  const r = check({
    build: (g) => {
      const x = g.input('x', [2, 2, 6, 6]);
      let x00 = g.conv(x, g.param('c00.w', [3, 2, 3, 3]), g.param('c00.b', [3]), { pad: 1 });
      x00 = g.batchNorm(x00, g.param('bn.gamma', [3]), g.param('bn.beta', [3]), 'bn.rm', 'bn.rv', { training: true, relu: true });
      const x10 = g.conv(g.maxPool(x00), g.param('c10.w', [4, 3, 3, 3]), g.param('c10.b', [4]), { pad: 1, relu: true });
      const upB = g.upsample2x(x10, 'bilinear', true);
      const upT = g.convTranspose(x10, g.param('up.w', [4, 2, 2, 2]), g.param('up.b', [2]));
      const x01 = g.conv(g.concat([x00, upB, upT]), g.param('c01.w', [3, 9, 3, 3]), g.param('c01.b', [3]), { pad: 1, relu: true });
      const logits = g.conv(x01, g.param('head.w', [1, 3, 1, 1]), g.param('head.b', [1]));
      return g.loss(logits, g.input('t', [2, 1, 6, 6]), 'bce_dice');
    },
    feeds: { x: uniform(144, rand), t: lossTargets.binary(72, rand) },
    params: ps,
    wrtInputs: ['x'],
    maxPerTensor: 40,
  });
  assert.ok(r.checked > 200);
});

// ---- the checker itself must be able to fail ----

test('gradcheck reports a wrong gradient kernel, naming the tensor', () => {
  // A backend whose sigmoid_grad forgets the (1 - y) factor.
  class Broken extends ReferenceBackend {
    override kernel(op: KernelOp): Kernel {
      if (op !== 'sigmoid_grad') return super.kernel(op);
      return (ins, outs) => { for (let i = 0; i < outs[0].data.length; i++) outs[0].data[i] = ins[0].data[i] * ins[1].data[i]; };
    }
  }
  const spec: GradCheckSpec = {
    build: (g) => g.sigmoid(g.input('x', [1, 1, 2, 2])),
    feeds: { x: Float64Array.from([0.5, -1, 2, 0.25]) },
  };
  assert.equal(gradcheck(spec).checked, 4);
  assert.throws(() => gradcheck({ ...spec, backend: new Broken({ dtype: 'float64' }) }),
    (e: unknown) => e instanceof GradCheckError && e.report.failures.length === 4 && /input 'x' \[1,1,2,2\] \[0\]: analytic/.test(e.message));
});

test('gradcheck excuses a point on a kink, counts it, and fails when kinks are too common', () => {
  // ReLU exactly at 0: the analytic gradient is 0, the central difference 1/2.
  const spec: GradCheckSpec = {
    build: (g) => g.relu(g.input('x', [1, 1, 1, 4])),
    feeds: { x: Float64Array.from([0, 0.5, -0.5, 1]) },
  };
  assert.throws(() => gradcheck(spec), /1 of 4 elements sit on kinks/);
  const r = gradcheck({ ...spec, maxKinkFraction: 0.25 });
  assert.equal(r.kinks, 1);
});

test('every differentiable forward op in the spec has a gradcheck here', () => {
  const covered = ['conv', 'conv_transpose', 'maxpool', 'upsample2x', 'concat', 'concat_up', 'batchnorm', 'relu', 'leaky_relu',
    'sigmoid', 'softmax', 'dropout', 'scale', 'add', 'mul', 'add_n', 'mean_all', 'loss'];
  for (const op of covered) assert.ok(hasGradRule(op), op);
});
