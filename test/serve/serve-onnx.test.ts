// `unetpp serve --backend onnx`: a real service on onnxruntime-node answers /v1/predict with the mask bytes
// `unetpp predict` writes on the engine's backend (native where it loads), for a model whose outputs are far
// from the threshold, and /v1/models says it runs on onnx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/index.js';
import { syntheticNuclei, writeImagePng } from '../../src/data/index.js';
import { saveModel } from '../../src/io/index.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { decisiveModel } from '../helpers/decisive-model.js';
import { BACKEND, cli, startCli, stop, type Proc } from '../helpers/services.js';

let missing = '';
try { await import('onnxruntime-node'); } catch { missing = 'onnxruntime-node not installed: npm ci'; }
// CI must run it: a missing tool fails there instead of skipping
const skip = missing && !process.env.CI ? missing : false;

test('serve --backend onnx: the masks of unetpp predict on the engine, byte for byte', { skip, timeout: 300_000 }, async () => {
  assert.equal(missing, '', missing);
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-serve-onnx-'));
  let server: Proc | undefined;
  try {
    const [sample] = syntheticNuclei({ count: 1, width: 64, height: 56, seed: 4 });
    const png = join(dir, 'cell.png');
    await writeImagePng(png, sample.image);
    const metaOf = (c: ModelConfig) => completeMeta(c, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train');
    const model = await decisiveModel({ inChannels: 3, filters: [4, 8, 16] }, metaOf, { kind: 'image-file', path: png });
    const ckpt = join(dir, 'model.safetensors');
    saveModel(ckpt, model, metaOf(model.config));

    const ref = cli(['predict', png, '-m', ckpt, '-o', join(dir, 'engine'), '--backend', BACKEND]);
    assert.equal(ref.status, 0, ref.stderr);
    const want = readFileSync(join(dir, 'engine', 'cell.png'));

    const s = await startCli(['serve', '-m', ckpt, '--port', '0', '--backend', 'onnx'], /listening on (http:\/\/\S+)/);
    server = s;
    const base = s.match[1];
    assert.match(s.out(), /; onnx, fp32;/);
    const models = await (await fetch(`${base}/v1/models`)).json() as { models: { backend: string }[] };
    assert.deepEqual(models.models.map((m) => m.backend), ['onnx']);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/v1/predict`, { method: 'POST', body: readFileSync(png), headers: { 'content-type': 'image/png' } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), want, 'mask differs from unetpp predict');
    }
  } finally {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
});
