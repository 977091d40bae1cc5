// `unetpp bench` end to end on a tiny problem (batch 2, 32x32, 2 steps): every part emits its
// JSON line and the summary carries the keys and ratios the docs quote, in fp32 and bf16. Speed
// itself is not asserted here (benchmarks measure it: npm run bench).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../src/bench/index.js';
import { nativeAvailable, bf16Support } from '../../src/engine/backends/native.js';

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
  });
}
