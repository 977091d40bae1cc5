// `unetpp bench --dims 3` end to end on a tiny volume network (filters 4..64, batch 1, 32^3, one
// step): the model, floor, peer and rounds lines, the volume keys of the summary, and the peer
// building the same network (same parameter count). Speed is not asserted (npm run bench).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../src/bench/index.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { peerUnavailable } from '../io/peer-python.js';
import { checkPeakFields } from '../helpers/bench-peak.js';

const avail = nativeAvailable();
const tiny = { dims: 3 as const, batch: 1, size: 32, steps: 1, warmup: 0, filters: [4, 8, 16, 32, 64] };

test('bench --dims 3: model and 3D kernel floor, volume keys in the summary', { skip: avail.ok ? false : avail.reason }, async () => {
  const lines: Record<string, any>[] = [];
  const s = await runBench({ ...tiny, parts: ['model', 'floor'], peakGflops: { fp32: 150 },
    emit: (l) => lines.push(l as Record<string, any>) });
  assert.deepEqual(lines.map((l) => l.kind), ['machine', 'model', 'floor', 'summary']);
  assert.equal(s.dims, 3);
  assert.equal(s.norm, 'instance');
  assert.equal(s.channels, 1);
  assert.deepEqual(s.filters, tiny.filters);
  for (const k of ['train_img_per_s', 'infer_img_per_s', 'floor_train_img_per_s', 'train_step_vs_floor', 'peak_rss_mb'])
    assert.ok(Number.isFinite(s[k]) && s[k] > 0, `${k} = ${s[k]}`);
  // 3x3x3 convs timed as 3D primitives; the 1x1x1 heads as 1x1 ones over [N,C,D*H,W]
  assert.equal(lines[2].conv_layers, 15 * 2 + 4);
  assert.deepEqual([s.peak_gflop_per_s, s.peak_source], [150, 'option']);
  checkPeakFields(s, lines[2]);
});

test('bench --dims 3: onnxruntime-node runs our volume export, agrees with ours, is timed', { skip: avail.ok ? false : avail.reason }, async () => {
  const lines: Record<string, any>[] = [];
  const s = await runBench({ ...tiny, parts: ['model', 'ort'], emit: (l) => lines.push(l as Record<string, any>) });
  const ort = lines.find((l) => l.kind === 'ort')!;
  assert.equal(ort.error, undefined, ort.error);
  assert.ok(ort.max_abs_diff <= 1e-4, `max abs diff ${ort.max_abs_diff}`);
  assert.ok(ort.infer_batch_s > 0 && s.infer_vs_ort > 0);
});

test('bench --dims 3: the peer builds the same volume network, and rounds alternate', { skip: !avail.ok ? avail.reason : peerUnavailable() ?? false }, async () => {
  const lines: Record<string, any>[] = [];
  const s = await runBench({ ...tiny, rounds: 2, peerProcesses: 1, parts: ['model', 'peer', 'rounds'], emit: (l) => lines.push(l as Record<string, any>) });
  const model = lines.find((l) => l.kind === 'model')!, peers = lines.filter((l) => l.kind === 'peer');
  assert.equal(peers.length, 2);
  for (const p of peers) {
    assert.equal(p.error, undefined, p.error);
    assert.equal(p.dims, 3);
    assert.equal(p.norm, 'instance');
    assert.equal(p.params, model.params, 'same parameter count as ours');
  }
  assert.deepEqual(lines.filter((l) => l.kind === 'rounds').map((r) => r.error ?? r.phase), ['infer', 'train']);
  assert.ok(s.infer_vs_peer_rounds > 0 && s.train_vs_peer_rounds > 0);
  assert.match(s.rounds_peer_train_variant, /^(nchw|channels_last)$/);
  assert.ok(s.rounds_peer_peak_rss_mb > 0 && s.train_rss_vs_peer_rounds > 0, 'the peer processes report their peak RSS');
});
