// The model family with dims 3 (volumes) and instance norm: exact parameter counts (a formula
// written here, checked on the 2D counts of DESIGN.md and against the PyTorch peer's 3D counts),
// defaults, errors, deep supervision, modes and pruning on volumes, checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { makeConfig, WIDE_UNET_FILTERS, DEFAULT_FILTERS, type ModelConfig } from '../../src/models/config.js';
import { describeModel, formatInfo } from '../../src/models/info.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { saveModel, loadModel } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { rng, uniform32 } from '../helpers/gradcheck.js';

type Cfg = Partial<ModelConfig>;

/**
 * Trainable parameters by formula. A conv block H(cin -> c) is two k^dims convs with bias, each
 * followed (bn preset) by a norm with weight and bias: K c (cin + c) + 2c + (bn ? 4c : 0), K = 3^dims.
 * UNet++ X(i,j), j >= 1, reads j nodes of f_i channels and the up-sampled node below: f_{i+1}
 * channels (bilinear) or f_i (paper: a 2^dims transposed conv f_{i+1} -> f_i with bias first).
 * U-Net has only X(i, L-i). Heads: 1^dims convs f_0 -> classes, one per level with deep supervision.
 */
function formula(p: { dims: 2 | 3; preset: 'bn' | 'paper'; arch: 'unetpp' | 'unet'; filters: number[]; inCh: number; classes: number; heads: number; level?: number }): number {
  const K = 3 ** p.dims, T = 2 ** p.dims, f = p.filters;
  const L = p.level ?? f.length - 1;
  const block = (cin: number, c: number) => K * c * (cin + c) + 2 * c + (p.preset === 'bn' ? 4 * c : 0);
  const up = (i: number) => (p.preset === 'paper' ? T * f[i + 1] * f[i] + f[i] : 0);
  const upCh = (i: number) => (p.preset === 'paper' ? f[i] : f[i + 1]);
  let n = 0;
  for (let i = 0; i <= L; i++) n += block(i === 0 ? p.inCh : f[i - 1], f[i]);
  for (let j = 1; j <= L; j++)
    for (let i = 0; i + j <= L; i++) {
      if (p.arch === 'unet' && i + j !== L) continue;
      const row = p.arch === 'unet' ? 1 : j;
      n += up(i) + block(row * f[i] + upCh(i), f[i]);
    }
  return n + p.heads * (f[0] * p.classes + p.classes);
}

const count = (cfg: Cfg) => new SegModel(cfg).params.count();

test('the formula gives DESIGN.md\'s 2D counts (so it pins the architecture)', () => {
  const base = { dims: 2 as const, inCh: 1, classes: 1, heads: 1, filters: DEFAULT_FILTERS };
  assert.equal(formula({ ...base, preset: 'paper', arch: 'unetpp' }), 9_041_601);
  assert.deepEqual([1, 2, 3].map((level) => formula({ ...base, preset: 'paper', arch: 'unetpp', level })), [100_961, 511_105, 2_204_961]);
  assert.equal(formula({ ...base, preset: 'paper', arch: 'unet' }), 7_759_521);
  assert.equal(formula({ ...base, preset: 'paper', arch: 'unet', filters: WIDE_UNET_FILTERS }), 9_282_246);
  assert.equal(formula({ ...base, preset: 'bn', arch: 'unetpp', inCh: 3, heads: 4 }), 9_163_428);
});

