// The Dice options of the losses (diceBackground, batchDice; docs/training.md, "Loss"): the value against a
// direct float64 formula on small random inputs (with and without background, per image and over the batch,
// plain and with an ignore mask), float64 finite differences of the gradient, native (fp32 NHWC and blocked,
// bf16) against the reference, PyTorch (nnU-Net's definition, written out) where torch is installed, and the
// errors and the unchanged graphs of the defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Graph, type DiceOptions, type LossKind } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, bf16Support, nativeAvailable } from '../../src/engine/backends/native.js';
import type { Backend } from '../../src/engine/backend.js';
import { lossMaskFeeds, lossMaskInputs, maskedLoss } from '../../src/train/masked-loss.js';
import { check } from '../helpers/gradcheck.js';
import { lossData } from '../helpers/loss-data.js';

const N = 3, K = 3, SP = [2, 3, 4], S = 24, SHAPE = [N, K, ...SP];
const OPTIONS: DiceOptions[] = [{}, { diceBackground: false }, { batchDice: true }, { diceBackground: false, batchDice: true }];
const name = (o: DiceOptions) => `background ${o.diceBackground !== false}, batch ${!!o.batchDice}`;
const soft = (kind: LossKind) => kind === 'ce_dice';

/** Seeded logits, targets and an ignore mask (none by default). */
const data = (kind: LossKind, seed: number, ignoreRate = 0) => lossData(kind, [N, K, S], seed, ignoreRate);

/** The loss written out: CE / BCE means over all voxels (an ignored one adds 0); Dice over the kept ones, per image
 *  (or summed over the batch) and class (sigmoid kinds: all channels together), without class 0 if asked. */
function direct(kind: LossKind, z: Float64Array, t: Float64Array, ignore: Uint8Array, o: DiceOptions, bceWeight = 0.7): number {
  const at = (n: number, k: number, i: number) => (n * K + k) * S + i;
  const p = new Float64Array(z.length);
  let term = 0;
  for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) {
    const kept = !ignore[n * S + i];
    if (soft(kind)) {
      const m = Math.max(...Array.from({ length: K }, (_, k) => z[at(n, k, i)]));
      let se = 0;
      for (let k = 0; k < K; k++) se += Math.exp(z[at(n, k, i)] - m);
      for (let k = 0; k < K; k++) {
        const j = at(n, k, i);
        p[j] = Math.exp(z[j] - m) / se;
        if (kept) term -= t[j] * (z[j] - m - Math.log(se));
      }
    } else for (let k = 0; k < K; k++) {
      const j = at(n, k, i), x = z[j];
      p[j] = kept ? 1 / (1 + Math.exp(-x)) : 0;
      if (kept) term += Math.max(x, 0) - x * t[j] + Math.log1p(Math.exp(-Math.abs(x)));
    }
  }
  const classes = soft(kind) ? Array.from({ length: K }, (_, k) => [k]) : [Array.from({ length: K }, (_, k) => k)];
  const counted = classes.filter((_, c) => !(soft(kind) && o.diceBackground === false && c === 0));
  const images = o.batchDice ? [Array.from({ length: N }, (_, n) => n)] : Array.from({ length: N }, (_, n) => [n]);
  let d = 0;
  for (const ns of images) for (const ks of counted) {
    let spt = 0, sp = 0, st = 0;
    for (const n of ns) for (const k of ks) for (let i = 0; i < S; i++) {
      if (ignore[n * S + i]) continue;
      const j = at(n, k, i);
      spt += p[j] * t[j]; sp += p[j]; st += t[j];
    }
    d += (2 * spt + 1e-5) / (sp + st + 1e-5);
  }
  const dice = 1 - d / (images.length * counted.length);
  if (soft(kind)) return term / (N * S) + dice;
  return kind === 'dice' ? dice : (bceWeight * term) / (N * K * S) + dice;
}

/** The loss of inputs z, t: plain, or masked (with the mask inputs). */
function build(g: Graph, kind: LossKind, o: DiceOptions, masked: boolean) {
  const z = g.input('z', SHAPE), t = g.input('t', SHAPE);
  return masked ? maskedLoss(g, z, t, kind, 0.7, lossMaskInputs(g, SHAPE, kind), o) : g.loss(z, t, kind, 0.7, o);
}

const f64 = (r: Record<string, Float32Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float64Array.from(v)]));
const CASES: [LossKind, DiceOptions][] = [
  ...OPTIONS.map((o): [LossKind, DiceOptions] => ['ce_dice', o]), ['dice', { batchDice: true }], ['bce_dice', { batchDice: true }],
];

