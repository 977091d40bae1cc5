// Web bundles for volumes, Node side: the manifest of a 3D model (dims, window, modalities,
// per-modality normalisation, classes, post-processing rules) and of a 2D model meant for
// volumes; the CLI flags and the checkpoint meta's volume input and post-processing rules; the
// N-D tiled runner (what the page's worker runs) equal to createPredictor on a volume, with
// progress and abort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { createPredictor } from '../../src/infer/predict.js';
import { predictTiled } from '../../src/infer/tiled.js';
import { saveModel, updateMeta } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { buildWebBundle, type WebManifest } from '../../src/io/web-bundle.js';

const backend = new ReferenceBackend({ dtype: 'float32' });
const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const model3d = new SegModel({ arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [2, 4, 4], inChannels: 2, classes: 2, deepSupervision: true, seed: 3 });

function volume(c: number, d: number, h: number, w: number) {
  return { data: Float32Array.from({ length: c * d * h * w }, (_, i) => Math.sin(i * 0.613) + 0.3 * Math.cos(i * 0.05)), channels: c, sizes: [d, h, w] };
}

test('3D bundle: manifest says dims, window, modalities, normalisation, classes; ONNX takes NCDHW', async () => {
  const { manifest: m, files } = buildWebBundle(model3d, { tile: [8, 12, 16], overlap: 0.5, classNames: ['bg', 'tumour'], volume: { modalities: ['t1', 'flair'], normalize: ['zscore', 'mri'] } });
  assert.equal(m.model.dims, 3);
  assert.equal(m.input.layout, 'NCDHW');
  assert.deepEqual(m.input.tile, [8, 12, 16]);
  assert.equal(m.input.overlap, 0.5);
  assert.deepEqual(m.volume, { dims: 3, modalities: ['t1', 'flair'], normalize: ['zscore', 'mri'], ct: [null, null], spacing: null,
    cropToNonzero: false, labels: { kind: 'classes', values: [1], background: true } }); // default: softmax background + 1
  assert.deepEqual(m.output.classNames, ['bg', 'tumour']);
  const rules = [{ values: [1], keep: 'min-size' as const, minVoxels: 20 }];
  assert.deepEqual(buildWebBundle(model3d, { volume: { postprocess: rules } }).manifest.volume?.postprocess, rules);
  assert.equal(buildWebBundle(model3d, { volume: { postprocess: [] } }).manifest.volume?.postprocess, undefined);
  assert.deepEqual(m.models.map((e) => e.id), ['accurate', 'L1', 'L2']);
  const v = volume(2, 8, 8, 8);
  const s = await ort.InferenceSession.create(files.get('accurate.onnx')!);
  const out = (await s.run({ input: new ort.Tensor('float32', v.data, [1, 2, 8, 8, 8]) })).output.data as Float32Array;
  const node = createPredictor(model3d, { backend, mode: 'accurate' }).predict(v).data;
  assert.ok(out.every((x, i) => Math.abs(x - node[i]) < 1e-4));
  // defaults: one window size for every axis, modality names and z-score
  const d = buildWebBundle(model3d).manifest;
  assert.deepEqual(d.input.tile, [64, 64, 64]);
  assert.deepEqual(d.volume?.modalities, ['image1', 'image2']);
  assert.deepEqual(d.volume?.normalize, ['zscore', 'zscore']);
  assert.throws(() => buildWebBundle(model3d, { volume: { modalities: ['t1'] } }), /1 names \(t1\) for a model with 2 input channel/);
  assert.throws(() => buildWebBundle(model3d, { volume: { normalize: 'ct' } }), /needs the dataset's CT statistics/);
  assert.throws(() => buildWebBundle(model3d, { tile: [8, 8] }), /2 sizes for a 3D model/);
  assert.throws(() => buildWebBundle(model3d, { volume: { labels: { kind: 'classes', values: [1, 2], background: true } } }), /volume.labels: 3 planes for a model of 2 output classes/);
  assert.throws(() => buildWebBundle(model3d, { volume: { labels: { kind: 'classes', values: [1, 2] } } }), /volume.labels: a softmax model needs classes with a background plane/);
  // a 2D model: a volume section only when asked (slice by slice)
  const m2 = new SegModel({ filters: [2, 4], inChannels: 1 });
  assert.equal(buildWebBundle(m2).manifest.volume, undefined);
  assert.equal(buildWebBundle(m2, { volume: {} }).manifest.volume?.dims, 2);
});

test('predictTiled (the page\'s worker) equals createPredictor on a volume; progress and abort', async () => {
  const v = volume(2, 11, 14, 9);
  const net = async (x: Float32Array, n: number, size: number[]) => {
    const g = new Graph();
    const p = model3d.probabilities(g, model3d.forward(g, g.input('x', [n, 2, ...size]), { training: false }), { kind: 'accurate' });
    return new Plan(g, backend, model3d.params, [p]).runToHost({ x })[0];
  };
  const node = createPredictor(model3d, { backend, mode: 'accurate', tile: 8, overlap: 0.25, batch: 1 }).predict(v);
  const seen: number[] = [];
  const web = await predictTiled({ data: v.data, channels: 2, sizes: [11, 14, 9] }, { classes: 2, multiple: 4, tile: [8, 8, 8], overlap: 0.25, onProgress: (done) => seen.push(done) }, net);
  assert.deepEqual(web.sizes, [11, 14, 9]);
  assert.ok(web.data.every((x, i) => Math.abs(x - node.data[i]) <= 1e-6));
  assert.equal(seen.length, web.windows);
  assert.equal(seen.at(-1), web.windows);
  const stop = new AbortController();
  await assert.rejects(predictTiled({ data: v.data, channels: 2, sizes: [11, 14, 9] }, { classes: 2, multiple: 4, tile: [8, 8, 8], signal: stop.signal, onProgress: () => stop.abort(new Error('stopped')) }, net), /stopped/);
  // the 8 flips, as the bundle of a checkpoint that records tta asks
  const flipped = createPredictor(model3d, { backend, mode: 'accurate', tile: 8, overlap: 0.25, batch: 1, tta: true }).predict(v);
  const webFlipped = await predictTiled({ data: v.data, channels: 2, sizes: [11, 14, 9] }, { classes: 2, multiple: 4, tile: [8, 8, 8], overlap: 0.25, tta: true }, net);
  assert.ok(webFlipped.data.every((x, i) => Math.abs(x - flipped.data[i]) <= 1e-6));
  assert.ok(webFlipped.data.some((x, i) => Math.abs(x - web.data[i]) > 1e-4), 'the flips change the answer');
});

test('unetpp export --web: 3D model with --modalities/--volume-normalize; a checkpoint\'s volumePipeline; --volumes for 2D', () => {
  const root = mkdtempSync(join(tmpdir(), 'unetpp-webvol-cli-'));
  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'export', ...args], { encoding: 'utf8' });
  const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as WebManifest;
  try {
    const ckpt = join(root, 'm3.safetensors');
    saveModel(ckpt, model3d, completeMeta(model3d.config, { classNames: ['bg', 'tumour'] }, 'train'));
    let r = run('-m', ckpt, '--web', join(root, 'a'), '--tile', '8x16x16', '--modalities', 't2,flair', '--volume-normalize', 'mri');
    assert.equal(r.status, 0, r.stderr);
    let m = read(join(root, 'a'));
    assert.deepEqual([m.input.tile, m.volume?.modalities, m.volume?.normalize, m.output.classNames], [[8, 16, 16], ['t2', 'flair'], ['mri', 'mri'], ['bg', 'tumour']]);
    r = run('-m', ckpt, '--web', join(root, 'b'), '--volume-normalize', 'mri,bogus');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /'bogus' is not one of mri, ct, zscore, none/);
    const piped = join(root, 'p3.safetensors');
    const ct = { lo: -100, hi: 300, mean: 40, std: 80 };
    saveModel(piped, model3d, completeMeta(model3d.config, {
      input: { kind: 'volume', modalities: ['ct', 'pet'], normalize: ['ct', 'zscore'], ct: [ct, null], spacing: [1, 1, 2.5], cropToNonzero: true },
      labels: { kind: 'classes', values: [6], background: true }, classNames: ['background', 'label 6'], window: [8, 16, 12] }, 'train'));
    assert.equal(run('-m', piped, '--web', join(root, 'c')).status, 0);
    m = read(join(root, 'c'));
    assert.deepEqual(m.input.tile, [8, 16, 12]); // the training patch
    assert.deepEqual(m.volume, { dims: 3, modalities: ['ct', 'pet'], normalize: ['ct', 'zscore'], ct: [ct, null], spacing: [1, 1, 2.5],
      cropToNonzero: true, labels: { kind: 'classes', values: [6], background: true } }); // the page writes 6, as predict does
    // the checkpoint's post-processing rides along for the page's worker
    const rules = [{ values: [6], keep: 'largest' as const, diceBefore: 0.8, diceAfter: 0.85 }];
    updateMeta(piped, (meta) => ({ ...meta, postprocess: rules }));
    assert.equal(run('-m', piped, '--web', join(root, 'e')).status, 0);
    assert.deepEqual(read(join(root, 'e')).volume?.postprocess, rules);
    assert.equal(read(join(root, 'e')).input.tta, undefined);
    updateMeta(piped, (meta) => ({ ...meta, tta: true })); // a plan's volume model: the page averages the flips too
    assert.equal(run('-m', piped, '--web', join(root, 'f')).status, 0);
    assert.equal(read(join(root, 'f')).input.tta, true);
    const flat = join(root, 'm2.safetensors');
    const flatModel = new SegModel({ filters: [2, 4], inChannels: 1 });
    saveModel(flat, flatModel, completeMeta(flatModel.config, {}, 'train'));
    assert.equal(run('-m', flat, '--web', join(root, 'd'), '--volumes').status, 0);
    assert.deepEqual(read(join(root, 'd')).volume, { dims: 2, modalities: ['image'], normalize: ['zscore'], ct: [null], spacing: null, cropToNonzero: false, labels: { kind: 'binary' } });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
