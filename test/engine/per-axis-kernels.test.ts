// Per-axis conv kernels (volumes whose thick slices get 1x3x3 convs, as nnU-Net's plans): the reference conv with a
// kernel and a padding per axis against a naive loop over the definition (PyTorch's conv3d with padding=(pd, ph, pw)),
// its gradients against float64 finite differences, conv_bn against conv then eval batch norm, and the graph's
// checks and normalisation of the padding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { check, paramsOf, rng, uniform } from '../helpers/gradcheck.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
type V5 = [number, number, number, number, number];

/** y = conv3d(x, w) + b with padding p per axis and stride s, by the definition (zero outside x). */
function naiveConv(x: Float64Array, xs: V5, w: Float64Array, ws: V5, b: Float64Array, p: number[], s: number): { y: Float64Array; ys: V5 } {
  const [n, c, d, h, wd] = xs, [o, , kd, kh, kw] = ws;
  const out = (v: number, k: number, pad: number) => Math.floor((v + 2 * pad - k) / s) + 1;
  const ys: V5 = [n, o, out(d, kd, p[0]), out(h, kh, p[1]), out(wd, kw, p[2])];
  const y = new Float64Array(size(ys));
  let i = 0;
  for (let a = 0; a < n; a++) for (let q = 0; q < o; q++) for (let z = 0; z < ys[2]; z++) for (let r = 0; r < ys[3]; r++)
    for (let col = 0; col < ys[4]; col++) {
      let v = b[q];
      for (let ci = 0; ci < c; ci++) for (let e = 0; e < kd; e++) for (let f = 0; f < kh; f++) for (let g = 0; g < kw; g++) {
        const zz = z * s - p[0] + e, rr = r * s - p[1] + f, cc = col * s - p[2] + g;
        if (zz < 0 || zz >= d || rr < 0 || rr >= h || cc < 0 || cc >= wd) continue;
        v += x[(((a * c + ci) * d + zz) * h + rr) * wd + cc] * w[(((q * c + ci) * kd + e) * kh + f) * kw + g];
      }
      y[i++] = v;
    }
  return { y, ys };
}

const CASES: { k: [number, number, number]; pad: number[]; stride: number; x: V5 }[] = [
  { k: [1, 3, 3], pad: [0, 1, 1], stride: 1, x: [2, 3, 3, 5, 4] },
  { k: [3, 1, 3], pad: [1, 0, 1], stride: 1, x: [1, 2, 4, 3, 5] },
  { k: [3, 3, 1], pad: [1, 1, 0], stride: 1, x: [1, 2, 3, 4, 2] },
  { k: [1, 1, 3], pad: [0, 0, 1], stride: 1, x: [2, 2, 2, 3, 4] },
  { k: [1, 3, 3], pad: [0, 1, 1], stride: 2, x: [1, 2, 3, 5, 6] },
  { k: [1, 3, 3], pad: [1, 0, 2], stride: 1, x: [1, 2, 2, 4, 3] },
];

for (const c of CASES) {
  const name = `${c.k.join('x')} pad ${c.pad.join(',')} stride ${c.stride}, x ${c.x.join('x')}`;
  test(`conv ${name}: the naive definition (float64)`, () => {
    const ws: V5 = [3, c.x[1], ...c.k];
    // float32 weights: the store holds float32 params
    const X = uniform(size(c.x), rng(1)), W = Float64Array.from(Float32Array.from(uniform(size(ws), rng(2))));
    const B = Float64Array.from(Float32Array.from(uniform(3, rng(3))));
    const { y: want, ys } = naiveConv(X, c.x, W, ws, B, c.pad, c.stride);
    const g = new Graph(), ps = new ParamStore();
    ps.set('w', ws, Float32Array.from(W));
    ps.set('b', [3], Float32Array.from(B));
    const out = g.conv(g.input('x', c.x), g.param('w', ws), g.param('b', [3]), { pad: c.pad, stride: c.stride });
    assert.deepEqual(out.shape, ys);
    const [got] = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), ps, [out]).runToHost({ x: X });
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-12, `y[${i}]: ${got[i]} vs ${want[i]}`);
  });

  test(`gradcheck conv ${name}: d/dx, d/dw, d/db`, () => {
    const w = [2, c.x[1], ...c.k];
    check({
      build: (g) => g.conv(g.input('x', c.x), g.param('w', w), g.param('b', [2]), { pad: c.pad, stride: c.stride }),
      feeds: { x: uniform(size(c.x), rng(4)) },
      params: paramsOf(5, { w, b: [2] }),
      maxPerTensor: 60,
    });
  });
}

