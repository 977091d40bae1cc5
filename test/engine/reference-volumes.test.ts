// The reference kernels on volumes [N,C,D,H,W] against independent naive computations (one
// output at a time, straight from the definitions), and the ops whose math does not see the
// spatial rank against the same op on the volume reshaped to an image [N,C,D*H,W].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { rng, uniform, uniform32, distinct } from '../helpers/gradcheck.js';

type Feeds = Record<string, Float64Array>;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function run(build: (g: Graph) => Value[], feeds: Feeds, params = new ParamStore()): Float64Array[] {
  const g = new Graph();
  const outs = build(g);
  return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), params, outs).runToHost(feeds) as Float64Array[];
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, what = '') {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
}

/** Index of [a, b, c, d, e] in a row-major 5D array of shape s. */
const at = (s: readonly number[], a: number, b: number, c: number, d: number, e: number) => (((a * s[1] + b) * s[2] + c) * s[3] + d) * s[4] + e;

/** Calls f(n, c, z, y, x, flat index) for every element of shape s. */
function each(s: readonly number[], f: (n: number, c: number, z: number, y: number, x: number, i: number) => void) {
  let i = 0;
  for (let n = 0; n < s[0]; n++) for (let c = 0; c < s[1]; c++) for (let z = 0; z < s[2]; z++)
    for (let y = 0; y < s[3]; y++) for (let x = 0; x < s[4]; x++) f(n, c, z, y, x, i++);
}

test('volume conv matches a naive 3D cross-correlation (3x3x3 pad 1 and stride 2, 1x1x1, bias, relu)', () => {
  const rand = rng(1);
  for (const { x, w, stride, pad, relu } of [
    { x: [2, 2, 5, 4, 3], w: [3, 2, 3, 3, 3], stride: 1, pad: 1, relu: false },
    { x: [1, 3, 5, 6, 7], w: [2, 3, 3, 3, 3], stride: 2, pad: 1, relu: true },
    { x: [2, 3, 2, 3, 2], w: [4, 3, 1, 1, 1], stride: 1, pad: 0, relu: false },
  ]) {
    const ps = new ParamStore();
    ps.set('w', w, uniform32(size(w), rand));
    ps.set('b', [w[0]], uniform32(w[0], rand));
    const X = uniform(size(x), rand);
    const [y] = run((g) => [g.conv(g.input('x', x), g.param('w', w), g.param('b', [w[0]]), { stride, pad, relu })], { x: X }, ps);
    const out = x.slice(2).map((s) => Math.floor((s + 2 * pad - w[2]) / stride) + 1);
    const ys = [x[0], w[0], ...out];
    const W = ps.get('w').data, B = ps.get('b').data;
    const expected = new Float64Array(size(ys));
    each(ys, (n, o, z, r, q, i) => {
      let s = B[o];
      for (let c = 0; c < x[1]; c++) for (let a = 0; a < w[2]; a++) for (let b = 0; b < w[3]; b++) for (let e = 0; e < w[4]; e++) {
        const zi = z * stride - pad + a, ri = r * stride - pad + b, qi = q * stride - pad + e;
        if (zi < 0 || ri < 0 || qi < 0 || zi >= x[2] || ri >= x[3] || qi >= x[4]) continue;
        s += W[at(w, o, c, a, b, e)] * X[at(x, n, c, zi, ri, qi)];
      }
      expected[i] = relu ? Math.max(0, s) : s;
    });
    close(y, expected, 1e-12, `conv ${JSON.stringify(x)} ${JSON.stringify(w)} stride ${stride}`);
  }
});

test('volume conv_transpose 2x2x2 stride 2 paints a 2x2x2 block per input voxel, plus bias', () => {
  const rand = rng(2);
  const x = [2, 3, 2, 3, 1], w = [3, 2, 2, 2, 2];
  const ps = new ParamStore();
  ps.set('w', w, uniform32(size(w), rand));
  ps.set('b', [2], uniform32(2, rand));
  const X = uniform(size(x), rand);
  const [y] = run((g) => [g.convTranspose(g.input('x', x), g.param('w', w), g.param('b', [2]))], { x: X }, ps);
  const ys = [2, 2, 4, 6, 2];
  const W = ps.get('w').data, B = ps.get('b').data;
  const expected = new Float64Array(size(ys));
  each(ys, (n, o, z, r, q, i) => {
    let s = B[o];
    for (let c = 0; c < 3; c++) s += X[at(x, n, c, z >> 1, r >> 1, q >> 1)] * W[at(w, c, o, z & 1, r & 1, q & 1)];
    expected[i] = s;
  });
  close(y, expected);
});

