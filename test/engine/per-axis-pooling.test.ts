// Per-axis pooling factors (volumes whose axes pool differently, as nnU-Net's plans for thick slices):
// max-pooling, up-sampling and concat_up with factors 1 or 2 per axis on the reference backend against
// naive computations from the definitions (PyTorch's F.max_pool3d / F.interpolate with per-axis scale
// factors), their gradients against float64 finite differences, and the graph's checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { check, rng, uniform, distinct } from '../helpers/gradcheck.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const FACTORS = [[1, 2, 2], [2, 1, 2], [2, 2, 1], [1, 1, 2], [2, 1, 1], [1, 2, 1], [2, 2, 2]];

function run(build: (g: Graph) => Value[], feeds: Record<string, Float64Array>): Float64Array[] {
  const g = new Graph();
  const outs = build(g);
  return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), outs).runToHost(feeds) as Float64Array[];
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-12) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

const at = (s: readonly number[], a: number, b: number, c: number, d: number, e: number) => (((a * s[1] + b) * s[2] + c) * s[3] + d) * s[4] + e;

function each(s: readonly number[], f: (n: number, c: number, z: number, y: number, x: number, i: number) => void) {
  let i = 0;
  for (let n = 0; n < s[0]; n++) for (let c = 0; c < s[1]; c++) for (let z = 0; z < s[2]; z++)
    for (let y = 0; y < s[3]; y++) for (let x = 0; x < s[4]; x++) f(n, c, z, y, x, i++);
}

/** Where output o of an axis of input size n up-sampled by f reads, as F.interpolate(scale_factor=f). */
function source(o: number, n: number, f: number, mode: string, align: boolean): [number, number, number] {
  if (mode === 'nearest') return [Math.floor(o / f), Math.floor(o / f), 0];
  const out = f * n;
  const src = align ? (out > 1 ? (o * (n - 1)) / (out - 1) : 0) : Math.max(0, (o + 0.5) / f - 0.5);
  const i0 = Math.min(Math.floor(src), n - 1);
  return [i0, Math.min(i0 + 1, n - 1), src - i0];
}

for (const f of FACTORS) {
  test(`maxpool ${f.join('x')}: the max of each window (odd sizes floored), its gradient to the first max`, () => {
    const x = [2, 2, 5, 4, 3];
    const X = distinct(size(x), rng(3));
    const ys = [2, 2, ...x.slice(2).map((s, k) => Math.floor(s / f[k]))];
    const DY = uniform(size(ys), rng(4));
    const [y, dx] = run((g) => {
      const xi = g.input('x', x);
      const p = g.maxPool(xi, f);
      const gr = g.addNode('maxpool_grad', [xi, p, g.input('dy', p.shape)], { ...p.node.attrs, fwd: p.node.id }, [x]);
      return [p, g.out(gr)];
    }, { x: X, dy: DY });
    const expected = new Float64Array(size(ys)), expectedDx = new Float64Array(size(x));
    each(ys, (n, c, z, r, q, i) => {
      let best = -1;
      for (let a = 0; a < f[0]; a++) for (let b = 0; b < f[1]; b++) for (let e = 0; e < f[2]; e++) {
        const j = at(x, n, c, f[0] * z + a, f[1] * r + b, f[2] * q + e);
        if (best < 0 || X[j] > X[best]) best = j;
      }
      expected[i] = X[best];
      expectedDx[best] = DY[i];
    });
    close(y, expected, 'y');
    close(dx, expectedDx, 'dx');
  });

  for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
    test(`upsample and concat_up ${f.join('x')}, ${mode === 'bilinear' ? 'trilinear' : mode} alignCorners=${align}`, () => {
      const x = [2, 2, 3, 1, 4];
      const ys = [2, 2, ...x.slice(2).map((s, k) => s * f[k])];
      const X = uniform(size(x), rng(5));
      const part = [2, 1, ...ys.slice(2)];
      const [y, cu] = run((g) => {
        const xi = g.input('x', x);
        return [g.upsample2x(xi, mode, align, f), g.concatUp([g.input('a', part)], xi, mode, align, f)];
      }, { x: X, a: new Float64Array(size(part)).fill(7) });
      assert.deepEqual([...y].length, size(ys));
      const expected = new Float64Array(size(ys));
      each(ys, (n, c, z, r, q, i) => {
        const [z0, z1, lz] = source(z, x[2], f[0], mode, align), [r0, r1, lr] = source(r, x[3], f[1], mode, align);
        const [q0, q1, lq] = source(q, x[4], f[2], mode, align);
        let s = 0;
        for (const [zz, wz] of [[z0, 1 - lz], [z1, lz]]) for (const [rr, wr] of [[r0, 1 - lr], [r1, lr]])
          for (const [qq, wq] of [[q0, 1 - lq], [q1, lq]]) s += wz * wr * wq * X[at(x, n, c, zz, rr, qq)];
        expected[i] = s;
      });
      close(y, expected, 'upsample');
      const per = size(ys.slice(2));
      for (let n = 0; n < 2; n++) {
        close(cu.subarray(n * 3 * per, n * 3 * per + per), new Float64Array(per).fill(7), 'concat_up part');
        close(cu.subarray(n * 3 * per + per, (n + 1) * 3 * per), expected.subarray(n * 2 * per, (n + 1) * 2 * per), 'concat_up up');
      }
    });
  }
}

