// ONNX export run in onnxruntime-node: accurate / fast / pruned modes match the peer's eval
// logits turned into probabilities and our own engine, <= 1e-4; dynamic batch and size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { toOnnx, type OnnxMode } from '../../src/io/onnx.js';
import { importPyTorch } from '../../src/io/pytorch.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { SegModel } from '../../src/models/model.js';
import { FIX, sigmoid, runOnnx, ours, maxDiff } from '../helpers/onnx.js';

test('onnxruntime-node loads', async () => {
  assert.ok(ort.InferenceSession);
});

for (const fold of [false, true]) {
  test(`peer fixture: accurate, fast, pruned vs peer and engine (foldBatchNorm ${fold})`, async () => {
    const model = importPyTorch(`${FIX}peer-ds/weights.safetensors`);
    const io = readSafetensors(`${FIX}peer-ds/io.safetensors`).tensors;
    const x = io.x.data as Float32Array;
    const ys = [1, 2, 3].map((j) => io[`y${j}_eval`].data as Float32Array);
    const peerProb = (heads: number[]) => Float64Array.from(ys[0], (_, i) => heads.reduce((s, h) => s + sigmoid(ys[h - 1][i]), 0) / heads.length);
    const cases: [OnnxMode, number[]][] = [
      [{ kind: 'accurate' }, [1, 2, 3]],
      [{ kind: 'fast' }, [3]],
      [{ kind: 'fast', head: 1 }, [1]],
      [{ kind: 'pruned', level: 2 }, [2]],
      [{ kind: 'pruned', level: 1 }, [1]],
    ];
    for (const [mode, heads] of cases) {
      const out = await runOnnx(toOnnx(model, { mode, foldBatchNorm: fold }), x, io.x.shape);
      assert.deepEqual(out.dims, [2, 1, 16, 16]);
      const dPeer = maxDiff(out.data, peerProb(heads));
      const dOurs = maxDiff(out.data, ours(model, mode, x, io.x.shape));
      assert.ok(dPeer <= 1e-4 && dOurs <= 1e-4, `${JSON.stringify(mode)}: vs peer ${dPeer}, vs engine ${dOurs}`);
    }
  });
}

test('dynamic batch and size; nearest, transposed conv (paper preset) and softmax models', async () => {
  const models = [
    new SegModel({ filters: [2, 4, 8], deepSupervision: true, upsample: 'nearest', seed: 1 }),
    new SegModel({ preset: 'paper', filters: [2, 4, 8], inChannels: 1, seed: 2 }),
    new SegModel({ arch: 'unet', filters: [3, 4, 5], classes: 3, multiclass: 'softmax', seed: 3 }),
    new SegModel({ filters: [2, 4, 8], classes: 2, multiclass: 'sigmoid', upsample: 'bilinear', seed: 4 }),
  ];
  for (const m of models) {
    const bytes = toOnnx(m);
    for (const shape of [[1, m.config.inChannels, 8, 8], [3, m.config.inChannels, 12, 20]]) {
      const x = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37));
      const out = await runOnnx(bytes, x, shape);
      assert.deepEqual(out.dims, [shape[0], m.config.classes, shape[2], shape[3]]);
      const d = maxDiff(out.data, ours(m, { kind: 'accurate' }, x, shape));
      assert.ok(d <= 1e-4, `${m.config.preset} ${m.config.upsample} ${shape}: ${d}`);
    }
  }
});

test('fixed size export and unsupported ops are reported', () => {
  const m = new SegModel({ filters: [2, 4] });
  assert.ok(toOnnx(m, { dynamicSize: false, size: 32 }).length > 0);
  assert.throws(() => toOnnx(m, { mode: { kind: 'pruned', level: 1 } }), /deep supervision/);
});
