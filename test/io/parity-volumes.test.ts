// 3D parity with the PyTorch peer (torch_unetpp.py export --dims 3): logits per head, loss,
// d loss/d x and every parameter gradient in eval and train mode, instance and batch norm, with
// and without deep supervision, U-Net too, within max|diff| <= 1e-4 max(1, max|ref|) on the
// reference backend (2D instance norm too); and our 3D PyTorch export loads in the peer and
// reproduces our logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import type { Backend } from '../../src/engine/backend.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { peerParity, formatParity, type ParityReport, type Diff } from '../../src/io/peer-parity.js';
import { exportPyTorch, importPyTorch, inferPyTorchConfig } from '../../src/io/pytorch.js';
import { readSafetensors, writeSafetensors, type SafetensorsFile, type TensorIn } from '../../src/io/safetensors.js';
import { peerUnavailable, runPeer } from './peer-python.js';
import { nativeBackend } from './native-backend.js';

const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;
const fixtures = ['peer3d-instance-ds', 'peer3d-batch', 'peer3d-unet'];

/** rel <= 1e-4 (the tolerance), and maxAbs <= ownScale * max|ref| (d loss/d x is ~1e-4,
 *  where the first test says little). */
function assertParity(r: ParityReport, label: string, ownScale = 1e-3) {
  const msg = `${label} ${formatParity(r)}`;
  if (process.env.PARITY_LOG) console.log(msg);
  for (const [what, d] of [['logits', r.logits], ['loss', r.loss], ['dx', r.dx], ['grads', r.grads]] as [string, Diff][]) {
    assert.ok(d.rel <= 1e-4, `${what} beyond tolerance: ${msg}`);
    assert.ok(d.maxAbs <= ownScale * d.maxRef, `${what} wrong at its own scale: ${msg}`);
  }
}

function check(backend: Backend, label: string, dirs = fixtures.map((f) => join(FIX, f)), ownScale = 1e-3) {
  for (const dir of dirs)
    for (const mode of ['eval', 'train'] as const) assertParity(peerParity(dir, backend, mode), `${label} ${dir.split('/').pop()}`, ownScale);
}

test('3D peer fixtures import with their dims and norm', () => {
  const cfg = (f: string) => importPyTorch(join(FIX, f, 'weights.safetensors')).config;
  assert.deepEqual([cfg('peer3d-instance-ds').dims, cfg('peer3d-instance-ds').norm, cfg('peer3d-instance-ds').deepSupervision], [3, 'instance', true]);
  assert.deepEqual([cfg('peer3d-batch').dims, cfg('peer3d-batch').norm], [3, 'batch']);
  assert.deepEqual([cfg('peer3d-unet').arch, cfg('peer3d-unet').norm, cfg('peer3d-unet').inChannels], ['unet', 'instance', 2]);
  // Without metadata, dims and norm come from the tensors: rank-5 weights, norm weights without running statistics.
  for (const [f, norm] of [['peer3d-instance-ds', 'instance'], ['peer3d-batch', 'batch']]) {
    const { tensors } = readSafetensors(join(FIX, f, 'weights.safetensors'));
    const c = inferPyTorchConfig({ tensors, metadata: {} } as SafetensorsFile);
    assert.deepEqual([c.dims, c.norm], [3, norm], f);
  }
});

test('3D peer fixtures: reference float64 and float32', () => {
  check(new ReferenceBackend({ dtype: 'float64' }), 'reference f64');
  check(new ReferenceBackend({ dtype: 'float32' }), 'reference f32');
});

test('3D peer fixtures: native backend', async (t) => {
  const { backend, skip } = await nativeBackend();
  if (!backend) return t.skip(skip);
  // Builds without the volume kernels (instance norm comes with them) skip rather than fail.
  if (!backend.kernel('instancenorm')) return t.skip('this native build has no volume kernels yet');
  check(backend, 'native');
});

const noPeer = peerUnavailable();
const skip = noPeer ? `${noPeer} (apt-get install -y python3-torch)` : false;

// Batch norm in training mode: the peer's float32 d loss/d x differs from the same peer run in
// float64 by 1.8e-3 of its scale (max 1.02e-6 of 5.6e-4, seed 0, measured), and ours (float64)
// from the float64 peer by 3e-18: the float32 peer's own rounding, not ours, sets that bound.
for (const [args, ownScale] of [[['--norm', 'instance', '--ds'], 1e-3], [['--norm', 'batch'], 5e-3], [['--norm', 'instance', '--arch', 'unet'], 1e-3]] as const) {
  test(`live 3D peer export ${args.join(' ')}, filters 4,8,16,32, 16^3, batch 2: reference float64`, { skip }, () => {
    const out = mkdtempSync(join(tmpdir(), 'peer3d-'));
    try {
      const r = runPeer(['export', '--dims', '3', ...args, '--filters', '4,8,16,32', '--size', '16', '--batch', '2', '--channels', '1', '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      check(new ReferenceBackend({ dtype: 'float64' }), 'live reference f64', [out], ownScale);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('live peer export of a 2D instance-norm UNet++ (--dims 2 --norm instance --ds), filters 4,8,16,32, 16x16: reference float64', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'peer2di-'));
  try {
    const r = runPeer(['export', '--dims', '2', '--norm', 'instance', '--ds', '--filters', '4,8,16,32', '--size', '16', '--batch', '2', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([importPyTorch(join(out, 'weights.safetensors')).config.dims, importPyTorch(join(out, 'weights.safetensors')).config.norm], [2, 'instance']);
    check(new ReferenceBackend({ dtype: 'float64' }), 'live reference f64 2D instance', [out]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

/** Our model's eval logits on a volume x, written as the peer's io file, plus our weights as a state_dict. */
function exportForPeer(dir: string, model: SegModel, seed: number, side: number) {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const n of model.params.names()) {
    const p = model.params.get(n);
    if (n.endsWith('running_mean')) p.data.forEach((_, i) => (p.data[i] = 0.4 * u() - 0.2));
    if (n.endsWith('running_var')) p.data.forEach((_, i) => (p.data[i] = 0.5 + u()));
    // Norm affine params away from (1, 0), so that the peer's use of them is tested.
    if (/\.bn\d\.weight$/.test(n)) p.data.forEach((_, i) => (p.data[i] = 0.5 + u()));
    if (/\.bn\d\.bias$/.test(n)) p.data.forEach((_, i) => (p.data[i] = 0.4 * u() - 0.2));
  }
  const shape = [2, model.config.inChannels, side, side, side];
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

test('our 3D PyTorch export loads in the peer and reproduces our logits (instance and batch norm, U-Net)', { skip }, () => {
  const cases = [
    { arch: 'unetpp' as const, deepSupervision: true, filters: [2, 4, 8], inChannels: 1 },
    { arch: 'unetpp' as const, deepSupervision: false, filters: [3, 5, 7], norm: 'batch' as const },
    { arch: 'unet' as const, filters: [2, 4, 8], inChannels: 2 },
  ];
  cases.forEach((cfg, k) => {
    const dir = mkdtempSync(join(tmpdir(), 'ours3d-'));
    try {
      exportForPeer(dir, new SegModel({ ...cfg, dims: 3, seed: 11 + k }), 5 + k, 8);
      const r = runPeer(['check', '--weights', join(dir, 'weights.safetensors'), '--io', join(dir, 'io.safetensors')]);
      assert.equal(r.status, 0, `${JSON.stringify(cfg)}: ${r.stdout}${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).ok, true, r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
