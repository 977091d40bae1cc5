// Optimisers, clipping and schedules against values computed with PyTorch 1.13 (float64) on
// the same params and gradients (script: test/optim/optref.py). Params are float32 here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamStore } from '../../src/engine/params.js';
import { Adam, Sgd, clipGradNorm, CosineLr, PolyLr, PlateauLr, Optimizer } from '../../src/optim/index.js';
import { FUSED_MIN_SIZE } from '../../src/optim/fused.js';

const p0 = [0.5, -1.5, 2.0, 0.0];
const gs = [[0.1, -0.2, 0.3, 0.0], [-1.0, 0.5, 0.25, 2.0], [0.3, 0.3, -0.7, -0.1]];

function run(opt: Optimizer, steps = gs.length): Float32Array {
  const ps = new ParamStore();
  ps.set('w', [4], Float32Array.from(p0));
  for (const g of gs.slice(0, steps)) opt.step(ps, new Map([['w', Float64Array.from(g)]]));
  return ps.get('w').data;
}

function close(got: ArrayLike<number>, want: number[], tol = 2e-6) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `[${i}] ${got[i]} vs ${want[i]}`);
}

test('Adam matches torch.optim.Adam / AdamW', () => {
  close(run(new Adam({ lr: 0.1, fused: false })), [0.499006900154, -1.505181999682, 1.819375725265, -0.128672158701]);
  close(run(new Adam({ lr: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-3, weightDecay: 0.1, fused: false })),
    [0.490646998194, -1.442739623152, 1.788534036216, -0.131154432296]);
  close(run(new Adam({ lr: 0.1, weightDecay: 0.1, decoupled: true, fused: false })),
    [0.485472592758, -1.462178284331, 1.762954898038, -0.127928021883]);
});

test('fused (native, when built) kernels agree with PyTorch: Adam, AdamW, SGD momentum/nesterov', () => {
  // Big enough to take the native path (FUSED_MIN_SIZE); the 4 test values repeated.
  const n = FUSED_MIN_SIZE;
  const tile = (v: number[]) => Float32Array.from({ length: n }, (_, i) => v[i % 4]);
  const run32 = (opt: Optimizer) => {
    const ps = new ParamStore();
    ps.set('w', [n], tile(p0));
    for (const g of gs) opt.step(ps, new Map([['w', tile(g)]]));
    const w = ps.get('w').data;
    for (let i = 4; i < n; i += 4099) assert.equal(w[i], w[i % 4]);
    return w.subarray(0, 4);
  };
  close(run32(new Adam({ lr: 0.1 })), [0.499006900154, -1.505181999682, 1.819375725265, -0.128672158701], 1e-5);
  close(run32(new Adam({ lr: 0.1, weightDecay: 0.1, decoupled: true })), [0.485472592758, -1.462178284331, 1.762954898038, -0.127928021883], 1e-5);
  close(run32(new Sgd({ lr: 0.1, momentum: 0.9, nesterov: true })), [0.67961, -1.62372, 1.96208, -0.523], 1e-5);
  close(run32(new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 })), [0.6300353895, -1.5624181785, 1.930128568, -0.3698], 1e-5);
});

test('SGD matches torch.optim.SGD (plain, momentum + decay, nesterov, dampening)', () => {
  close(run(new Sgd({ lr: 0.1, fused: false })), [0.56, -1.56, 2.015, -0.19]);
  close(run(new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, fused: false })), [0.6300353895, -1.5624181785, 1.930128568, -0.3698]);
  close(run(new Sgd({ lr: 0.1, momentum: 0.9, nesterov: true, fused: false })), [0.67961, -1.62372, 1.96208, -0.523]);
  close(run(new Sgd({ lr: 0.1, momentum: 0.5, dampening: 0.3, fused: false })), [0.5665, -1.5385, 1.97025, -0.203]);
  assert.throws(() => new Sgd({ nesterov: true }), /nesterov/);
});

test('state round trip: 2 steps + save/load into a fresh optimiser + 1 step = 3 steps', () => {
  for (const make of [() => new Adam({ lr: 0.1, weightDecay: 0.1 }), () => new Sgd({ lr: 0.1, momentum: 0.9, nesterov: true })]) {
    const straight = run(make());
    const ps = new ParamStore();
    ps.set('w', [4], Float32Array.from(p0));
    const a = make();
    for (const g of gs.slice(0, 2)) a.step(ps, new Map([['w', Float64Array.from(g)]]));
    const saved = JSON.parse(JSON.stringify({ ...a.state(), slots: {} }));
    saved.slots = Object.fromEntries(Object.entries(a.state().slots).map(([k, v]) => [k, Float32Array.from(v)]));
    const b = make();
    b.loadState(saved);
    b.step(ps, new Map([['w', Float64Array.from(gs[2])]]));
    assert.deepEqual([...ps.get('w').data], [...straight]);
    assert.equal(b.stepCount, 3);
  }
});

