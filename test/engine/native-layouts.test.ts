// The activation layout belongs to a backend and its plans, not to the addon: an NHWC and a
// blocked backend whose plans run interleaved in one thread give, bit for bit, what each gives
// alone, on images and volumes, forward (inference) and backward (loss and every gradient).
// The reference that makes this able to fail: both layouts compute the same function, so their
// results agree within float32 rounding (a plan run with the other layout's primitives or
// formats would give values far apart, or the same wrong ones twice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { NativeBackend, nativeAvailable, type ActLayout } from '../../src/engine/backends/native.js';
import { SegModel } from '../../src/models/model.js';
import type { ModelConfig } from '../../src/models/config.js';
import { trainGraph } from '../../src/train/plans.js';

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason})`;

/** Values in [-0.5, 0.5) from a fixed linear congruential sequence. */
function values(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** One case's runs on one backend: a training step (loss and gradients) twice, then inference. */
function runs(layout: ActLayout, cfg: Partial<ModelConfig>, x: number[]) {
  const be = new NativeBackend({ layout });
  const model = new SegModel(cfg);
  const t = [...x];
  t[1] = cfg.classes ?? 1;
  const target = values(7, numel(t)).map((v) => (v > 0 ? 1 : 0));
  const { g, outs } = trainGraph(model, x, t, { kind: 'bce_dice', bceWeight: 0.5 });
  const train = new Plan(g, be, model.params, outs);
  const gi = new Graph();
  const heads = model.forward(gi, gi.input('x', x), { training: false, fuseBn: true });
  const infer = new Plan(gi, be, model.params, [model.probabilities(gi, heads)]);
  const results: Float32Array[][] = [];
  const keep = (os: (Float32Array | Float64Array)[]) => results.push(os.map((o) => Float32Array.from(o)));
  const steps = [
    () => keep(train.runToHost({ x: values(11, numel(x)), target })),
    () => keep(train.runToHost({ x: values(12, numel(x)), target })),
    () => keep(infer.runToHost({ x: values(13, numel(x)) })),
  ];
  return { steps, results };
}

const cases: [string, Partial<ModelConfig>, number[]][] = [
  ['2D, batch norm, bilinear',
    { dims: 2, arch: 'unetpp', preset: 'bn', filters: [32, 48], inChannels: 1, classes: 1, seed: 1 },
    [2, 1, 12, 12]],
  ['3D, instance norm, transposed convs', { dims: 3, arch: 'unetpp', preset: 'bn', norm: 'instance', filters: [32, 48],
    inChannels: 1, classes: 1, upsample: 'transpose', seed: 2 }, [1, 1, 8, 8, 8]],
];

for (const [name, cfg, x] of cases) {
  test(`native layouts interleaved in one thread match each alone: ${name}`, { skip }, () => {
    // interleaved first, on shapes no other run in this file has cached primitives for
    const a = runs('nhwc', cfg, x), b = runs('blocked', cfg, x);
    a.steps.forEach((step, i) => { step(); b.steps[i](); });
    const nhwc = runs('nhwc', cfg, x), blocked = runs('blocked', cfg, x);
    for (const step of nhwc.steps) step();
    for (const step of blocked.steps) step();
    assert.deepEqual(a.results, nhwc.results, 'NHWC interleaved vs alone');
    assert.deepEqual(b.results, blocked.results, 'blocked interleaved vs alone');
    nhwc.results.forEach((outs, s) => outs.forEach((o, k) => {
      const scale = Math.max(1e-3, ...o.map(Math.abs));
      const err = Math.max(...o.map((v, i) => Math.abs(v - blocked.results[s][k][i])));
      assert.ok(err <= 2e-4 * scale, `run ${s} output ${k}: NHWC and blocked differ by ${err} (scale ${scale})`);
    }));
  });
}
