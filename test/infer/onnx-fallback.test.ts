// Prediction on onnxruntime-node (the fallback where the native addon does not load, or
// --backend onnx) against the engine's own backend (native where it loads, else reference): the
// same probabilities within float tolerance and the same masks, through createPredictor /
// predictWith and through `unetpp predict`, on a PNG image (sliding windows and TTA) and on a
// NIfTI volume; and the error naming the package and its install command when it is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { SegModel, type ModelConfig } from '../../src/index.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { syntheticNuclei, writeImagePng } from '../../src/data/index.js';
import { syntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { encodeNifti } from '../../src/data/formats/nifti-encode.js';
import { saveModel } from '../../src/io/index.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { createPredictor, predictWith, threshold, type ImagePrediction, type VolumePrediction } from '../../src/infer/index.js';
import { loadOnnxRuntime } from '../../src/infer/onnx-runtime.js';
import { describePredictBackend, predictBackend } from '../../src/infer/predict-backend.js';
import { decisiveModel } from '../helpers/decisive-model.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
// makes `import('onnxruntime-node')` fail as it does where the package is not installed
const HIDE_ORT = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`export async function resolve(s, c, next) {
  if (s === 'onnxruntime-node') throw Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from " + c.parentURL), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(s, c);
}\`));`)}`;

let missing = '';
try { await import('onnxruntime-node'); } catch { missing = 'onnxruntime-node not installed: npm ci'; }
// CI must run it: a missing tool fails there instead of skipping
const skip = missing && !process.env.CI ? missing : false;
/** Probabilities agree to this (float32 kernels summing in different orders). */
const TOL = 1e-4;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const cli = (args: string[], env: NodeJS.ProcessEnv = {}, node: string[] = []) =>
  spawnSync(process.execPath, [...node, CLI, ...args], { encoding: 'utf8', env: { ...process.env, UNETPP_THREADS: '1', ...env }, timeout: 300_000 });

function assertForeground(labels: Uint8Array) {
  const f = labels.reduce((s, l) => s + (l ? 1 : 0), 0) / labels.length;
  assert.ok(f > 0.01 && f < 0.99, `the test model should segment something: foreground ${f}`);
}

test('2D on onnxruntime: the engine\'s probabilities and masks, library and CLI (windows, TTA)', { skip, timeout: 600_000 }, async () => {
  assert.equal(missing, '', missing);
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-onnx-2d-'));
  try {
    const [sample] = syntheticNuclei({ count: 1, width: 100, height: 90, seed: 4 });
    await writeImagePng(join(dir, 'cell.png'), sample.image);
    const input = { kind: 'image-file' as const, path: join(dir, 'cell.png') };
    const metaOf = (c: ModelConfig) => completeMeta(c, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train');
    const model = await decisiveModel({ inChannels: 3, filters: [4, 8, 16] }, metaOf, input);
    const meta = metaOf(model.config);
    saveModel(join(dir, 'model.safetensors'), model, meta);

    const settings = { tile: 48, tta: true, overlap: 0.25 };
    const engine = createPredictor(model, { backend: getBackend('auto', 'fp32', 'infer'), ...settings });
    const onnx = createPredictor(model, { backend: await loadOnnxRuntime('test'), ...settings });
    assert.equal(onnx.runtime, 'onnx');
    assert.throws(() => onnx.predict({ data: new Float32Array(3 * 64 * 64), channels: 3, sizes: [64, 64] }), /predictAsync/);
    const a = await predictWith(engine, meta, input) as ImagePrediction;
    const b = await predictWith(onnx, meta, input) as ImagePrediction;
    assert.equal(b.probs.tiling?.windows, 9);
    assert.ok(maxDiff(a.probs.data, b.probs.data) < TOL, `max |diff| ${maxDiff(a.probs.data, b.probs.data)}`);
    assertForeground(a.labels);
    assert.deepEqual(b.labels, a.labels);
    assert.deepEqual(b.masks, a.masks);

    const args = ['predict', join(dir, 'cell.png'), '-m', join(dir, 'model.safetensors'), '--tile', '48', '--tta', '--probabilities'];
    const ref = cli([...args, '-o', join(dir, 'engine')]);
    assert.equal(ref.status, 0, ref.stderr);
    const forced = cli([...args, '-o', join(dir, 'onnx')], { UNETPP_BACKEND: 'onnx' });
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout.split('\n')[0], /^backend: onnx \(onnxruntime-node \d+\.\d+\.\d+; chosen with --backend onnx\)$/);
    // no native addon: auto falls back to onnxruntime and says why
    const fallback = cli([...args, '-o', join(dir, 'fallback')], { UNETPP_NATIVE_PATH: join(dir, 'no-such-addon.node') });
    assert.equal(fallback.status, 0, fallback.stderr);
    assert.match(fallback.stdout.split('\n')[0], /^backend: onnx \(onnxruntime-node [\d.]+; native addon UNETPP_NATIVE_PATH=\S+no-such-addon\.node failed to load/);
    for (const out of ['onnx', 'fallback']) {
      assert.deepEqual(readFileSync(join(dir, out, 'cell.png')), readFileSync(join(dir, 'engine', 'cell.png')), `${out}: masks differ`);
      // 16-bit probabilities: within a unit or two of 1/65535
      const [p, q] = await Promise.all([out, 'engine'].map((d) => sharp(join(dir, d, 'cell_prob.png')).raw({ depth: 'ushort' }).toBuffer()));
      assert.ok(maxDiff(new Uint16Array(p.buffer, p.byteOffset, p.length / 2), new Uint16Array(q.buffer, q.byteOffset, q.length / 2)) <= 2);
    }
    const info = cli(['info', join(dir, 'model.safetensors')], { UNETPP_NATIVE_PATH: join(dir, 'no-such-addon.node') });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^training: reference \(native addon .*\)$/m);
    assert.match(info.stdout, /^prediction: onnx \(onnxruntime-node [\d.]+; the native addon does not load\)$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('3D on onnxruntime: the engine\'s probabilities and labels, library and CLI (NIfTI, windows)', { skip, timeout: 600_000 }, async () => {
  assert.equal(missing, '', missing);
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-onnx-3d-'));
  try {
    const [v] = syntheticVolumes({ count: 1, dims: [40, 36, 20], seed: 2 });
    writeFileSync(join(dir, 'case.nii.gz'), gzipSync(encodeNifti({ dims: v.dims, spacing: v.spacing, affine: v.affine, data: v.image }, 'float32')));
    const file = { kind: 'volume-files' as const, paths: [join(dir, 'case.nii.gz')] };
    const metaOf = (c: ModelConfig) => completeMeta(c, { window: [16, 32, 32] }, 'train');
    const model = await decisiveModel({ dims: 3, inChannels: 1, filters: [4, 8, 16], norm: 'instance' }, metaOf, file);
    const meta = metaOf(model.config);
    saveModel(join(dir, 'model.safetensors'), model, meta);
    const [X, Y, Z] = v.dims;
    const img = { data: v.image, channels: 1, sizes: [Z, Y, X] };
    const engine = createPredictor(model, { backend: getBackend('auto', 'fp32', 'infer', 3), tile: [16, 32, 32] });
    const onnx = createPredictor(model, { backend: await predictBackend('onnx', 'fp32', 3), tile: [16, 32, 32] });
    const a = await engine.predictAsync(img), b = await onnx.predictAsync(img);
    assert.ok((b.tiling?.windows ?? 0) > 1, 'runs in windows');
    assert.ok(maxDiff(a.data, b.data) < TOL, `max |diff| ${maxDiff(a.data, b.data)}`);
    assertForeground(threshold(a));
    assert.deepEqual(threshold(b), threshold(a));

    const args = ['predict', join(dir, 'case.nii.gz'), '-m', join(dir, 'model.safetensors')];
    const ref = cli([...args, '-o', join(dir, 'engine')]);
    assert.equal(ref.status, 0, ref.stderr);
    const forced = cli([...args, '-o', join(dir, 'onnx'), '--backend', 'onnx']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout.split('\n')[0], /^backend: onnx \(onnxruntime-node [\d.]+; chosen with --backend onnx\)$/);
    assert.deepEqual(readFileSync(join(dir, 'onnx', 'case.nii.gz')), readFileSync(join(dir, 'engine', 'case.nii.gz')), 'labels differ');
    const lib = await predictWith(onnx, meta, file) as VolumePrediction;
    assertForeground(lib.labels);
    assert.deepEqual(lib.labels, (await predictWith(engine, meta, file) as VolumePrediction).labels);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('onnxruntime-node missing: --backend onnx names the package and the install command; auto says how to get faster', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-onnx-missing-'));
  try {
    const model = new SegModel({ inChannels: 3, filters: [4, 8] });
    saveModel(join(dir, 'model.safetensors'), model, completeMeta(model.config, {}, 'train'));
    const [sample] = syntheticNuclei({ count: 1, width: 32, height: 32 });
    await writeImagePng(join(dir, 'cell.png'), sample.image);
    const args = ['predict', join(dir, 'cell.png'), '-m', join(dir, 'model.safetensors'), '-o', join(dir, 'out')];
    const forced = cli([...args, '--backend', 'onnx'], {}, ['--import', HIDE_ORT]);
    assert.notEqual(forced.status, 0);
    assert.match(forced.stderr, /--backend onnx, or where the native backend does not load\) needs the npm package onnxruntime-node, which is not installed; fix: npm install 'onnxruntime-node@\^1\.\d+\.\d+'/);
    const auto = cli(args, { UNETPP_NATIVE_PATH: join(dir, 'no-such-addon.node') }, ['--import', HIDE_ORT]);
    assert.equal(auto.status, 0, auto.stderr);
    assert.match(auto.stdout.split('\n')[0], /^backend: reference \(native addon .*; npm install onnxruntime-node for faster prediction$/);
    assert.equal(await describePredictBackend(await loadOnnxRuntime('why')), `onnx (onnxruntime-node ${(await import('onnxruntime-node')).env.versions.node}; why)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
