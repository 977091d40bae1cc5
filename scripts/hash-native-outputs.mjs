// Prints a hash of every output of two training steps and one inference plan per configuration on
// the native backend (NHWC, blocked, blocked with strided views; 2D and 3D), for comparing two
// builds bit for bit: run it on both (node scripts/hash-native-outputs.mjs [repo root, default .])
// and diff the output. "interleaved" runs an NHWC and a blocked backend's plans alternately in
// one thread; its hashes must equal the lines of each layout alone.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = pathToFileURL(resolve(process.argv[2] ?? '.')).href;
const { SegModel } = await import(`${root}/dist/src/models/model.js`);
const { trainGraph } = await import(`${root}/dist/src/train/plans.js`);
const { Graph } = await import(`${root}/dist/src/engine/graph.js`);
const { Plan } = await import(`${root}/dist/src/engine/plan.js`);
const { NativeBackend } = await import(`${root}/dist/src/engine/backends/native.js`);

/** Values in [-0.5, 0.5) from a linear congruential generator: the same on every build. */
function rand(seed, n) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
const cases = [
  ['2d bn unetpp ds',
    { dims: 2, arch: 'unetpp', preset: 'bn', filters: [16, 32, 48], inChannels: 3, classes: 1, deepSupervision: true, seed: 1 },
    [2, 3, 16, 16]],
  ['2d paper unetpp transpose',
    { dims: 2, arch: 'unetpp', preset: 'paper', filters: [16, 32, 48], inChannels: 1, classes: 2, upsample: 'transpose', seed: 2 },
    [2, 1, 12, 12]],
  ['2d bn unet nearest dropout',
    { dims: 2, arch: 'unet', preset: 'bn', filters: [16, 32], inChannels: 1, classes: 1, upsample: 'nearest', dropout: 0.2, seed: 3 },
    [2, 1, 8, 8]],
  ['3d instance unetpp ds',
    { dims: 3, arch: 'unetpp', preset: 'bn', norm: 'instance', filters: [16, 32, 48], inChannels: 1, classes: 2, deepSupervision: true, seed: 4 },
    [2, 1, 8, 8, 8]],
  ['3d paper unet transpose',
    { dims: 3, arch: 'unet', preset: 'paper', filters: [16, 32], inChannels: 1, classes: 1, upsample: 'transpose', seed: 5 },
    [1, 1, 8, 8, 8]],
];
const numel = (s) => s.reduce((a, b) => a * b, 1);

/** The runs of one case on one backend, as steps that feed a hash (run them in any order). */
function runs(be, [, cfg, xs]) {
  const model = new SegModel(cfg);
  const ts = [...xs];
  ts[1] = cfg.classes;
  const kind = cfg.classes > 1 ? 'ce_dice' : 'bce_dice';
  const target = rand(7, numel(ts)).map((v) => (v > 0 ? 1 : 0));
  const { g, outs } = trainGraph(model, xs, ts, { kind, bceWeight: 0.5 });
  const train = new Plan(g, be, model.params, outs);
  const gi = new Graph();
  const heads = model.forward(gi, gi.input('x', xs), { training: false, fuseBn: true });
  const infer = new Plan(gi, be, model.params, [model.probabilities(gi, heads)]);
  const h = createHash('sha256');
  const feed = (os) => { for (const o of os) h.update(new Uint8Array(o.buffer, o.byteOffset, o.byteLength)); };
  const steps = [0, 1].map((step) => () => feed(train.runToHost({ x: rand(step + 11, numel(xs)), target })));
  steps.push(() => feed(infer.runToHost({ x: rand(99, numel(xs)) })));
  return { steps, digest: () => h.digest('hex').slice(0, 16) };
}

const variants = [
  ['nhwc', { layout: 'nhwc' }, cases],
  ['blocked', { layout: 'blocked' }, cases],
  ['blocked views', { layout: 'blocked', viewMin: 0 }, cases.filter(([, cfg]) => cfg.dims === 2)],
];
for (const [label, options, list] of variants) {
  const be = new NativeBackend(options);
  for (const c of list) {
    const r = runs(be, c);
    for (const s of r.steps) s();
    console.log(`${label} ${c[0]}: ${r.digest()}`);
  }
}
const nhwc = new NativeBackend({ layout: 'nhwc' }), blocked = new NativeBackend({ layout: 'blocked' });
for (const c of cases) {
  const a = runs(nhwc, c), b = runs(blocked, c);
  a.steps.forEach((s, i) => { s(); b.steps[i](); });
  console.log(`interleaved nhwc ${c[0]}: ${a.digest()}`);
  console.log(`interleaved blocked ${c[0]}: ${b.digest()}`);
}
