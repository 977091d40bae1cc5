// Volume models with per-axis conv kernels (the model's `kernels`, nnU-Net's 1x3x3 on levels whose slices are
// much thicker than their pixels): config checks, weight shapes, exact parameter and FLOP counts, PyTorch's
// conv3d with per-axis padding, a whole small UNet++ 3D (kernels and pools per axis) against PyTorch (logits,
// loss, every gradient), PyTorch export and import, and ONNX in onnxruntime-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig, kernelsOf, type ModelConfig } from '../../src/models/config.js';
import { SegModel } from '../../src/models/model.js';
import { Graph } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';
import type { Backend } from '../../src/engine/backend.js';
import { describeModel, formatInfo } from '../../src/models/info.js';
import { buildWebBundle } from '../../src/io/web-bundle.js';
import { exportPyTorch, importPyTorch, inferPyTorchConfig } from '../../src/io/pytorch.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { peerParity, formatParity } from '../../src/io/peer-parity.js';
import { rng, uniform } from '../helpers/gradcheck.js';
import { checkOnnxModes, maxDiff } from '../helpers/onnx.js';
import { PEER, peerUnavailable } from '../io/peer-python.js';

const KERNELS = [[1, 3, 3], [1, 3, 3], [3, 3, 3]];
const POOLS = [[1, 2, 2], [2, 2, 2]];
const volumeModel = (o: Partial<ModelConfig> = {}) =>
  new SegModel({ dims: 3, filters: [2, 3, 4], kernels: KERNELS, inChannels: 1, classes: 2, deepSupervision: true, seed: 3, ...o });
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

test('kernels: checked per level and axis, volumes only; all-3 kernels are the default network', () => {
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4, 8], kernels: [[1, 3, 3], [3, 3, 3]] }),
    /model option kernels: needs 3 levels \(0\.\.2, one per level of filters\) of 3 sizes of 1 or 3, got \[\[1,3,3\],\[3,3,3\]\]/);
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4], kernels: [[1, 3, 3], [3, 5, 3]] }), /model option kernels: .*sizes of 1 or 3/);
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4], kernels: [[1, 3], [3, 3]] }), /model option kernels: .*3 sizes/);
  assert.throws(() => makeConfig({ dims: 2, filters: [2, 4], kernels: [[1, 3], [3, 3]] }), /model option kernels: per-axis kernels are for volumes/);
  assert.equal(makeConfig({ dims: 3, filters: [2, 4], kernels: [[3, 3, 3], [3, 3, 3]] }).kernels, undefined);
  assert.equal(makeConfig({ dims: 2, filters: [2, 4], kernels: [[3, 3], [3, 3]] }).kernels, undefined);
  assert.deepEqual(kernelsOf(makeConfig({ dims: 3, filters: [2, 4] })), [[3, 3, 3], [3, 3, 3]]);
  assert.deepEqual(makeConfig({ dims: 3, filters: [2, 3, 4], kernels: KERNELS }).kernels, KERNELS);
});

test('every conv of a level uses its kernel (weights [O, C, kd, kh, kw]); heads stay 1x1x1; sizes are kept', () => {
  const m = volumeModel();
  const shapes = Object.fromEntries(m.paramSpecs().map((p) => [p.name, p.shape]));
  assert.deepEqual(shapes['conv0_0.conv1.weight'], [2, 1, 1, 3, 3]);
  assert.deepEqual(shapes['conv0_2.conv2.weight'], [2, 2, 1, 3, 3]);
  assert.deepEqual(shapes['conv1_1.conv1.weight'], [3, 3 + 4, 1, 3, 3]);
  assert.deepEqual(shapes['conv2_0.conv2.weight'], [4, 4, 3, 3, 3]);
  assert.deepEqual(shapes['final1.weight'], [2, 2, 1, 1, 1]);
  const g = new Graph();
  const heads = m.forward(g, g.input('x', [1, 1, 4, 8, 8]), { training: true });
  assert.deepEqual(heads.map((h) => h.shape), [[1, 2, 4, 8, 8], [1, 2, 4, 8, 8]]);
  const pads = g.nodes.filter((n) => n.op === 'conv').map((n) => JSON.stringify((n.attrs as { pad: unknown }).pad));
  assert.deepEqual([...new Set(pads)].sort(), ['0', '1', '[0,1,1]']);
  // the paper preset (transposed-conv up-sampling, dropout): its convs take the kernels too
  const paper = new SegModel({ dims: 3, preset: 'paper', filters: [2, 3], kernels: [[1, 3, 3], [3, 3, 3]], inChannels: 1 });
  const ps = Object.fromEntries(paper.paramSpecs().map((p) => [p.name, p.shape]));
  assert.deepEqual([ps['conv0_1.conv2.weight'], ps['up0_1.weight'], ps['final.weight']], [[2, 2, 1, 3, 3], [3, 2, 2, 2, 2], [1, 2, 1, 1, 1]]);
  // 2D models: the same graph as ever (one number per padding)
  const g2 = new Graph();
  new SegModel({ filters: [2, 4], inChannels: 1 }).forward(g2, g2.input('x', [1, 1, 8, 8]), { training: false });
  assert.ok(g2.nodes.filter((n) => n.op === 'conv').every((n) => typeof (n.attrs as { pad: unknown }).pad === 'number'));
});

