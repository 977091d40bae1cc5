// ONNX export of volume models (dims 3) run in onnxruntime-node: accurate / fast / pruned modes
// match the 3D peer's eval logits turned into probabilities and our engine, <= 1e-4, for instance
// norm (InstanceNormalization) and batch norm (folded or not); trilinear Resize with
// align_corners, nearest, transposed conv; dynamic batch and anisotropic sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { toOnnx, type OnnxMode } from '../../src/io/onnx.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { SegModel } from '../../src/models/model.js';
import { FIX, sigmoid, runOnnx, ours, maxDiff } from '../helpers/onnx.js';

test('3D peer fixture, instance norm + deep supervision: accurate, fast, pruned vs peer and engine', async () => {
  const model = importPyTorch(`${FIX}peer3d-instance-ds/weights.safetensors`);
  const io = readSafetensors(`${FIX}peer3d-instance-ds/io.safetensors`).tensors;
  const x = io.x.data as Float32Array;
  const ys = [1, 2].map((j) => io[`y${j}_eval`].data as Float32Array);
  const peerProb = (heads: number[]) => Float64Array.from(ys[0], (_, i) => heads.reduce((s, h) => s + sigmoid(ys[h - 1][i]), 0) / heads.length);
  const cases: [OnnxMode, number[]][] = [
    [{ kind: 'accurate' }, [1, 2]],
    [{ kind: 'fast' }, [2]],
    [{ kind: 'fast', head: 1 }, [1]],
    [{ kind: 'pruned', level: 1 }, [1]],
  ];
  for (const [mode, heads] of cases) {
    const out = await runOnnx(toOnnx(model, { mode }), x, io.x.shape);
    assert.deepEqual(out.dims, [2, 1, 8, 8, 8]);
    const dPeer = maxDiff(out.data, peerProb(heads));
    const dOurs = maxDiff(out.data, ours(model, mode, x, io.x.shape));
    if (process.env.ONNX_LOG) console.log(JSON.stringify(mode), dPeer, dOurs);
    assert.ok(dPeer <= 1e-4 && dOurs <= 1e-4, `${JSON.stringify(mode)}: vs peer ${dPeer}, vs engine ${dOurs}`);
  }
});

for (const fold of [false, true]) {
  test(`3D peer fixtures, batch norm (foldBatchNorm ${fold}) and U-Net: vs peer and engine`, async () => {
    for (const f of ['peer3d-batch', 'peer3d-unet']) {
      const model = importPyTorch(`${FIX}${f}/weights.safetensors`);
      const io = readSafetensors(`${FIX}${f}/io.safetensors`).tensors;
      const x = io.x.data as Float32Array;
      const out = await runOnnx(toOnnx(model, { foldBatchNorm: fold }), x, io.x.shape);
      const dPeer = maxDiff(out.data, Float64Array.from(io.y_eval.data as Float32Array, sigmoid));
      const dOurs = maxDiff(out.data, ours(model, { kind: 'accurate' }, x, io.x.shape));
      if (process.env.ONNX_LOG) console.log(f, fold, dPeer, dOurs);
      assert.ok(dPeer <= 1e-4 && dOurs <= 1e-4, `${f}: vs peer ${dPeer}, vs engine ${dOurs}`);
    }
  });
}

test('3D dynamic batch and anisotropic sides; nearest, transposed conv (paper), softmax, pruned levels of a depth-3 model; 2D instance norm', async () => {
  const models = [
    new SegModel({ dims: 3, filters: [2, 4, 8], deepSupervision: true, upsample: 'nearest', inChannels: 1, seed: 1 }),
    new SegModel({ dims: 3, preset: 'paper', filters: [2, 4, 8], inChannels: 1, seed: 2 }),
    new SegModel({ dims: 3, arch: 'unet', filters: [3, 4, 5], classes: 3, multiclass: 'softmax', norm: 'batch', seed: 3 }),
    new SegModel({ dims: 3, filters: [2, 3, 4, 5], deepSupervision: true, inChannels: 1, seed: 4 }),
    new SegModel({ dims: 2, filters: [2, 4, 8], norm: 'instance', classes: 2, multiclass: 'sigmoid', seed: 5 }),
  ];
  for (const m of models) {
    const vol = m.config.dims === 3;
    const modes: OnnxMode[] = [{ kind: 'accurate' }];
    if (m.config.deepSupervision) modes.push({ kind: 'fast', head: 1 }, ...Array.from({ length: m.config.filters.length - 2 }, (_, d) => ({ kind: 'pruned' as const, level: d + 1 })));
    const m8 = 2 ** (m.config.filters.length - 1) * 2;
    const shapes = vol ? [[1, m.config.inChannels, m8, m8, m8], [2, m.config.inChannels, m8, 2 * m8, m8 + m8 / 2]] : [[2, m.config.inChannels, 12, 20]];
    for (const mode of modes) {
      const bytes = toOnnx(m, { mode });
      for (const shape of shapes) {
        const x = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37));
        const out = await runOnnx(bytes, x, shape);
        assert.deepEqual(out.dims, [shape[0], m.config.classes, ...shape.slice(2)]);
        const d = maxDiff(out.data, ours(m, mode, x, shape));
        assert.ok(d <= 1e-4, `${m.config.preset} ${m.config.upsample} ${m.config.norm} ${JSON.stringify(mode)} ${shape}: ${d}`);
      }
    }
  }
});

test('3D fixed-size export names D, H, W in the input', async () => {
  const m = new SegModel({ dims: 3, filters: [2, 4], inChannels: 1 });
  const s = await ort.InferenceSession.create(toOnnx(m, { dynamicSize: false, size: 8 }));
  const x = new Float32Array(2 * 8 * 8 * 8);
  const r = await s.run({ input: new ort.Tensor('float32', x, [2, 1, 8, 8, 8]) });
  assert.deepEqual(r.output.dims, [2, 1, 8, 8, 8]);
});