for (const masked of [false, true])
  for (const [kind, o] of CASES) {
    test(`${kind} (${name(o)}${masked ? ', ignore mask' : ''}): the direct formula; finite-difference gradient`, () => {
      const { z, t, ignore } = data(kind, 21, masked ? 0.3 : 0);
      const feeds = { z, t, ...(masked ? f64(lossMaskFeeds(ignore, N, K, kind)) : {}) };
      const g = new Graph();
      const loss = build(g, kind, o, masked);
      const [value] = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [loss]).runToHost(feeds);
      const want = direct(kind, z, t, ignore, o);
      assert.ok(Math.abs(value[0] - want) < 1e-10, `loss ${value[0]} vs ${want}`);
      check({ build: (gg) => build(gg, kind, o, masked), feeds, wrtInputs: ['z'] });
    });
  }

test('the options change the loss: each one differs from the default on the same inputs', () => {
  const { z, t, ignore } = data('ce_dice', 5);
  const values = OPTIONS.map((o) => direct('ce_dice', z, t, ignore, o));
  for (let i = 1; i < values.length; i++) assert.ok(Math.abs(values[i] - values[0]) > 1e-4, `${name(OPTIONS[i])}: ${values[i]}`);
});

test('defaults leave the graph as it was; options that do not apply are errors naming the option', () => {
  const g = new Graph();
  const z = g.input('z', SHAPE), t = g.input('t', SHAPE);
  for (const o of [{}, { diceBackground: true, batchDice: false }])
    assert.deepEqual(g.loss(z, t, 'ce_dice', 0.5, o).node.attrs, { kind: 'ce_dice', bceWeight: 0.5 });
  assert.deepEqual(g.loss(z, t, 'ce_dice', 0.5, { diceBackground: false, batchDice: true }).node.attrs,
    { kind: 'ce_dice', bceWeight: 0.5, diceBackground: false, batchDice: true });
  for (const kind of ['dice', 'bce_dice', 'bce', 'ce'] as const)
    assert.throws(() => g.loss(z, t, kind, 0.5, { diceBackground: false }), /loss option diceBackground: false is for ce_dice/);
  for (const kind of ['bce', 'ce'] as const)
    assert.throws(() => g.loss(z, t, kind, 0.5, { batchDice: true }), new RegExp(`loss option batchDice: ${kind} has no Dice term`));
  const one = g.input('one', [N, 1, ...SP]);
  assert.throws(() => g.loss(one, one, 'ce_dice', 0.5, { diceBackground: false }), /needs a foreground class/);
});

const native = nativeAvailable();
const runOn = (backend: Backend, kind: LossKind, o: DiceOptions, masked: boolean, seed: number) => {
  const { z, t, ignore } = data(kind, seed, masked ? 0.3 : 0);
  const g = new Graph();
  const loss = build(g, kind, o, masked);
  const [dz] = gradients(g, loss, [g.inputs.get('z')!]);
  const feeds = { z: Float32Array.from(z), t: Float32Array.from(t), ...(masked ? lossMaskFeeds(ignore, N, K, kind) : {}) };
  return new Plan(g, backend, new ParamStore(), [loss, dz!]).runToHost(feeds);
};

/** Native against the float64 reference on the same float32 inputs, every case, plain and masked. */
function parity(backend: () => Backend, tol: { value: number; atol: number; rtol: number }, what: string) {
  for (const masked of [false, true])
    for (const [kind, o] of CASES) {
      const [rv, rg] = runOn(new ReferenceBackend({ dtype: 'float64' }), kind, o, masked, 31);
      const [nv, ng] = runOn(backend(), kind, o, masked, 31);
      const at = `${what} ${kind} (${name(o)}${masked ? ', masked' : ''})`;
      assert.ok(Math.abs(nv[0] - rv[0]) < tol.value * Math.max(1, Math.abs(rv[0])), `${at}: ${nv[0]} vs ${rv[0]}`);
      for (let i = 0; i < rg.length; i++)
        assert.ok(Math.abs(ng[i] - rg[i]) < tol.atol + tol.rtol * Math.abs(rg[i]), `${at}: gradient [${i}] ${ng[i]} vs ${rg[i]}`);
    }
}

for (const layout of ['nhwc', 'blocked'] as const)
  test(`native fp32 (${layout}) matches the reference: value and gradient`, { skip: native.ok ? false : native.reason }, () =>
    parity(() => new NativeBackend({ layout }), { value: 1e-5, atol: 1e-6, rtol: 1e-4 }, layout));