/** Params and forward MACs of a UNet++ with deep supervision and instance norm, counted node by node. */
function counted(cfg: ModelConfig, sides: number[]): { params: number; macs: number } {
  const f = cfg.filters, L = f.length - 1, ks = kernelsOf(cfg);
  const pools = cfg.pools ?? Array.from({ length: L }, () => [2, 2, 2]);
  let params = 0, macs = 0;
  const at = sides.slice();
  for (let i = 0; i <= L; i++) {
    if (i > 0) at.forEach((v, k) => { at[k] = Math.floor(v / pools[i - 1][k]); });
    const K = prod(ks[i]), pos = prod(at);
    for (let j = 0; i + j <= L; j++) {
      const cin = j === 0 ? (i === 0 ? cfg.inChannels : f[i - 1]) : f[i] * j + f[i + 1], c = f[i];
      params += c * cin * K + c + c * c * K + c + 4 * c; // two convs with bias, two instance norms
      macs += pos * (c * cin * K + c * c * K);
    }
    if (i === 0) { params += L * (cfg.classes * f[0] + cfg.classes); macs += L * pos * cfg.classes * f[0]; }
  }
  return { params, macs };
}

test('parameter counts and GFLOPs count the per-axis kernels exactly; info prints them', () => {
  const cfg = makeConfig({ dims: 3, filters: [4, 8, 16, 32], kernels: [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3]],
    pools: [[1, 2, 2], [2, 2, 2], [2, 2, 2]], inChannels: 2, classes: 3, deepSupervision: true });
  const sides = [8, 32, 48];
  const want = counted(cfg, sides), info = describeModel(cfg, { size: sides });
  assert.equal(info.params, want.params);
  assert.equal(new SegModel(cfg).params.count(), want.params);
  assert.ok(Math.abs(info.gflops - (2 * want.macs) / 1e9) < 1e-12 * info.gflops, `${info.gflops} vs ${(2 * want.macs) / 1e9}`);
  // all-3 kernels: the same formula, the counts of before
  const iso = makeConfig({ ...cfg, kernels: undefined });
  assert.equal(describeModel(iso, { size: sides }).params, counted(iso, sides).params);
  assert.ok(info.params < describeModel(iso, { size: sides }).params);
  const text = formatInfo(info);
  assert.match(text, /^3D UNet\+\+ L3, preset bn, filters 4,8,16,32, pools 1x2x2,2x2x2,2x2x2, kernels 1x3x3,1x3x3,3x3x3,3x3x3, 2 in/);
  assert.match(text, /^input 8x32x48: /m);
  assert.doesNotMatch(formatInfo(describeModel(iso, { size: sides })), /kernels/);
});

const noPeer = peerUnavailable();
const skip = noPeer && process.env.CI !== 'true' ? `${noPeer} (apt-get install -y python3-torch)` : false;

