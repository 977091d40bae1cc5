// The ignore label's loss (src/train/masked-loss.ts): the fused loss op wrapped in a 0/1 keep mask
// and fill / extra-channel inputs. Checked on the float64 reference backend against a direct
// computation of the loss over the kept voxels only, by finite differences, for an exactly zero
// gradient at ignored voxels, for equality with the plain loss when nothing is ignored, and on
// the native backend (NHWC and blocked) against the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type LossKind } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';
import type { Backend } from '../../src/engine/backend.js';
import { lossMaskFeeds, lossMaskInputs, maskedLoss, softmaxLoss } from '../../src/train/masked-loss.js';
import { check } from '../helpers/gradcheck.js';
import { lossData } from '../helpers/loss-data.js';

const SHAPE = [2, 3, 2, 3, 3]; // [N, K, D, H, W]
const S = 2 * 3 * 3, N = 2, K = 3;

/** Seeded logits, targets and an ignore mask (30% of the voxels by default). */
const data = (kind: LossKind, seed: number, ignoreRate = 0.3) => lossData(kind, [N, K, S], seed, ignoreRate);

/** The loss over kept voxels, written out: means over all voxels (an ignored one adds 0), Dice sums over kept ones. */
function direct(kind: LossKind, z: Float64Array, t: Float64Array, ignore: Uint8Array, bceWeight: number): number {
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const dice = (pairs: [number, number][]) => {
    let pt = 0, p = 0, tt = 0;
    for (const [a, b] of pairs) { pt += a * b; p += a; tt += b; }
    return (2 * pt + 1e-5) / (p + tt + 1e-5);
  };
  if (!softmaxLoss(kind)) {
    let bce = 0, d = 0;
    for (let n = 0; n < N; n++) {
      const pairs: [number, number][] = [];
      for (let k = 0; k < K; k++) for (let i = 0; i < S; i++) {
        if (ignore[n * S + i]) continue;
        const j = (n * K + k) * S + i, x = z[j];
        bce += Math.max(x, 0) - x * t[j] + Math.log1p(Math.exp(-Math.abs(x)));
        pairs.push([sig(x), t[j]]);
      }
      d += dice(pairs);
    }
    const b = bce / (N * K * S), dl = 1 - d / N;
    return kind === 'bce' ? b : kind === 'dice' ? dl : bceWeight * b + dl;
  }
  let ce = 0, d = 0;
  const p = new Float64Array(z.length);
  for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) {
    const zs = Array.from({ length: K }, (_, k) => z[(n * K + k) * S + i]);
    const m = Math.max(...zs), lse = m + Math.log(zs.reduce((s, v) => s + Math.exp(v - m), 0));
    for (let k = 0; k < K; k++) {
      const j = (n * K + k) * S + i;
      p[j] = Math.exp(z[j] - lse);
      if (!ignore[n * S + i]) ce -= t[j] * (z[j] - lse);
    }
  }
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
    const pairs: [number, number][] = [];
    for (let i = 0; i < S; i++) if (!ignore[n * S + i]) pairs.push([p[(n * K + k) * S + i], t[(n * K + k) * S + i]]);
    d += dice(pairs);
  }
  const c = ce / (N * S);
  return kind === 'ce' ? c : c + 1 - d / (N * K);
}

/** Masked loss graph over inputs z, t and the mask feeds. */
function build(g: Graph, kind: LossKind, bceWeight = 0.7) {
  const z = g.input('z', SHAPE), t = g.input('t', SHAPE);
  return maskedLoss(g, z, t, kind, bceWeight, lossMaskInputs(g, SHAPE, kind));
}

const f64 = (r: Record<string, Float32Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float64Array.from(v)]));
const KINDS: LossKind[] = ['bce', 'dice', 'bce_dice', 'ce', 'ce_dice'];

for (const kind of KINDS) {
  test(`masked loss ${kind}: equals the loss over the kept voxels; finite-difference gradient; zero at ignored voxels`, () => {
    const { z, t, ignore } = data(kind, 7);
    const masks = f64(lossMaskFeeds(ignore, N, K, kind));
    const ref = new ReferenceBackend({ dtype: 'float64' });
    const g = new Graph();
    const loss = build(g, kind);
    const [dz] = gradients(g, loss, [g.inputs.get('z')!]);
    const [value, grad] = new Plan(g, ref, new ParamStore(), [loss, dz!]).runToHost({ z, t, ...masks });
    const want = direct(kind, z, t, ignore, 0.7);
    assert.ok(Math.abs(value[0] - want) < 1e-9 * Math.max(1, Math.abs(want)), `loss ${value[0]} vs ${want}`);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let i = 0; i < S; i++)
      if (ignore[n * S + i]) assert.equal(grad[(n * K + k) * S + i], 0, `gradient at ignored voxel ${n},${k},${i}`);
    check({ build: (gg) => build(gg, kind), feeds: { z, t, ...masks }, wrtInputs: ['z'] });
  });

  test(`masked loss ${kind}: with nothing ignored it is the plain loss`, () => {
    const { z, t, ignore } = data(kind, 9, 0);
    const ref = new ReferenceBackend({ dtype: 'float64' });
    const g = new Graph();
    const masked = build(g, kind);
    const plain = g.loss(g.inputs.get('z')!, g.inputs.get('t')!, kind, 0.7);
    const [a, b] = new Plan(g, ref, new ParamStore(), [masked, plain]).runToHost({ z, t, ...f64(lossMaskFeeds(ignore, N, K, kind)) });
    assert.ok(Math.abs(a[0] - b[0]) < 1e-12, `${a[0]} vs ${b[0]}`);
  });
}

const native = nativeAvailable();
for (const layout of ['nhwc', 'blocked'] as const) {
  test(`masked loss on the native backend (${layout}) matches the reference: value and gradient`, { skip: native.ok ? false : native.reason }, () => {
    for (const kind of KINDS) {
      const { z, t, ignore } = data(kind, 11);
      const masks = lossMaskFeeds(ignore, N, K, kind);
      const run = (backend: Backend) => {
        const g = new Graph();
        const loss = build(g, kind);
        const [dz] = gradients(g, loss, [g.inputs.get('z')!]);
        return new Plan(g, backend, new ParamStore(), [loss, dz!]).runToHost({ z: Float32Array.from(z), t: Float32Array.from(t), ...masks });
      };
      const [rv, rg] = run(new ReferenceBackend({ dtype: 'float64' }));
      const [nv, ng] = run(new NativeBackend({ layout }));
      assert.ok(Math.abs(nv[0] - rv[0]) < 1e-5 * Math.max(1, Math.abs(rv[0])), `${kind}: native ${nv[0]} vs reference ${rv[0]}`);
      for (let i = 0; i < rg.length; i++) assert.ok(Math.abs(ng[i] - rg[i]) < 1e-6 + 1e-4 * Math.abs(rg[i]), `${kind}: gradient [${i}] native ${ng[i]} vs ${rg[i]}`);
    }
  });
}