test('clipGradNorm matches clip_grad_norm_', () => {
  const a = Float32Array.from([3, 4]), b = Float64Array.from([12]);
  const n = clipGradNorm([a, b], 6.5);
  assert.equal(n, 13);
  close(a, [1.4999998846153937, 1.9999998461538582], 1e-6);
  close(b, [5.999999538461575], 1e-9);
  const c = Float32Array.from([0.3, 0.4]);
  clipGradNorm([c], 1);
  assert.deepEqual([...c], [...Float32Array.from([0.3, 0.4])]); // below the limit: untouched
});

test('cosine matches CosineAnnealingLR; warmup is linear', () => {
  const want = [1.0, 0.9779754323328191, 0.9140576474687263, 0.8145033635316129, 0.6890576474687263, 0.55,
    0.41094235253127376, 0.2854966364683872, 0.18594235253127372, 0.12202456766718092, 0.1];
  const s = new CosineLr({ lr: 1, totalSteps: 10, minLr: 0.1 });
  const got: number[] = [];
  for (let i = 0; i <= 10; i++) { got.push(s.lr()); s.onStep(); }
  close(got, want, 1e-12);
  assert.equal(s.lr(), 0.1); // stays at the floor afterwards
  const w = new CosineLr({ lr: 1, totalSteps: 12, warmupSteps: 2 });
  const wl: number[] = [];
  for (let i = 0; i < 4; i++) { wl.push(w.lr()); w.onStep(); }
  close(wl, [0.5, 1, 1, 0.9755282581475768], 1e-12);
  // held for 0.6 of 25 steps, then the same 10-step curve; a re-planned end moves both
  const h = new CosineLr({ lr: 1, totalSteps: 25, minLr: 0.1, holdFraction: 0.6 });
  const hl: number[] = [];
  for (let i = 0; i <= 25; i++) { hl.push(h.lr()); h.onStep(); }
  close(hl, [...Array(15).fill(1), ...want], 1e-12);
  const m = new CosineLr({ lr: 1, totalSteps: 25, minLr: 0.1, holdFraction: 0.6 });
  for (let i = 0; i < 16; i++) m.onStep();
  m.setTotalSteps(50);
  assert.equal(m.lr(), 1);
  assert.throws(() => new CosineLr({ lr: 1, totalSteps: 10, holdFraction: 1 }), /hold fraction must be in \[0, 1\), got 1/);
});

test('plateau matches ReduceLROnPlateau (max, factor 0.5, patience 2, cooldown 1, min 0.1)', () => {
  const seq = [0.5, 0.6, 0.6, 0.59, 0.6, 0.61, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  const want = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125, 0.1];
  const s = new PlateauLr({ lr: 1, mode: 'max', factor: 0.5, patience: 2, cooldown: 1, minLr: 0.1 });
  const got = seq.map((m, i) => {
    s.onEpoch(m);
    if (i === 6) { const t = new PlateauLr({ lr: 1, mode: 'max', factor: 0.5, patience: 2, cooldown: 1, minLr: 0.1 }); t.loadState(JSON.parse(JSON.stringify(s.state()))); return t.lr(); }
    return s.lr();
  });
  assert.deepEqual(got, want);
});

test('poly is nnU-Net\'s lr (1 - t/T)^0.9; its end moves with setTotalSteps and survives state()', () => {
  const s = new PolyLr({ lr: 0.01, totalSteps: 10 });
  const seen: number[] = [];
  for (let t = 0; t < 12; t++) { seen.push(s.lr()); s.onStep(); }
  seen.forEach((v, t) => assert.ok(Math.abs(v - 0.01 * Math.max(0, 1 - t / 10) ** 0.9) < 1e-15, `step ${t}: ${v}`));
  const r = new PolyLr({ lr: 1, totalSteps: 4, power: 1 });
  r.onStep(); r.onStep();
  r.setTotalSteps(8);
  assert.equal(r.lr(), 0.75);
  const copy = new PolyLr({ lr: 1, totalSteps: 4, power: 1 });
  copy.loadState(r.state());
  assert.equal(copy.lr(), 0.75);
});