test('conv with per-axis kernels and padding as PyTorch: F.conv3d(x, w, b, padding=(pd, ph, pw)) and its gradients', { skip }, () => {
  const cases = [{ k: [1, 3, 3], p: [0, 1, 1] }, { k: [3, 1, 3], p: [1, 0, 1] }, { k: [1, 1, 3], p: [0, 0, 1] }, { k: [3, 3, 1], p: [1, 1, 0] }];
  const xs = [2, 3, 3, 5, 4], o = 4;
  const script = `
import json, sys, torch, torch.nn.functional as F
a = json.load(sys.stdin)
out = []
for c in a['cases']:
    x = torch.tensor(a['x'], dtype=torch.float64).reshape(a['xs']).requires_grad_()
    w = torch.tensor(c['w'], dtype=torch.float64).reshape([a['o'], a['xs'][1]] + c['k']).requires_grad_()
    b = torch.tensor(c['b'], dtype=torch.float64).requires_grad_()
    y = F.conv3d(x, w, b, padding=tuple(c['p']))
    (y * torch.tensor(c['r'], dtype=torch.float64).reshape(y.shape)).sum().backward()
    out.append({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.flatten().tolist(), 'db': b.grad.tolist()})
print(json.dumps(out))`;
  const rand = rng(21), X = uniform(prod(xs), rand);
  const data = cases.map((c) => {
    const ws = [o, xs[1], ...c.k];
    // float32 values, so that the params the engine stores are the same numbers
    const W = Float64Array.from(Float32Array.from(uniform(prod(ws), rand))), B = Float64Array.from(Float32Array.from(uniform(o, rand)));
    return { ...c, ws, W, B, R: uniform(prod([xs[0], o, ...xs.slice(2)]), rand) };
  });
  const input = { x: [...X], xs, o, cases: data.map((c) => ({ k: c.k, p: c.p, w: [...c.W], b: [...c.B], r: [...c.R] })) };
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const torch = JSON.parse(r.stdout) as { y: number[]; dx: number[]; dw: number[]; db: number[] }[];
  data.forEach((c, i) => {
    const g = new Graph(), ps = new ParamStore();
    ps.set('w', c.ws, Float32Array.from(c.W));
    ps.set('b', [o], Float32Array.from(c.B));
    const x = g.input('x', xs), w = g.param('w', c.ws), b = g.param('b', [o]);
    const y = g.conv(x, w, b, { pad: c.p });
    const rr = g.input('r', y.shape);
    const grads = gradients(g, g.scale(g.meanAll(g.mul(y, rr)), prod(y.shape)), [x, w, b]);
    const got = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), ps, [y, ...grads.map((v) => v!)]).runToHost({ x: X, r: c.R });
    const want = [torch[i].y, torch[i].dx, torch[i].dw, torch[i].db];
    ['y', 'dx', 'dw', 'db'].forEach((n, j) => assert.ok(maxDiff(got[j], want[j]) < 1e-10, `${c.k.join('x')} ${n}: ${maxDiff(got[j], want[j])}`));
  });
});

// The peer's NestedUNet (torch_unetpp.py) with each level's convs replaced by kernels K[i] (padding (k-1)/2 per
// axis) and pooling / trilinear up-sampling by POOLS[i]; exported as the peer's `export` writes its fixtures.
const UNETPP_3D = `
import json, os, sys, torch, torch.nn.functional as F
from torch import nn
a = json.load(sys.stdin)
sys.path.insert(0, os.path.dirname(a['peer']))
import torch_unetpp as P
P.DIMS, P.NORM = 3, 'instance'
K, POOLS, nb = a['kernels'], a['pools'], a['filters']
torch.manual_seed(0)
m = P.NestedUNet(1, 1, True, nb)
for name, block in list(m.named_children()):
    if name.startswith('conv'):
        k = K[int(name[4:].split('_')[0])]
        pad = tuple((v - 1) // 2 for v in k)
        block.conv1 = nn.Conv3d(block.conv1.in_channels, block.conv1.out_channels, k, padding=pad)
        block.conv2 = nn.Conv3d(block.conv2.in_channels, block.conv2.out_channels, k, padding=pad)

def forward(x):
    X = {}
    for i in range(m.L + 1):
        X[i, 0] = getattr(m, f'conv{i}_0')(x if i == 0 else F.max_pool3d(X[i - 1, 0], POOLS[i - 1], POOLS[i - 1]))
    for j in range(1, m.L + 1):
        for i in range(m.L + 1 - j):
            up = F.interpolate(X[i + 1, j - 1], scale_factor=tuple(float(v) for v in POOLS[i]), mode='trilinear', align_corners=True)
            X[i, j] = getattr(m, f'conv{i}_{j}')(torch.cat([X[i, k] for k in range(j)] + [up], 1))
    return [getattr(m, f'final{j}')(X[0, j]) for j in range(1, m.L + 1)]

x = torch.randn(2, 1, *a['size'])
t = (torch.rand(2, 1, *a['size']) > 0.5).float()
meta = {'arch': 'unetpp', 'filters': ','.join(map(str, nb)), 'in_channels': 1, 'classes': 1, 'deep_supervision': True,
        'dims': 3, 'norm': 'instance', 'pools': ','.join('x'.join(map(str, f)) for f in POOLS)}
P.save_safetensors(os.path.join(a['out'], 'weights.safetensors'), m.state_dict(), meta)
io, grads = {'x': x, 't': t}, {}
for mode in ('eval', 'train'):
    m.train(mode == 'train')
    xr = x.clone().requires_grad_()
    m.zero_grad()
    outs = forward(xr)
    loss = sum(P.bce_dice(o, t) for o in outs) / len(outs)
    loss.backward()
    for j, o in enumerate(outs):
        io[f'y{j + 1}_{mode}'] = o.detach()
    io[f'loss_{mode}'] = loss.detach().reshape(1)
    io[f'dx_{mode}'] = xr.grad
    for k, p in m.named_parameters():
        grads[f'{mode}/{k}'] = p.grad.clone()
P.save_safetensors(os.path.join(a['out'], 'io.safetensors'), io, meta)
P.save_safetensors(os.path.join(a['out'], 'grads.safetensors'), grads, meta)
`;