test('conv_bn with per-axis padding = conv then eval-mode batch norm', () => {
  const xs: V5 = [2, 3, 3, 4, 5], ws: V5 = [4, 3, 1, 3, 3];
  const ps = paramsOf(6, { w: ws, cb: [4], g: [4], be: [4], rm: [4], rv: [4] });
  for (const v of ps.get('rv').data.keys()) ps.get('rv').data[v] = 0.5 + Math.abs(ps.get('rv').data[v]);
  const X = uniform(size(xs), rng(7));
  const run = (fused: boolean) => {
    const g = new Graph(), x = g.input('x', xs), w = g.param('w', ws), cb = g.param('cb', [4]);
    const gm = g.param('g', [4]), be = g.param('be', [4]);
    const y = fused ? g.convBnEval(x, w, cb, gm, be, 'rm', 'rv', { pad: [0, 1, 1], relu: true })
      : g.batchNorm(g.conv(x, w, cb, { pad: [0, 1, 1] }), gm, be, 'rm', 'rv', { training: false, relu: true });
    assert.deepEqual(y.shape, [2, 4, 3, 4, 5]);
    return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), ps, [y]).runToHost({ x: X })[0];
  };
  const a = run(true), b = run(false);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12, `y[${i}]: ${a[i]} vs ${b[i]}`);
});

test('graph: a padding per axis is checked; equal values are one number (2D and cubic graphs unchanged)', () => {
  const g = new Graph();
  const x = g.input('x', [1, 2, 3, 8, 8]), w = g.param('w', [4, 2, 1, 3, 3]);
  const y = g.conv(x, w, null, { pad: [0, 1, 1] });
  assert.deepEqual(y.shape, [1, 4, 3, 8, 8]);
  assert.deepEqual(y.node.attrs, { stride: 1, pad: [0, 1, 1], relu: false });
  const cubic = g.conv(x, g.param('w3', [4, 2, 3, 3, 3]), null, { pad: [1, 1, 1] });
  assert.deepEqual(cubic.node.attrs, { stride: 1, pad: 1, relu: false });
  const img = g.conv(g.input('i', [1, 2, 6, 6]), g.param('w2', [4, 2, 3, 3]), null, { pad: [1, 1] });
  assert.deepEqual(img.node.attrs, { stride: 1, pad: 1, relu: false });
  assert.throws(() => g.conv(x, w, null, { pad: [0, 1] }), /conv: pad must be a non-negative integer or 3 of them .* got \[0,1\]/);
  assert.throws(() => g.conv(x, w, null, { pad: [0, -1, 1] }), /pad must be a non-negative integer/);
  assert.throws(() => g.conv(g.input('t', [1, 2, 1, 2, 2]), w, null, { pad: [0, 0, 0] }), /smaller than kernel 1x3x3/);
});

test('autodiff: conv_grad_input and conv_grad_weight carry the forward padding', () => {
  const g = new Graph();
  const x = g.input('x', [1, 2, 3, 4, 4]), w = g.param('w', [2, 2, 1, 3, 3]);
  const y = g.conv(x, w, null, { pad: [0, 1, 1] });
  gradients(g, g.meanAll(y), [x, w]);
  const pads = g.nodes.filter((n) => n.op === 'conv_grad_input' || n.op === 'conv_grad_weight').map((n) => (n.attrs as { pad: unknown }).pad);
  assert.deepEqual(pads, [[0, 1, 1], [0, 1, 1]]);
});