test('3D parameter counts, exact: the PyTorch peer\'s (torch_unetpp.py export --dims 3) and the formula\'s', () => {
  // Cross-checked against the peer's printed params: export --dims 3 --channels 1 [--ds] [--arch unet] [--filters ...].
  const peer: [Cfg, number][] = [
    [{ dims: 3, inChannels: 1, deepSupervision: true }, 27_466_404],
    [{ dims: 3, inChannels: 1, arch: 'unet' }, 23_538_177],
    [{ dims: 3, inChannels: 1, deepSupervision: true, filters: [16, 32, 64, 128, 256] }, 6_869_588],
    [{ dims: 3, inChannels: 1, filters: [16, 32, 64, 128, 256], norm: 'batch' }, 6_869_537],
    [{ dims: 3, inChannels: 1, filters: [16, 32, 64, 128, 256], arch: 'unet' }, 5_886_977],
  ];
  for (const [cfg, n] of peer) {
    assert.equal(count(cfg), n, JSON.stringify(cfg));
    const c = makeConfig(cfg);
    assert.equal(formula({ dims: 3, preset: 'bn', arch: c.arch, filters: c.filters, inCh: 1, classes: 1, heads: c.deepSupervision ? 4 : 1 }), n);
  }
  // Every architecture and preset, pruned levels included: the model against the formula, and the numbers written out.
  const written: Record<string, number> = {
    'paper unetpp': 26_198_273, 'paper unetpp L1': 294_049, 'paper unetpp L2': 1_482_433, 'paper unetpp L3': 6_389_601,
    'paper unet': 22_575_329, 'paper wide unet': 27_006_176,
    'bn unetpp ds L1': 305_793, 'bn unetpp ds L2': 1_551_297, 'bn unetpp ds L3': 6_696_705, 'bn unet 3 classes': 23_538_243,
  };
  const cases: [string, Cfg, { preset: 'bn' | 'paper'; arch: 'unetpp' | 'unet'; filters?: number[]; heads?: number; level?: number; classes?: number }][] = [
    ['paper unetpp', { preset: 'paper' }, { preset: 'paper', arch: 'unetpp' }],
    ...[1, 2, 3].map((level) => [`paper unetpp L${level}`, { preset: 'paper', level }, { preset: 'paper', arch: 'unetpp', level }] as [string, Cfg, any]),
    ['paper unet', { preset: 'paper', arch: 'unet' }, { preset: 'paper', arch: 'unet' }],
    ['paper wide unet', { preset: 'paper', arch: 'unet', filters: WIDE_UNET_FILTERS }, { preset: 'paper', arch: 'unet', filters: WIDE_UNET_FILTERS }],
    ...[1, 2, 3].map((level) => [`bn unetpp ds L${level}`, { deepSupervision: true, level }, { preset: 'bn', arch: 'unetpp', level }] as [string, Cfg, any]),
    ['bn unet 3 classes', { arch: 'unet', classes: 3 }, { preset: 'bn', arch: 'unet', classes: 3 }],
  ];
  for (const [name, cfg, f] of cases) {
    const n = formula({ dims: 3, inCh: 1, classes: f.classes ?? 1, heads: 1, filters: f.filters ?? DEFAULT_FILTERS, ...f });
    assert.equal(count({ dims: 3, inChannels: 1, ...cfg }), n, name);
    assert.equal(n, written[name], name);
  }
  // The pruned model of a 3D UNet++ has L^d's count.
  assert.equal(new SegModel({ dims: 3, inChannels: 1, deepSupervision: true }).prune(2).params.count(), 1_551_297);
});

test('unetpp info --dims 3: params and GFLOP per level and per voxel', () => {
  const info = describeModel({ dims: 3, inChannels: 1, deepSupervision: true, filters: [16, 32, 64, 128, 256] }, { size: 64 });
  assert.equal(info.params, 6_869_588);
  assert.equal(info.voxels, 64 ** 3);
  assert.deepEqual(info.blocks.find((b) => b.node === 'conv4_0')!.outputSize, [4, 4, 4]);
  assert.equal(info.blocks.reduce((s, b) => s + b.params, 0), info.params);
  assert.deepEqual(info.levels.map((l) => l.params), [76_865, 388_577, 1_675_649, 6_869_537]);
  // conv0_0 by hand: 3x3x3 convs 1 -> 16 and 16 -> 16 at 64^3, 2 FLOP per multiply-add.
  const c00 = info.blocks.find((b) => b.node === 'conv0_0')!;
  assert.ok(Math.abs(c00.gflops - (2 * 64 ** 3 * 27 * (16 * 1 + 16 * 16)) / 1e9) < 1e-12);
  // Cost per voxel does not depend on the side; the total scales with the voxel count.
  const small = describeModel({ dims: 3, inChannels: 1, deepSupervision: true, filters: [16, 32, 64, 128, 256] }, { size: 32 });
  assert.ok(Math.abs(small.flopsPerVoxel - info.flopsPerVoxel) < 1e-6 && Math.abs(8 * small.gflops - info.gflops) < 1e-9);
  assert.ok(info.levels.every((l, i) => i === 0 || l.flopsPerVoxel > info.levels[i - 1].flopsPerVoxel));
  const text = formatInfo(info);
  assert.match(text, /^3D UNet\+\+ L4, preset bn, filters 16,32,64,128,256, 1 in, 1 class, heads final1,final2,final3,final4, up-sampling bilinear, instance norm/);
  assert.match(text, /input 64x64x64: 6,869,588 params, 125\.85 GFLOP per volume forward .*, 480\.1 kFLOP per voxel/);
  assert.match(text, /L2\s+388,577\s+47\.798\s+182\.3/);
  assert.throws(() => describeModel({ dims: 3 }, { size: 16 }), /input 16x16x16 leaves one position per channel at the bottom level \(depth 4\).*option norm.*at least 32/);
});

