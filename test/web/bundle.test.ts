// The browser page's Node-testable half: the web bundle (manifest, one ONNX per level, atomic
// writes, the CLI flag), and the shared code the page runs (tiling around an async runner,
// RGBA decoding, labels) equal to Node's prediction path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { rgbaToPlanes } from '../../src/infer/pixels.js';
import { convertChannels } from '../../src/data/images/read-image.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { buildWebBundle, writeWebBundle, type WebManifest } from '../../src/io/web-bundle.js';

const backend = new ReferenceBackend({ dtype: 'float32' });
const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const model = new SegModel({ filters: [3, 4, 6, 8], inChannels: 1, classes: 1, deepSupervision: true, seed: 5 });

function image(c: number, h: number, w: number, seed = 1) {
  return { data: Float32Array.from({ length: c * h * w }, (_, i) => 0.5 + 0.5 * Math.sin(i * 0.731 + seed)), channels: c, sizes: [h, w] };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** A WindowRunner over our engine (what the page does with onnxruntime-web). */
function engineRunner(m: SegModel, mode: { kind: 'accurate' } | { kind: 'fast' }) {
  return async (x: Float32Array, n: number, [h, w]: number[]) => {
    const g = new Graph();
    const p = m.probabilities(g, m.forward(g, g.input('x', [n, m.config.inChannels, h, w]), { training: false }), mode);
    return new Plan(g, backend, m.params, [p]).runToHost({ x })[0];
  };
}

test('predictTiled (the page) equals createPredictor (Node): padding, windows, blending', async () => {
  const img = image(1, 37, 53);
  for (const [level, tile, overlap, batch] of [[undefined, 16, 0.25, 1], [2, 8, 0.5, 3], [1, undefined, 0.25, 1]] as const) {
    const node = createPredictor(model, { backend, mode: level ? 'fast' : 'accurate', level, tile, overlap, batch: 4 }).predict(img);
    const m = level ? model.prune(level) : model;
    const web = await predictTiled(img, { classes: 1, multiple: 2 ** (level ?? 3), tile: tile ? [tile, tile] : undefined, overlap, batch },
      engineRunner(m, level ? { kind: 'fast' } : { kind: 'accurate' }));
    assert.deepEqual(web.sizes, [37, 53]);
    assert.ok(maxDiff(web.data, node.data) <= 1e-6, `level ${level} tile ${tile}: ${maxDiff(web.data, node.data)}`);
  }
});

test('rgbaToPlanes equals readImage values (grey stays grey, RGB luma or RGB) ', () => {
  const [w, h] = [5, 3];
  const grey = Uint8Array.from({ length: 4 * w * h }, (_, i) => (i % 4 === 3 ? 255 : (Math.floor(i / 4) * 37) % 256));
  const rgb = Uint8Array.from({ length: 4 * w * h }, (_, i) => (i % 4 === 3 ? 255 : (i * 53) % 256));
  const planes = (px: Uint8Array, c: number) => { // as readImage: file channels / 255, then convertChannels
    const d = new Float32Array(c * w * h);
    for (let k = 0; k < c; k++) for (let i = 0; i < w * h; i++) d[k * w * h + i] = px[4 * i + k] * (1 / 255);
    return { width: w, height: h, channels: c, data: d };
  };
  assert.deepEqual(rgbaToPlanes(grey, w, h, 1), planes(grey, 1).data);
  assert.deepEqual(rgbaToPlanes(grey, w, h, 3), convertChannels(planes(grey, 1), 3).data);
  assert.deepEqual(rgbaToPlanes(rgb, w, h, 3), planes(rgb, 3).data);
  assert.deepEqual(rgbaToPlanes(rgb, w, h, 1), convertChannels(planes(rgb, 3), 1).data);
  assert.throws(() => rgbaToPlanes(rgb, w, h, 2), /2 channels/);
});

test('bundle: accurate + one model per level, manifest facts, ONNX equal to Node prediction', async () => {
  const { manifest, files } = buildWebBundle(model, { tile: 24, normalize: { kind: 'zscore' }, classNames: ['nuclei'] });
  assert.deepEqual(manifest.models.map((m) => [m.id, m.mode, m.level, m.multiple, m.file]), [
    ['accurate', 'accurate', 3, 8, 'accurate.onnx'], ['L1', 'fast', 1, 2, 'l1.onnx'], ['L2', 'fast', 2, 4, 'l2.onnx'], ['L3', 'fast', 3, 8, 'l3.onnx'],
  ]);
  assert.deepEqual(manifest.input.tile, [24, 24]);
  assert.equal(manifest.input.multiple, 8);
  assert.deepEqual(manifest.input.normalize, { kind: 'zscore' });
  assert.equal(manifest.output.kind, 'probabilities');
  assert.deepEqual(manifest.output.classNames, ['nuclei']);
  assert.equal(manifest.models[0].params, model.params.count());
  assert.equal(manifest.models[1].params, model.prune(1).params.count());
  assert.ok(manifest.models[1].gflops < manifest.models[2].gflops && manifest.models[3].gflops <= manifest.models[0].gflops);
  const img = image(1, 24, 24, 3);
  for (const e of manifest.models) {
    const s = await ort.InferenceSession.create(files.get(e.file)!);
    const out = (await s.run({ input: new ort.Tensor('float32', img.data, [1, 1, 24, 24]) })).output.data as Float32Array;
    const node = createPredictor(model, { backend, mode: e.mode, level: e.mode === 'fast' ? e.level : undefined }).predict(img);
    assert.ok(maxDiff(out, node.data) <= 1e-4, `${e.id}: ${maxDiff(out, node.data)}`);
  }
  assert.throws(() => buildWebBundle(model, { tile: 20 }), /tile: 20 is not a positive multiple of 2\^3 = 8/);
  assert.throws(() => buildWebBundle(model.prune(2)), /pruned already/);
  // no deep supervision: accurate only
  const plain = buildWebBundle(new SegModel({ filters: [2, 4], inChannels: 1 }));
  assert.deepEqual(plain.manifest.models.map((m) => m.id), ['accurate']);
});

test('writeWebBundle replaces a bundle whole, refuses a folder that is not one, leaves no staging folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'unetpp-webbundle-'));
  try {
    const dir = join(root, 'bundle');
    writeWebBundle(dir, model, { tile: 16 });
    writeFileSync(join(dir, 'stale.onnx'), 'x');
    const m = writeWebBundle(dir, model, { tile: 32 });
    assert.deepEqual((JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as WebManifest).input.tile, [32, 32]);
    assert.deepEqual(readdirSync(dir).sort(), ['accurate.onnx', 'l1.onnx', 'l2.onnx', 'l3.onnx', 'manifest.json']);
    assert.equal(m.models.length, 4);
    assert.deepEqual(readdirSync(root), ['bundle']);
    const other = join(root, 'photos');
    mkdirSync(other);
    writeFileSync(join(other, 'cat.jpg'), 'x');
    assert.throws(() => writeWebBundle(other, model), /not a web bundle/);
    assert.ok(existsSync(join(other, 'cat.jpg')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('unetpp export --web: the checkpoint\'s normalisation and class names reach the manifest', () => {
  const root = mkdtempSync(join(tmpdir(), 'unetpp-webcli-'));
  try {
    const ckpt = join(root, 'best.safetensors');
    saveModel(ckpt, model, completeMeta(model.config, { input: { kind: 'image', normalize: { kind: 'minmax' } }, classNames: ['nuclei'] }, 'train'));
    const r = spawnSync(process.execPath, [MAIN, 'export', '-m', ckpt, '--web', join(root, 'web'), '--tile', '40', '--threshold', '0.4'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /manifest\.json, accurate\.onnx, l1\.onnx, l2\.onnx, l3\.onnx/);
    const m = JSON.parse(readFileSync(join(root, 'web', 'manifest.json'), 'utf8')) as WebManifest;
    assert.deepEqual(m.input.normalize, { kind: 'minmax' });
    assert.deepEqual(m.output.classNames, ['nuclei']);
    assert.equal(m.output.threshold, 0.4);
    const bad = spawnSync(process.execPath, [MAIN, 'export', '-m', ckpt, '--web', join(root, 'w2'), '--tile', '20'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /tile: 20 is not a positive multiple/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the page (web/) type-checks against the shared src/ code', () => {
  const tsc = join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(process.cwd(), 'web')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('serve-web: page and bundle with COOP/COEP, 404 outside them', async () => {
  const root = mkdtempSync(join(tmpdir(), 'unetpp-serve-'));
  const { serveWeb } = await import(join(process.cwd(), 'scripts', 'serve-web.mjs'));
  let s: { url: string; close(): Promise<void> } | null = null;
  try {
    mkdirSync(join(root, 'site', 'ort'), { recursive: true });
    writeFileSync(join(root, 'site', 'index.html'), '<p>page</p>');
    writeFileSync(join(root, 'site', 'ort', 'x.wasm'), 'w');
    writeWebBundle(join(root, 'bundle'), model, { tile: 16 });
    s = await serveWeb({ dist: join(root, 'site'), bundle: join(root, 'bundle'), port: 0 });
    const page = await fetch(s!.url);
    assert.equal(await page.text(), '<p>page</p>');
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal((await fetch(`${s!.url}ort/x.wasm`)).headers.get('content-type'), 'application/wasm');
    assert.equal(((await (await fetch(`${s!.url}bundle/manifest.json`)).json()) as WebManifest).format, 'unetpp-web-bundle');
    for (const bad of ['bundle/..%2f..%2fsite%2findex.html', '..%2fbundle%2fmanifest.json', 'nope.js']) assert.equal((await fetch(`${s!.url}${bad}`)).status, 404, bad);
    assert.throws(() => serveWeb({ dist: join(root, 'nowhere') }), /index\.html not found/);
  } finally {
    await s?.close();
    rmSync(root, { recursive: true, force: true });
  }
});
