// Volume models that pool some axes only (the model's `pools`, nnU-Net's per-axis pooling for thick
// slices): config checks, size multiples per axis, the same weights as isotropic pooling, PyTorch's
// max_pool3d / interpolate with per-axis factors, ONNX export in onnxruntime-node, and prediction of
// any size (padding per axis).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { makeConfig, sizeMultiple } from '../../src/models/config.js';
import { SegModel } from '../../src/models/model.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { createPredictor } from '../../src/infer/predict.js';
import { describeModel } from '../../src/models/info.js';
import { rng, uniform } from '../helpers/gradcheck.js';
import { checkOnnxModes, maxDiff } from '../helpers/onnx.js';
import { peerUnavailable } from '../io/peer-python.js';

const POOLS = [[1, 2, 2], [2, 2, 2], [1, 2, 2]];
const volumeModel = (o: Record<string, unknown> = {}) =>
  new SegModel({ dims: 3, filters: [2, 3, 4, 5], pools: POOLS, inChannels: 1, classes: 3, deepSupervision: true, seed: 3, ...o });

test('pools: checked per level and axis, volumes only, not with transposed convs; all-2 pools are the default network', () => {
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4, 8], pools: [[1, 2, 2]] }), /model option pools: needs 2 levels .* got \[\[1,2,2\]\]/);
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4, 8], pools: [[1, 2, 2], [2, 3, 2]] }), /model option pools: .*factors of 1 or 2/);
  assert.throws(() => makeConfig({ dims: 3, filters: [2, 4, 8], pools: [[1, 1, 1], [2, 2, 2]] }), /every level must pool at least one axis/);
  assert.throws(() => makeConfig({ dims: 2, filters: [2, 4], pools: [[1, 2]] }), /per-axis pooling is for volumes/);
  assert.throws(() => makeConfig({ dims: 3, preset: 'paper', filters: [2, 4], pools: [[1, 2, 2]] }), /needs upsample bilinear or nearest/);
  assert.equal(makeConfig({ dims: 3, filters: [2, 4, 8], pools: [[2, 2, 2], [2, 2, 2]] }).pools, undefined);
  assert.deepEqual(sizeMultiple(makeConfig({ dims: 3, filters: [2, 4, 8, 16], pools: POOLS })), [2, 8, 8]);
  assert.deepEqual(sizeMultiple(makeConfig({ dims: 3, filters: [2, 4, 8, 16], pools: POOLS, level: 2 })), [2, 4, 4]);
  assert.deepEqual(sizeMultiple(makeConfig({ dims: 3, filters: [2, 4, 8] })), [4, 4, 4]);
});

test('a per-axis pooled model has the isotropic model\'s weights; its input rule is per axis; info counts its FLOPs', () => {
  const m = volumeModel(), iso = volumeModel({ pools: undefined });
  assert.deepEqual(m.paramSpecs(), iso.paramSpecs());
  const g = new Graph();
  assert.throws(() => m.forward(g, g.input('x', [1, 1, 4, 12, 16]), { training: false }), /height 12 is not a multiple of the product of its pooling factors, 8/);
  const heads = m.forward(g, g.input('y', [1, 1, 4, 16, 16]), { training: false });
  assert.deepEqual(heads.map((h) => h.shape), [[1, 3, 4, 16, 16], [1, 3, 4, 16, 16], [1, 3, 4, 16, 16]]);
  // the bottom level: 4x16x16 -> 4x8x8 -> 2x4x4 -> 2x2x2
  const bottom = describeModel(m.config, { size: [4, 16, 16] }).blocks.find((b) => b.node === 'conv3_0');
  assert.deepEqual(bottom?.outputSize, [2, 2, 2]);
  assert.throws(() => describeModel(m.config, { size: 4 }), /size 4 must be a positive multiple of 8/);
});

const noPeer = peerUnavailable();
const skip = noPeer && process.env.CI !== 'true' ? `${noPeer} (apt-get install -y python3-torch)` : false;

test('per-axis factors as PyTorch: max_pool3d(kernel = stride = f) and interpolate(scale_factor = f)', { skip }, () => {
  const x = [2, 2, 5, 4, 3], X = uniform(240, rng(7));
  const script = `
import json, sys, torch, torch.nn.functional as F
a = json.load(sys.stdin)
x = torch.tensor(a['x'], dtype=torch.float64).reshape(a['shape'])
out = {}
for f in a['factors']:
    k = 'x'.join(map(str, f))
    out['pool' + k] = F.max_pool3d(x, kernel_size=f, stride=f).flatten().tolist()
    for mode, ac in (('trilinear', True), ('trilinear', False), ('nearest', None)):
        y = F.interpolate(x, scale_factor=tuple(float(v) for v in f), mode=mode, align_corners=ac)
        out[f'{mode}{ac}{k}'] = y.flatten().tolist()
print(json.dumps(out))`;
  const factors = [[1, 2, 2], [2, 1, 2], [2, 2, 1], [1, 1, 2], [2, 1, 1]];
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ x: [...X], shape: x, factors }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const torch = JSON.parse(r.stdout) as Record<string, number[]>;
  for (const f of factors) {
    const k = f.join('x');
    const g = new Graph(), xi = g.input('x', x);
    const outs = [g.maxPool(xi, f), g.upsample2x(xi, 'bilinear', true, f), g.upsample2x(xi, 'bilinear', false, f), g.upsample2x(xi, 'nearest', false, f)];
    const got = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), outs).runToHost({ x: X });
    const want = [torch[`pool${k}`], torch[`trilinearTrue${k}`], torch[`trilinearFalse${k}`], torch[`nearestNone${k}`]];
    want.forEach((w, i) => assert.ok(maxDiff(got[i], w) < 1e-12, `${k} output ${i}: ${maxDiff(got[i], w)}`));
  }
});

test('ONNX export of a per-axis pooled model runs in onnxruntime-node and matches the engine (accurate, pruned)', async () => {
  const m = volumeModel();
  const shape = [2, 1, 6, 16, 24], x = Float32Array.from(uniform(2 * 6 * 16 * 24, rng(8)));
  await checkOnnxModes(m, x, shape, [{ kind: 'accurate' }, { kind: 'pruned', level: 2 }], [2, 3, 6, 16, 24]);
});

test('prediction of any size pads per axis (2 slices, 8 in-plane) and crops back; windows give what one pass gives', () => {
  const m = volumeModel();
  const data = Float32Array.from(uniform(5 * 13 * 11, rng(9)));
  const whole = createPredictor(m, { backend: new ReferenceBackend() }).predict({ data, channels: 1, sizes: [5, 13, 11] });
  assert.deepEqual(whole.sizes, [5, 13, 11]);
  assert.equal(whole.data.length, 3 * 5 * 13 * 11);
  for (let i = 0; i < 5 * 13 * 11; i++) {
    const s = whole.data[i] + whole.data[i + 715] + whole.data[i + 1430];
    assert.ok(Math.abs(s - 1) < 1e-5, `softmax sums to ${s}`);
  }
  assert.throws(() => createPredictor(m, { backend: new ReferenceBackend(), tile: [3, 16, 16] }), /tile.*3 is not a positive multiple of the product of the pooling factors along axis 0, 2/);
  const tiled = createPredictor(m, { backend: new ReferenceBackend(), tile: [6, 16, 16] }).predict({ data, channels: 1, sizes: [5, 13, 11] });
  assert.deepEqual(tiled.sizes, [5, 13, 11]);
});
