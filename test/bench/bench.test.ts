// `unetpp bench` end to end on a tiny problem (batch 2, 32x32, 2 steps): every part emits its
// JSON line and the summary carries the keys and ratios the docs quote, in fp32 and bf16. Speed
// itself is not asserted here (benchmarks measure it: npm run bench).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../src/bench/index.js';
import { nativeAvailable, bf16Support } from '../../src/engine/backends/native.js';
import { peerUnavailable } from '../io/peer-python.js';
import { checkPeakFields } from '../helpers/bench-peak.js';

const avail = nativeAvailable();

for (const precision of ['fp32', 'bf16'] as const) {
  const skip = !avail.ok ? avail.reason : precision === 'bf16' && !bf16Support().ok ? `no bf16: ${bf16Support().reason}` : false;
  test(`bench (${precision}): model, ops and floor lines and a summary`, { skip }, async () => {
    const lines: Record<string, any>[] = [];
    const s = await runBench({ batch: 2, size: 32, steps: 2, warmup: 1, parts: ['model', 'ops', 'floor'], precision, emit: (l) => lines.push(l as Record<string, any>) });
    assert.deepEqual(lines.map((l) => l.kind), ['machine', 'model', 'op', 'floor', 'summary']);
    assert.equal(s.precision, precision);
    for (const k of ['train_img_per_s', 'infer_img_per_s', 'floor_train_img_per_s', 'floor_infer_img_per_s', 'train_step_vs_floor', 'peak_rss_mb', 'train_peak_rss_mb'])
      assert.ok(Number.isFinite(s[k]) && s[k] > 0, `${k} = ${s[k]}`);
    const op = lines[2];
    assert.ok(op.ours.fwd_ms > 0 && op.ours.fwd_bwd_ms > op.ours.fwd_ms, JSON.stringify(op.ours));
    assert.match(op.onednn.impl.fwd, precision === 'bf16' ? /bf16/ : /./);
    checkPeakFields(s, lines[3]);
  });
}

// onnxruntime-node: our export of the same model, checked against our probabilities (bf16: against
// an fp32 plan of ours, as onnxruntime runs fp32), timed, and its ratio in the summary.
for (const precision of ['fp32', 'bf16'] as const) {
  const skip = !avail.ok ? avail.reason : precision === 'bf16' && !bf16Support().ok ? `no bf16: ${bf16Support().reason}` : false;
  test(`bench ort (${precision}): onnxruntime-node agrees with ours and is timed`, { skip }, async () => {
    const lines: Record<string, any>[] = [];
    const s = await runBench({ batch: 2, size: 32, steps: 2, warmup: 1, filters: [4, 8, 16, 32, 64], parts: ['model', 'ort'], precision,
      emit: (l) => lines.push(l as Record<string, any>) });
    assert.deepEqual(lines.map((l) => l.kind), ['machine', 'model', 'ort', 'summary']);
    const ort = lines[2];
    assert.equal(ort.error, undefined, ort.error);
    assert.equal(ort.precision, 'fp32');
    assert.equal(ort.intra_op_threads, s.threads);
    assert.equal(!!ort.note, precision === 'bf16', 'bf16: the line says onnxruntime runs fp32');
    assert.ok(ort.max_abs_diff <= 1e-4, `max abs diff ${ort.max_abs_diff}`);
    assert.equal(ort.infer_ms.length, 2);
    assert.ok(s.ort_infer_img_per_s > 0 && s.infer_vs_ort > 0);
    assert.ok(Math.abs(s.infer_vs_ort - ort.infer_batch_s / lines[1].infer_batch_s) < 1e-3 * s.infer_vs_ort + 1e-3);
  });
}

// Rounds: our inference, then training, and the peer's (kept alive in scripts/peer-server.py)
// alternate; every round has its batches from both, and the summary carries the median ratio.
test('bench rounds: ours and the peer alternate, batch times from both in every round', { skip: !avail.ok ? avail.reason : peerUnavailable() ?? false }, async () => {
  const lines: Record<string, any>[] = [];
  const s = await runBench({ batch: 2, size: 32, steps: 2, warmup: 1, rounds: 3, peerProcesses: 2, parts: ['model', 'ort', 'rounds'], emit: (l) => lines.push(l as Record<string, any>) });
  const rounds = lines.filter((l) => l.kind === 'rounds');
  assert.deepEqual(rounds.map((r) => r.error ?? 'ok'), ['ok', 'ok']);
  for (const [r, phase, k] of [[rounds[0], 'infer', 2], [rounds[1], 'train', 1]] as const) {
    assert.equal(r.phase, phase);
    assert.equal(r.batches_per_round, k);
    assert.equal(r.ours_ms.length, 3);
    assert.equal(r.peer_ms.length, 3);
    for (const side of [r.ours_ms, r.peer_ms]) for (const round of side) {
      assert.equal(round.length, k);
      for (const t of round) assert.ok(t > 0, `batch time ${t}`);
    }
    assert.equal(r.vs_peer_by_round.length, 3);
    assert.equal(r.peer_process_ms.length, 2);
    assert.ok(Math.abs(r.vs_peer_pooled - r.ours_img_per_s / r.peer_img_per_s) < 0.02 * r.vs_peer_pooled);
    const sorted = [...r.vs_peer_by_round].sort((a: number, b: number) => a - b);
    assert.ok(Math.abs(r.vs_peer - sorted[1]) <= 0.0011, 'the median of the rounds');
    assert.equal(s[`${phase}_vs_peer_rounds`], r.vs_peer);
    const f = s[`rounds_${phase}_fraction_of_peak`];
    const expected = s[`${phase}_gflop_per_img`] * r.ours_img_per_s / s.peak_gflop_per_s;
    assert.ok(Math.abs(f - expected) <= 1e-3 * f + 1e-4, `rounds_${phase}_fraction_of_peak ${f} vs ${expected}`);
  }
  // onnxruntime takes its turn in every inference round, not in training's
  assert.equal(rounds[0].ort_ms.length, 3);
  for (const round of rounds[0].ort_ms) assert.equal(round.length, 2);
  assert.equal(rounds[0].vs_ort_by_round.length, 3);
  assert.equal(s.infer_vs_ort_rounds, rounds[0].vs_ort);
  assert.equal(rounds[1].ort_ms, undefined);
});

test('bench rounds: a peer that cannot run is reported in the summary, not thrown', { skip: !avail.ok ? avail.reason : false }, async () => {
  const saved = process.env.UNETPP_PEER;
  process.env.UNETPP_PEER = '/nonexistent/torch_unetpp.py';
  try {
    const lines: Record<string, any>[] = [];
    const s = await runBench({ batch: 2, size: 32, steps: 1, warmup: 0, rounds: 2, peerProcesses: 1, parts: ['model', 'rounds'], emit: (l) => lines.push(l as Record<string, any>) });
    assert.match(s.rounds_error, /peer exited|peer server/);
    assert.equal(s.infer_vs_peer_rounds, undefined);
  } finally {
    if (saved === undefined) delete process.env.UNETPP_PEER; else process.env.UNETPP_PEER = saved;
  }
});