test('UNet++ 3D with kernels 1x3x3,1x3x3,3x3x3 and pools 1x2x2,2x2x2 as PyTorch: logits, loss, d/dx and every gradient', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'kernels3d-'));
  try {
    const r = spawnSync('/usr/bin/python3', ['-c', UNETPP_3D], {
      input: JSON.stringify({ peer: PEER, kernels: KERNELS, pools: POOLS, filters: [4, 8, 16], size: [4, 8, 8], out }),
      encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    assert.equal(r.status, 0, r.stderr);
    // the weights alone give the kernels (their shapes); the pools come from the metadata
    const cfg = importPyTorch(join(out, 'weights.safetensors')).config;
    assert.deepEqual([cfg.kernels, cfg.pools], [KERNELS, POOLS]);
    // measured: logits within 3e-6 of 1.2, gradients within 4e-8 of 4e-2, on every backend here
    const backends: [string, Backend][] = [['reference f64', new ReferenceBackend({ dtype: 'float64' })],
      ['reference f32', new ReferenceBackend({ dtype: 'float32' })]];
    if (nativeAvailable().ok) backends.push(['native nhwc', new NativeBackend({ layout: 'nhwc' })], ['native blocked', new NativeBackend({ layout: 'blocked' })]);
    for (const [name, be] of backends)
      for (const mode of ['eval', 'train'] as const) {
        const rep = peerParity(out, be, mode);
        for (const d of [rep.logits, rep.loss, rep.dx, rep.grads])
          assert.ok(d.rel <= 1e-4 && d.maxAbs <= 1e-3 * Math.max(d.maxRef, 1e-3), `${name} ${formatParity(rep)}`);
      }
  } finally { rmSync(out, { recursive: true, force: true }); }
});

test('PyTorch export and import keep the kernels (shapes and metadata) and the pools (metadata)', () => {
  const m = volumeModel({ pools: POOLS });
  const dir = mkdtempSync(join(tmpdir(), 'kernels-pt-'));
  try {
    const file = join(dir, 'w.safetensors');
    exportPyTorch(file, m);
    const read = readSafetensors(file);
    assert.deepEqual([read.metadata.kernels, read.metadata.pools], ['1x3x3,1x3x3,3x3x3', '1x2x2,2x2x2']);
    assert.deepEqual(read.tensors['conv1_0.conv1.weight'].shape, [3, 2, 1, 3, 3]);
    const back = importPyTorch(file, { config: { classes: 2, seed: 3 } });
    assert.deepEqual([back.config.kernels, back.config.pools], [KERNELS, POOLS]);
    assert.deepEqual(inferPyTorchConfig({ ...read, metadata: {} }).kernels, KERNELS);
    for (const name of m.params.names()) assert.deepEqual(back.params.get(name).data, m.params.get(name).data, name);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('ONNX export of a model with per-axis kernels runs in onnxruntime-node and matches the engine (accurate, pruned)', async () => {
  const m = volumeModel({ pools: POOLS });
  const shape = [2, 1, 6, 8, 12], x = Float32Array.from(uniform(prod(shape), rng(8)));
  await checkOnnxModes(m, x, shape, [{ kind: 'accurate' }, { kind: 'pruned', level: 1 }], [2, 2, 6, 8, 12]);
});

test('the web bundle records the kernels and counts each model\'s GFLOPs with them', () => {
  const m = volumeModel({ pools: POOLS });
  const { manifest } = buildWebBundle(m, { tile: [4, 16, 16] });
  assert.deepEqual([manifest.model.kernels, manifest.model.pools], [KERNELS, POOLS]);
  const accurate = manifest.models.find((e) => e.id === 'accurate')!;
  assert.equal(accurate.params, m.params.count());
  assert.equal(accurate.gflops, Number(describeModel(m.config, { size: [4, 16, 16] }).gflops.toFixed(4)));
});