test('volume maxpool 2x2x2 floors odd sizes; its gradient goes to each window\'s max', () => {
  const x = [2, 2, 5, 4, 3];
  const X = distinct(size(x), rng(3));
  const DY = uniform(2 * 2 * 2 * 2 * 1, rng(4));
  const [y, dx] = run((g) => {
    const xi = g.input('x', x);
    const p = g.maxPool(xi);
    const gr = g.addNode('maxpool_grad', [xi, p, g.input('dy', p.shape)], { fwd: p.node.id }, [x]);
    return [p, g.out(gr)];
  }, { x: X, dy: DY });
  const ys = [2, 2, 2, 2, 1];
  const expected = new Float64Array(size(ys)), expectedDx = new Float64Array(size(x));
  each(ys, (n, c, z, r, q, i) => {
    let best = -1;
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let e = 0; e < 2; e++) {
      const j = at(x, n, c, 2 * z + a, 2 * r + b, 2 * q + e);
      if (best < 0 || X[j] > X[best]) best = j;
    }
    expected[i] = X[best];
    expectedDx[best] = DY[i];
  });
  close(y, expected);
  close(dx, expectedDx);
});

/** Source coordinate of output o along an axis of input size n (output 2n), as PyTorch. */
function source(o: number, n: number, mode: string, align: boolean): [number, number, number] {
  if (mode === 'nearest') return [o >> 1, o >> 1, 0];
  const src = align ? (n > 1 ? (o * (n - 1)) / (2 * n - 1) : 0) : Math.max(0, (o + 0.5) / 2 - 0.5);
  const i0 = Math.min(Math.floor(src), n - 1);
  return [i0, Math.min(i0 + 1, n - 1), src - i0];
}

for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
  test(`volume upsample2x ${mode === 'bilinear' ? 'trilinear' : mode} alignCorners=${align}: the 8-corner weighted sum`, () => {
    const x = [2, 2, 3, 1, 4];
    const X = uniform(size(x), rng(5));
    const [y, cu] = run((g) => {
      const xi = g.input('x', x);
      return [g.upsample2x(xi, mode, align), g.concatUp([g.input('a', [2, 1, 6, 2, 8])], xi, mode, align)];
    }, { x: X, a: new Float64Array(2 * 6 * 2 * 8).fill(7) });
    const ys = [2, 2, 6, 2, 8];
    const expected = new Float64Array(size(ys));
    each(ys, (n, c, z, r, q, i) => {
      const [z0, z1, lz] = source(z, x[2], mode, align), [r0, r1, lr] = source(r, x[3], mode, align), [q0, q1, lq] = source(q, x[4], mode, align);
      let s = 0;
      for (const [zz, wz] of [[z0, 1 - lz], [z1, lz]]) for (const [rr, wr] of [[r0, 1 - lr], [r1, lr]]) for (const [qq, wq] of [[q0, 1 - lq], [q1, lq]])
        s += wz * wr * wq * X[at(x, n, c, zz, rr, qq)];
      expected[i] = s;
    });
    close(y, expected);
    // concat_up: channel 0 is the copied input, channels 1..2 the same up-sampling.
    const per = 6 * 2 * 8;
    for (let n = 0; n < 2; n++) {
      close(cu.subarray(n * 3 * per, n * 3 * per + per), new Float64Array(per).fill(7));
      close(cu.subarray(n * 3 * per + per, (n + 1) * 3 * per), expected.subarray(n * 2 * per, (n + 1) * 2 * per));
    }
  });
}

test('volume instancenorm: per image and channel over D*H*W, biased variance, affine, fused relu', () => {
  const x = [2, 3, 3, 2, 4];
  const rand = rng(6);
  const X = uniform(size(x), rand, -2, 3);
  const ps = new ParamStore();
  ps.set('g', [3], Float32Array.from([1, 0.5, 2]));
  ps.set('b', [3], Float32Array.from([0, 0.25, -0.5]));
  const [y, yr] = run((g) => {
    const xi = g.input('x', x);
    return [g.instanceNorm(xi, g.param('g', [3]), g.param('b', [3])), g.instanceNorm(xi, g.param('g', [3]), g.param('b', [3]), { relu: true, eps: 0.1 })];
  }, { x: X }, ps);
  const m = 3 * 2 * 4;
  for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) {
    const base = (n * 3 + c) * m;
    const v = X.subarray(base, base + m);
    const mean = v.reduce((a, b) => a + b, 0) / m;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / m;
    const [gm, bt] = [ps.get('g').data[c], ps.get('b').data[c]];
    close(y.subarray(base, base + m), v.map((t) => gm * (t - mean) / Math.sqrt(variance + 1e-5) + bt), 1e-12, `n${n} c${c}`);
    close(yr.subarray(base, base + m), v.map((t) => Math.max(0, gm * (t - mean) / Math.sqrt(variance + 0.1) + bt)), 1e-12, `relu n${n} c${c}`);
  }
});

