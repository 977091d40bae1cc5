// Parity with the PyTorch peer: logits, loss, d loss/d x and every parameter gradient in eval
// and train mode (batch statistics), within max|diff| <= 1e-4 max(1, max|ref|), on the
// reference backend and the native one; and our PyTorch export loads in the peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import type { Backend } from '../../src/engine/backend.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { peerParity, formatParity, type ParityReport, type Diff } from '../../src/io/peer-parity.js';
import { exportPyTorch } from '../../src/io/pytorch.js';
import { writeSafetensors, type TensorIn } from '../../src/io/safetensors.js';
import { nativeBackend } from './native-backend.js';
import { peerUnavailable, runPeer } from './peer-python.js';

const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;
const fixtures = ['peer-ds', 'peer-nods', 'peer-unet'];

function assertParity(r: ParityReport, label: string) {
  const msg = `${label} ${formatParity(r)}`;
  for (const [what, d] of [['logits', r.logits], ['loss', r.loss], ['dx', r.dx], ['grads', r.grads]] as [string, Diff][]) {
    assert.ok(d.rel <= 1e-4, `${what} beyond tolerance: ${msg}`);
    // Also relative to the values' own scale: d loss/d x is ~1e-5, where the absolute test says little.
    assert.ok(d.maxAbs <= 1e-3 * d.maxRef, `${what} wrong at its own scale: ${msg}`);
  }
}

function check(backend: Backend, label: string, dirs = fixtures.map((f) => join(FIX, f))) {
  for (const dir of dirs)
    for (const mode of ['eval', 'train'] as const) {
      const r = peerParity(dir, backend, mode);
      assertParity(r, `${label} ${dir.split('/').pop()}`);
    }
}

test('peer fixtures: reference float64 and float32', () => {
  check(new ReferenceBackend({ dtype: 'float64' }), 'reference f64');
  check(new ReferenceBackend({ dtype: 'float32' }), 'reference f32');
});

test('peer fixtures: native backend', async (t) => {
  const { backend, skip } = await nativeBackend();
  if (!backend) return t.skip(skip);
  check(backend, 'native');
});

const noPeer = peerUnavailable();

test('live peer export, filters 4,8,16,32, 16x16, batch 2, deep supervision', { skip: noPeer ?? false }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'peer-'));
  const r = runPeer(['export', '--filters', '4,8,16,32', '--size', '16', '--batch', '2', '--ds', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  check(new ReferenceBackend({ dtype: 'float64' }), 'live reference f64', [out]);
  const { backend } = await nativeBackend();
  if (backend) check(backend, 'live native', [out]);
});

/** Our model's eval logits on x, written as the peer's io file, plus our weights as a state_dict. */
function exportForPeer(dir: string, model: SegModel, seed: number) {
  // Non-trivial running statistics so that the peer's eval mode tests them.
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const n of model.params.names()) {
    const p = model.params.get(n);
    if (n.endsWith('running_mean')) p.data.forEach((_, i) => (p.data[i] = 0.4 * u() - 0.2));
    if (n.endsWith('running_var')) p.data.forEach((_, i) => (p.data[i] = 0.5 + u()));
  }
  const shape = [2, model.config.inChannels, 16, 16];
  const x = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => 2 * u() - 1);
  const g = new Graph();
  const heads = model.forward(g, g.input('x', shape), { training: false });
  const outs = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), model.params, heads).runToHost({ x });
  const io: Record<string, TensorIn> = { x: { dtype: 'F32', shape, data: x } };
  heads.forEach((h, j) => {
    io[heads.length > 1 ? `y${j + 1}_eval` : 'y_eval'] = { dtype: 'F32', shape: [...h.shape], data: Float32Array.from(outs[j]) };
  });
  writeSafetensors(join(dir, 'io.safetensors'), io);
  exportPyTorch(join(dir, 'weights.safetensors'), model);
}

test('our PyTorch export loads in the peer and reproduces our logits', { skip: noPeer ?? false }, () => {
  const cases = [
    { arch: 'unetpp' as const, deepSupervision: true, filters: [2, 4, 8, 16] },
    { arch: 'unetpp' as const, deepSupervision: false, filters: [3, 5, 7] },
    { arch: 'unet' as const, filters: [2, 4, 8, 16], inChannels: 1 },
  ];
  cases.forEach((cfg, k) => {
    const dir = mkdtempSync(join(tmpdir(), 'ours-'));
    exportForPeer(dir, new SegModel({ ...cfg, seed: 11 + k }), 5 + k);
    const r = runPeer(['check', '--weights', join(dir, 'weights.safetensors'), '--io', join(dir, 'io.safetensors')]);
    assert.equal(r.status, 0, `${JSON.stringify(cfg)}: ${r.stdout}${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).ok, true, r.stdout);
  });
});
