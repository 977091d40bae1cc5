// The native backend at extreme shapes (issue 15): long thin images, 1-pixel sides, and a
// tensor of more than 2^31 values, against the float64 reference backend (or, for the huge
// tensor, against values computed here). Nothing here may abort the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freemem } from 'node:os';
import { Graph, numel, type Shape, type Value } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable, bf16Support } from '../../src/engine/backends/native.js';
import type { Backend, RunContext } from '../../src/engine/backend.js';
import { SegModel } from '../../src/models/model.js';
import { rng, uniform32 } from '../helpers/gradcheck.js';

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason}): run node scripts/build-native.mjs`;
const reference = new ReferenceBackend({ dtype: 'float64' });

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0, scale = 1e-3;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

/** Forward (eval) and a training step's loss and input gradient of a small UNet++, on one backend. */
function unetpp(be: Backend, shape: Shape) {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: shape[1], classes: 1, deepSupervision: true, seed: 2 });
  const rand = rng(11);
  const x = uniform32(numel(shape), rand), t = Float32Array.from({ length: numel(shape) / shape[1] * 1 }, () => (rand() > 0.5 ? 1 : 0));
  const g = new Graph();
  const xv = g.input('x', shape), tv = g.input('t', [shape[0], 1, shape[2], shape[3]]);
  const heads = model.forward(g, xv, { training: true });
  const loss = g.addN(heads.map((h) => g.scale(g.loss(h, tv, 'bce_dice', 0.5), 1 / heads.length)));
  const [dx] = gradients(g, loss, [xv]);
  const ps = new ParamStore();
  for (const n of model.params.names()) { const p = model.params.get(n); ps.set(n, p.shape, p.data.slice(), p.trainable); }
  const [l, d, h] = new Plan(g, be, ps, [loss, dx!, heads[heads.length - 1]]).runToHost({ x, t });
  return { l, d, h };
}

for (const shape of [[1, 3, 4, 1028], [2, 1, 1024, 4], [2, 2, 4, 4], [3, 3, 8, 12]] as const)
  test(`native vs reference: UNet++ training step on ${shape.join('x')} (long thin, minimal sides)`, { skip }, () => {
    const want = unetpp(reference, shape);
    for (const be of [new NativeBackend({ layout: 'nhwc' }), new NativeBackend({ layout: 'blocked' })]) {
      const got = unetpp(be, shape);
      for (const k of ['l', 'd', 'h'] as const) {
        const e = relErr(got[k], want[k]);
        assert.ok(e < 1e-4, `${be.layout} ${k}: relative error ${e}`);
      }
    }
  });

for (const [what, shape, build] of [
  ['conv 3x3 on 1-pixel-high rows', [2, 3, 1, 515], (g: Graph, x: Value, p: (n: string, s: Shape) => Value) => g.conv(x, p('w', [5, 3, 3, 3]), p('b', [5]), { pad: 1, relu: true })],
  ['conv 3x3 on a 1x1 image', [2, 16, 1, 1], (g: Graph, x: Value, p: (n: string, s: Shape) => Value) => g.conv(x, p('w', [16, 16, 3, 3]), null, { pad: 1 })],
  ['maxpool of a 2x3001 strip', [1, 16, 2, 3001], (g: Graph, x: Value) => g.maxPool(x)],
  ['bilinear up-sampling of a 1x700 row', [1, 17, 1, 700], (g: Graph, x: Value) => g.upsample2x(x, 'bilinear', true)],
] as const)
  test(`native vs reference: ${what}, forward and input gradient`, { skip }, () => {
    const run = (be: Backend) => {
      const rand = rng(3);
      const g = new Graph(), ps = new ParamStore();
      const x = g.input('x', shape);
      const p = (n: string, s: Shape) => { ps.set(n, s, uniform32(numel(s), rand)); return g.param(n, s); };
      const y = build(g, x, p);
      const r = g.input('r', y.shape);
      const [dx] = gradients(g, g.meanAll(g.mul(y, r)), [x]);
      return new Plan(g, be, ps, [y, dx!]).runToHost({ x: uniform32(numel(shape), rand), r: uniform32(numel(y.shape), rand) });
    };
    const want = run(reference);
    for (const be of [new NativeBackend({ layout: 'nhwc' }), new NativeBackend({ layout: 'blocked' })])
      run(be).forEach((got, i) => assert.ok(relErr(got, want[i]) < 1e-4, `${be.layout} output ${i}: ${relErr(got, want[i])}`));
  });

// More than 2^31 values in one tensor: bf16 (4.3 GB each way) so that it fits on CI machines.
const HUGE: Shape = [1, 16, 16384, 8194];  // 2,148,007,936 values > 2^31
const hugeSkip = skip || (!bf16Support().ok ? `no bf16 here: ${bf16Support().reason}` : false) ||
  (freemem() < 12 * 2 ** 30 ? `needs 12 GB of free memory, ${(freemem() / 2 ** 30).toFixed(1)} GB free` : false);

test('native bf16: max-pooling and up-sampling a tensor of more than 2^31 values', { skip: hugeSkip }, () => {
  assert.ok(numel(HUGE) > 2 ** 31);
  const be = new NativeBackend({ precision: 'bf16', layout: 'blocked' });
  const rt: RunContext = { step: 0, saved: () => ({}), param: () => { throw new Error('no params'); } };
  const [, C, H, W] = HUGE;
  // C = 16 blocked is [N][H][W][16]: value (c, h, w) at (h * W + w) * 16 + c; an exact bf16 of
  // a pattern whose maxima and interpolations are easy to compute here.
  const f = (c: number, h: number, w: number) => ((h * 7 + w * 3 + c * 5) % 251) - 125;
  const bits = (v: number) => { const b = new Float32Array([v]); return new Uint16Array(b.buffer)[1]; };
  const val = (u: number) => { const b = new Uint16Array([0, u]); return new Float32Array(b.buffer)[0]; };
  const table = Uint16Array.from({ length: 251 }, (_, i) => bits(i - 125));  // f's values as bf16 bits
  {
    const g = new Graph();
    const y = g.maxPool(g.input('x', HUGE));
    const x = be.alloc(HUGE, 'act'), out = be.alloc(y.shape, 'act');
    const xd = x.data as Uint16Array;
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      const base = (h * W + w) * 16;
      for (let c = 0; c < C; c++) xd[base + c] = table[(h * 7 + w * 3 + c * 5) % 251];
    }
    be.kernel('maxpool')!([x], [out], y.node, rt);
    const od = out.data as Uint16Array, Wo = W / 2;
    const r = rng(9);
    for (let k = 0; k < 20000; k++) {
      const h = Math.floor(r() * (H / 2)), w = Math.floor(r() * Wo), c = Math.floor(r() * C);
      const want = Math.max(f(c, 2 * h, 2 * w), f(c, 2 * h + 1, 2 * w), f(c, 2 * h, 2 * w + 1), f(c, 2 * h + 1, 2 * w + 1));
      assert.equal(val(od[(h * Wo + w) * 16 + c]), want, `maxpool at c${c} h${h} w${w}`);
    }
    be.release(x.data); be.release(out.data);
  }
  {
    const low: Shape = [1, 16, H / 2, W / 2];
    const g = new Graph();
    const y = g.upsample2x(g.input('x', low), 'nearest');
    const x = be.alloc(low, 'act'), out = be.alloc(y.shape, 'act');
    assert.ok(numel(y.shape) > 2 ** 31);
    const xd = x.data as Uint16Array, Wl = W / 2;
    for (let h = 0; h < H / 2; h++) for (let w = 0; w < Wl; w++) for (let c = 0; c < C; c++) xd[(h * Wl + w) * 16 + c] = table[(h * 7 + w * 3 + c * 5) % 251];
    be.kernel('upsample2x')!([x], [out], y.node, rt);
    const od = out.data as Uint16Array;
    const r = rng(10);
    for (let k = 0; k < 20000; k++) {
      const h = H - 1 - Math.floor(r() * 64) * (k % 2) - Math.floor(r() * H) * (1 - (k % 2)), w = Math.floor(r() * W), c = Math.floor(r() * C);
      assert.equal(val(od[(h * W + w) * 16 + c]), f(c, h >> 1, w >> 1), `upsample2x at c${c} h${h} w${w}`);
    }
    be.release(x.data); be.release(out.data);
  }
});