test('volume softmax, losses, batch norm, instance norm and dropout equal the same ops on the volume seen as an image [N,C,D*H,W]', () => {
  const v = [2, 3, 2, 3, 4], im = [2, 3, 6, 4];
  const rand = rng(7);
  const z = uniform(size(v), rand, -3, 3);
  const onehot = new Float64Array(size(v));
  for (let n = 0; n < 2; n++) for (let p = 0; p < 24; p++) onehot[(n * 3 + Math.floor(rand() * 3)) * 24 + p] = 1;
  const binary = Float64Array.from(onehot, (t, i) => (i % 5 === 0 ? 1 - t : t));
  const ps = new ParamStore();
  ps.set('g', [3], uniform32(3, rand, 0.5, 1.5));
  ps.set('b', [3], uniform32(3, rand));
  ps.set('rm', [3], new Float32Array(3), false);
  ps.set('rv', [3], new Float32Array(3).fill(1), false);
  const ops = (g: Graph, s: number[]) => {
    const x = g.input('z', s), t = g.input('t', s), tb = g.input('tb', s);
    return [g.softmax(x), g.loss(x, t, 'ce_dice'), g.loss(x, t, 'ce'), g.loss(x, tb, 'bce_dice'), g.loss(x, tb, 'dice'),
      g.batchNorm(x, g.param('g', [3]), g.param('b', [3]), 'rm', 'rv', { training: true, relu: true }),
      g.instanceNorm(x, g.param('g', [3]), g.param('b', [3])), g.dropout(x, 0.4, 5, true)];
  };
  const feeds = { z, t: onehot, tb: binary };
  const a = run((g) => ops(g, v), feeds, ps), b = run((g) => ops(g, im), feeds, ps);
  a.forEach((r, i) => close(r, b[i], 1e-12, `output ${i}`));
});

test('volume batchnorm in training moves the running statistics with the unbiased variance over N*D*H*W', () => {
  const ps = new ParamStore();
  ps.set('g', [1], Float32Array.from([1]));
  ps.set('b', [1], Float32Array.from([0]));
  ps.set('rm', [1], Float32Array.from([0]), false);
  ps.set('rv', [1], Float32Array.from([1]), false);
  // Batch 2 of 2x2x1 volumes: 8 values per channel, mean 1.5, biased variance 1.25, unbiased 10/7.
  const x = Float64Array.from([0, 1, 2, 3, 0, 1, 2, 3]);
  run((g) => [g.batchNorm(g.input('x', [2, 1, 2, 2, 1]), g.param('g', [1]), g.param('b', [1]), 'rm', 'rv', { training: true })], { x }, ps);
  close(ps.get('rm').data, [0.15], 1e-7);
  close(ps.get('rv').data, [0.9 + 0.1 * 10 / 7], 1e-7);
});

test('volume shape errors name the op and the shapes', () => {
  const g = new Graph();
  const x = g.input('x', [1, 2, 4, 4, 4]);
  assert.throws(() => g.conv(x, g.param('w', [3, 2, 3, 3]), null), /conv: weight \(for input \[1,2,4,4,4\]\) must have rank 5, got \[3,2,3,3\]/);
  assert.throws(() => g.conv(g.input('tiny', [1, 2, 2, 4, 4]), g.param('w3', [3, 2, 3, 3, 3]), null), /conv: input \[1,2,2,4,4\] is smaller than kernel 3x3x3/);
  assert.throws(() => g.convTranspose(x, g.param('wt', [2, 2, 2, 2, 1]), null), /conv_transpose: kernel must be cubic, got \[2,2,2,2,1\]/);
  assert.throws(() => g.maxPool(g.input('flat', [1, 1, 1, 4, 4])), /maxpool: input \[1,1,1,4,4\] is smaller than 2x2x2/);
  assert.throws(() => g.concat([x, g.input('im', [1, 2, 4, 4])]), /concat: inputs differ outside the channel axis: \[1,2,4,4,4\] vs \[1,2,4,4\]/);
  assert.throws(() => g.concatUp([x], g.input('lo', [1, 2, 2, 2, 3])),
    /concat_up: inputs \[1,2,4,4,4\] must be \[1,\*,4,4,6\]: the batch and twice the spatial size of the up-sampled input \[1,2,2,2,3\]/);
  assert.throws(() => g.softmax(g.input('six', [1, 2, 2, 2, 2, 2])), /softmax: input must have rank 4 \[N,C,H,W\] or 5 \[N,C,D,H,W\], got \[1,2,2,2,2,2\]/);
  assert.throws(() => g.instanceNorm(x, g.param('gi', [3]), g.param('bi', [2])), /instancenorm: weight \[3\] does not match 2 channels of \[1,2,4,4,4\]/);
  assert.throws(() => g.instanceNorm(g.input('one', [2, 2, 1, 1, 1]), g.param('bi', [2]), g.param('bi', [2])), /instancenorm: needs more than one spatial position, got \[2,2,1,1,1\]/);
  assert.deepEqual(g.upsample2x(x).shape, [1, 2, 8, 8, 8]);
  assert.deepEqual(g.maxPool(g.input('odd', [1, 1, 5, 3, 7])).shape, [1, 1, 2, 1, 3]);
});