test('the CLI: unetpp info --dims 3 prints the exact count, per-voxel cost and pruned levels; --norm batch keeps the count', () => {
  const main = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const info = (args: string[]) => spawnSync(process.execPath, [main, 'info', ...args], { encoding: 'utf8' });
  const r = info(['--dims', '3', '--in-channels', '1', '--deep-supervision', '--filters', '16,32,64,128,256', '--size', '64']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /input 64x64x64: 6,869,588 params, 125\.85 GFLOP per volume forward .*480\.1 kFLOP per voxel/);
  assert.match(r.stdout, /L1\s+76,865\s+21\.072\s+80\.4/);
  const b = info(['--dims', '3', '--norm', 'batch', '--in-channels', '1', '--deep-supervision', '--json']);
  assert.equal(JSON.parse(b.stdout).params, 27_466_404);
  assert.equal(JSON.parse(b.stdout).config.norm, 'batch');
});

test('config: dims and norm defaults, and errors naming the option', () => {
  assert.deepEqual([makeConfig({}).dims, makeConfig({}).norm], [2, 'batch']);
  assert.deepEqual([makeConfig({ dims: 3 }).norm, makeConfig({ dims: 3, norm: 'batch' }).norm, makeConfig({ norm: 'instance' }).norm], ['instance', 'batch', 'instance']);
  assert.equal(makeConfig({ dims: 3, preset: 'paper' }).norm, 'batch');
  assert.throws(() => makeConfig({ dims: 4 as 3 }), /model option dims: must be 2 \(images\) or 3 \(volumes\), got 4/);
  assert.throws(() => makeConfig({ norm: 'group' as 'batch' }), /model option norm: 'group' is not batch or instance/);
  assert.throws(() => makeConfig({ preset: 'paper', norm: 'instance' }), /model option norm: the paper preset has no normalisation layers/);
  // Instance norm keeps the names bn1/bn2 and has no running statistics; batch norm 3D has them.
  const inst = new SegModel({ dims: 3, filters: [2, 4] });
  assert.ok(inst.params.has('conv0_0.bn1.weight') && inst.params.has('conv1_0.bn2.bias') && !inst.params.names().some((n) => /running/.test(n)));
  assert.deepEqual(inst.params.get('conv0_1.conv1.weight').shape, [2, 6, 3, 3, 3]);
  assert.ok(new SegModel({ dims: 3, norm: 'batch', filters: [2, 4] }).params.has('conv0_0.bn1.running_var'));
  // 2D defaults and names are unchanged.
  assert.deepEqual(new SegModel({ filters: [2, 4] }).params.get('conv0_1.conv1.weight').shape, [2, 6, 3, 3]);
  assert.deepEqual(new SegModel({ preset: 'paper', dims: 3, filters: [2, 4] }).params.get('up0_1.weight').shape, [4, 2, 2, 2, 2]);
});

test('input errors on volumes: sides not multiples of 2^depth, an image for a volume model', () => {
  const m = new SegModel({ dims: 3, filters: [2, 4, 8], inChannels: 1 });
  const build = (shape: number[]) => { const g = new Graph(); m.forward(g, g.input('x', shape), { training: false }); };
  assert.throws(() => build([1, 1, 10, 16, 16]), /input depth \(D\) 10 is not a multiple of 2\^2 = 4 \(depth 2\): use 8 or 12/);
  assert.throws(() => build([1, 1, 16, 16, 18]), /input width 18 is not a multiple of 2\^2 = 4/);
  assert.throws(() => build([1, 1, 16, 16]), /input \[1,1,16,16\] must be \[N,C,D,H,W\] \(a volume\): the model has dims 3 \(option dims\)/);
  assert.throws(() => { const g = new Graph(); new SegModel({ filters: [2, 4] }).forward(g, g.input('x', [1, 3, 4, 4, 4]), { training: false }); },
    /must be \[N,C,H,W\] \(an image\): the model has dims 2/);
  build([1, 1, 8, 4, 12]); // anisotropic sides are fine
});