for (const f of [[1, 2, 2], [2, 1, 1], [2, 2, 1]]) {
  test(`gradcheck maxpool, upsample and concat_up ${f.join('x')} (float64 finite differences)`, () => {
    const x = [1, 2, 4, 3, 5];
    check({ build: (g) => g.maxPool(g.input('x', x), f), feeds: { x: distinct(size(x), rng(5)) } });
    for (const [mode, align] of [['bilinear', true], ['bilinear', false], ['nearest', false]] as const) {
      const low = [2, 2, 2, 3, 2], high = low.slice(2).map((s, k) => s * f[k]);
      check({ build: (g) => g.upsample2x(g.input('x', low), mode, align, f), feeds: { x: uniform(size(low), rng(6)) }, maxPerTensor: 60 });
      const rand = rng(17);
      check({
        build: (g) => g.concatUp([g.input('a', [2, 1, ...high])], g.input('low', low), mode, align, f),
        feeds: { a: uniform(2 * size(high), rand), low: uniform(size(low), rand) },
        maxPerTensor: 60,
      });
    }
  });
}

test('factors [2, 2, 2] are the default op: the same node attributes-free result, bit for bit', () => {
  const x = [1, 2, 4, 6, 2], X = uniform(size(x), rng(9));
  const [a, b, c, d] = run((g) => {
    const xi = g.input('x', x);
    return [g.maxPool(xi), g.maxPool(xi, [2, 2, 2]), g.upsample2x(xi, 'bilinear', false), g.upsample2x(xi, 'bilinear', false, [2, 2, 2])];
  }, { x: X });
  assert.deepEqual([...a], [...b]);
  assert.deepEqual([...c], [...d]);
});

test('the graph refuses bad factors, naming them', () => {
  const g = new Graph();
  const v = g.input('v', [1, 2, 4, 4, 4]), im = g.input('im', [1, 2, 4, 4]);
  assert.throws(() => g.maxPool(v, [3, 2, 2]), /maxpool: factors must be 3 values of 1 or 2, got \[3,2,2\]/);
  assert.throws(() => g.maxPool(v, [2, 2]), /factors must be 3 values/);
  assert.throws(() => g.upsample2x(im, 'bilinear', true, [1, 2]), /per-axis factors are for volumes/);
  assert.throws(() => g.concatUp([g.input('a', [1, 1, 8, 8, 8])], v, 'bilinear', true, [1, 2, 2]), /must be \[1,\*,4,8,8\].*1x2x2 times/);
  assert.throws(() => g.maxPool(g.input('thin', [1, 1, 1, 4, 4]), [2, 2, 2]), /smaller than 2x2x2/);
  g.maxPool(g.input('thin2', [1, 1, 1, 4, 4]), [1, 2, 2]); // one slice pools in-plane
});