test('native fp32 on the threaded path (4 x 3 x 16 x 32 x 32 values) matches the reference', { skip: native.ok ? false : native.reason }, () => {
  const shape = [4, 3, 16, 32, 32];
  for (const [kind, o] of CASES) {
    const { z, t } = lossData(kind, [4, 3, 16 * 32 * 32], 51, 0);
    const run = (backend: Backend) => {
      const g = new Graph();
      const loss = g.loss(g.input('z', shape), g.input('t', shape), kind, 0.7, o);
      const [dz] = gradients(g, loss, [g.inputs.get('z')!]);
      return new Plan(g, backend, new ParamStore(), [loss, dz!]).runToHost({ z: Float32Array.from(z), t: Float32Array.from(t) });
    };
    const [rv, rg] = run(new ReferenceBackend({ dtype: 'float64' })), [nv, ng] = run(new NativeBackend());
    assert.ok(Math.abs(nv[0] - rv[0]) < 1e-5 * Math.max(1, Math.abs(rv[0])), `${kind} (${name(o)}): ${nv[0]} vs ${rv[0]}`);
    let worst = 0;
    for (let i = 0; i < rg.length; i++) worst = Math.max(worst, Math.abs(ng[i] - rg[i]) / (1e-9 + 1e-3 * Math.abs(rg[i])));
    assert.ok(worst < 1, `${kind} (${name(o)}): gradient off by ${worst} x the tolerance`);
  }
});

const bf16 = native.ok ? bf16Support() : { ok: false, reason: native.reason };
test('native bf16 matches the reference within bf16 rounding of the logits and gradient', { skip: bf16.ok ? false : bf16.reason }, () =>
  parity(() => new NativeBackend({ precision: 'bf16' }), { value: 2e-2, atol: 2e-4, rtol: 2e-2 }, 'bf16'));

const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const noTorch = !torch && process.env.CI !== 'true' ? 'python3-torch is not installed (apt-get install -y python3-torch)' : false;

test('ce_dice with the options is nnU-Net\'s CE + (1 + its soft Dice loss), value and gradient, in PyTorch float64', { skip: noTorch }, () => {
  // nnU-Net's definition (MemoryEfficientSoftDiceLoss, smooth 1e-5): sums over the spatial axes, and with
  // batch_dice over the batch too; without do_bg channel 0 is dropped; the loss is minus the mean Dice.
  const script = `
import json, sys, torch
a = json.load(sys.stdin)
out = []
for o in a['options']:
    z = torch.tensor(a['z'], dtype=torch.float64).reshape(a['shape']).requires_grad_()
    t = torch.tensor(a['t'], dtype=torch.float64).reshape(a['shape'])
    ce = torch.nn.functional.cross_entropy(z, t.argmax(1))
    p, y = torch.softmax(z, 1), t
    if not o['bg']:
        p, y = p[:, 1:], y[:, 1:]
    axes = [0] + list(range(2, z.dim())) if o['batch'] else list(range(2, z.dim()))
    dc = (2 * (p * y).sum(axes) + 1e-5) / (p.sum(axes) + y.sum(axes) + 1e-5)
    loss = ce - dc.mean()
    loss.backward()
    out.append({'loss': loss.item(), 'grad': z.grad.flatten().tolist()})
print(json.dumps(out))`;
  const { z, t, ignore } = data('ce_dice', 41);
  const options = OPTIONS.map((o) => ({ bg: o.diceBackground !== false, batch: !!o.batchDice }));
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ z: [...z], t: [...t], shape: SHAPE, options }),
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const peer = JSON.parse(r.stdout) as { loss: number; grad: number[] }[];
  OPTIONS.forEach((o, i) => {
    const g = new Graph();
    const loss = build(g, 'ce_dice', o, false);
    const [dz] = gradients(g, loss, [g.inputs.get('z')!]);
    const [v, grad] = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [loss, dz!]).runToHost({ z, t });
    assert.ok(Math.abs(v[0] - (1 + peer[i].loss)) < 1e-12, `${name(o)}: ${v[0]} vs 1 + ${peer[i].loss}`);
    assert.ok(Math.abs(v[0] - direct('ce_dice', z, t, ignore, o)) < 1e-12);
    for (let j = 0; j < grad.length; j++) assert.ok(Math.abs(grad[j] - peer[i].grad[j]) < 1e-12, `${name(o)}: gradient [${j}]`);
  });
});