test('fused conv_bn is batch norm only: an instance-norm eval graph keeps its instancenorm ops', () => {
  const ops = (cfg: Cfg) => {
    const g = new Graph();
    new SegModel({ filters: [2, 4], ...cfg }).forward(g, g.input('x', [1, 3, 4, 4, 4]), { training: false, fuseBn: true });
    return new Set(g.nodes.map((n) => n.op));
  };
  const inst = ops({ dims: 3 }), bn = ops({ dims: 3, norm: 'batch' });
  assert.ok(inst.has('instancenorm') && !inst.has('conv_bn'));
  assert.ok(bn.has('conv_bn') && !bn.has('batchnorm'));
  // The fused 3D eval graph computes what the unfused one does.
  const m = new SegModel({ dims: 3, norm: 'batch', filters: [2, 4], inChannels: 1, seed: 9 });
  m.params.get('conv0_0.bn1.running_var').data.set([0.5, 2]);
  m.params.get('conv1_0.bn2.running_mean').data.set([0.1, -0.2, 0.3, 0]);
  const x = uniform32(4 ** 3 * 2, rng(8));
  const [fused, plain] = [true, false].map((fuseBn) => {
    const g = new Graph();
    const [y] = m.forward(g, g.input('x', [2, 1, 4, 4, 4]), { training: false, fuseBn });
    return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), m.params, [y]).runToHost({ x })[0];
  });
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(fused[i] - plain[i]) < 1e-12);
});

test('3D UNet++ on the reference backend: accurate = mean of the heads\' probabilities, fast reads one head, pruned L^2 = head 2', () => {
  const m = new SegModel({ dims: 3, inChannels: 1, filters: [2, 3, 4], deepSupervision: true, seed: 3 });
  const x = uniform32(2 * 8 * 8 * 8, rng(4));
  const run = (model: SegModel, outs: (g: Graph, heads: ReturnType<SegModel['forward']>) => ReturnType<Graph['sigmoid']>[]) => {
    const g = new Graph();
    const heads = model.forward(g, g.input('x', [2, 1, 8, 8, 8]), { training: false });
    return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), model.params, outs(g, heads)).runToHost({ x });
  };
  const [acc, fast1, h1, h2] = run(m, (g, hs) => [m.probabilities(g, hs), m.probabilities(g, hs, { kind: 'fast', head: 1 }), g.sigmoid(hs[0]), g.sigmoid(hs[1])]);
  assert.equal(acc.length, 2 * 512);
  for (let i = 0; i < acc.length; i++) {
    assert.ok(Math.abs(acc[i] - (h1[i] + h2[i]) / 2) < 1e-12);
    assert.equal(fast1[i], h1[i]);
  }
  const pruned = m.prune(1);
  const [p1] = run(pruned, (g, hs) => [g.sigmoid(hs[0])]);
  for (let i = 0; i < p1.length; i++) assert.equal(p1[i], h1[i]);
});

test('checkpoints carry dims and norm; a checkpoint without them (written before volumes) loads as 2D batch norm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-vol-'));
  try {
    const m = new SegModel({ dims: 3, filters: [2, 4], inChannels: 1 });
    saveModel(join(dir, 'v.safetensors'), m, completeMeta(m.config, {}, 'train'));
    const back = loadModel(join(dir, 'v.safetensors'));
    assert.deepEqual([back.config.dims, back.config.norm], [3, 'instance']);
    assert.deepEqual(back.params.get('conv0_0.conv1.weight').data, m.params.get('conv0_0.conv1.weight').data);
    // An old checkpoint: the config JSON of a 2D model without the new fields.
    const old = new SegModel({ filters: [2, 4] });
    const { dims: _d, norm: _n, ...oldConfig } = old.config;
    const tensors = Object.fromEntries(old.params.names().map((n) => [n, { dtype: 'F32' as const, shape: [...old.params.get(n).shape], data: old.params.get(n).data }]));
    writeSafetensors(join(dir, 'old.safetensors'), tensors, { format: 'unetpp-checkpoint', version: '1', config: JSON.stringify(oldConfig) });
    const loaded = loadModel(join(dir, 'old.safetensors'));
    assert.deepEqual([loaded.config.dims, loaded.config.norm], [2, 'batch']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
