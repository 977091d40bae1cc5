// The volume scaling table's pure parts (experiments/scaling-3d): the peak-memory estimate that
// skips configurations too large to start, and the Markdown table (the peer's faster variant per
// phase, ratios as peer time / ours, failures and skips as notes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimatePeakMb, scalingTable, work, type ScalingEntry } from '../../src/bench/scaling.js';

test('estimatePeakMb: the line through the two largest points, at least proportional growth', () => {
  assert.equal(estimatePeakMb([], 100), undefined);
  assert.equal(estimatePeakMb([{ work: 10, peakMb: 50 }], 40), 200, 'one point: proportional');
  // 300 MB base + 2 MB a unit: the line (300 + 2 * 100 = 500) is below proportional from 60 -> 420 * 100 / 60 = 700
  assert.equal(estimatePeakMb([{ work: 10, peakMb: 320 }, { work: 30, peakMb: 360 }, { work: 60, peakMb: 420 }], 100), 700);
  // growing faster than proportional: the line
  assert.equal(estimatePeakMb([{ work: 10, peakMb: 10 }, { work: 20, peakMb: 30 }], 40), 70);
  // repeated works keep their largest peak
  assert.equal(estimatePeakMb([{ work: 10, peakMb: 40 }, { work: 10, peakMb: 50 }], 20), 100);
  assert.equal(work({ side: 32, batch: 2 }), 65536);
});

test('scalingTable: ours against the faster peer variant per phase, ratios, peaks, notes', () => {
  const e = (who: ScalingEntry['who'], side: number, batch: number, train: number, infer: number, peakMb: number): ScalingEntry =>
    ({ who, side, batch, train_step_s: train, infer_batch_s: infer, peak_rss_mb: peakMb });
  const entries: ScalingEntry[] = [
    e('unetpp', 64, 2, 4, 1.25, 2048),
    e('pytorch', 64, 2, 8, 2.5, 2560),        // NCDHW: faster training
    e('pytorch-cl', 64, 2, 9, 2, 3072),       // channels_last_3d: faster inference
    e('unetpp', 32, 1, 0.25, 0.1, 512),
    { who: 'pytorch', side: 32, batch: 1, error: 'exit 1: boom' },
    { who: 'unetpp', side: 96, batch: 4, skipped: 'estimated peak 30 GB > 90% of the 20 GB available' },
  ];
  const lines = scalingTable(entries).trimEnd().split('\n');
  assert.match(lines[0], /^\| volume \| batch \| train ours \(s\) \| train peer \(s\) \| peer \/ ours \|/);
  assert.equal(lines[2], '| 32^3 | 1 | 0.25 | failed | - | 0.10 | failed | - | 0.50 | failed |');
  assert.equal(lines[3], '| 64^3 | 2 | 4.00 | 8.00 | **2.00x** | 1.25 | 2.00 (cl) | **1.60x** | 2.00 | 2.50 |');
  assert.equal(lines[4], '| 96^3 | 4 | skipped | - | - | skipped | - | - | skipped | - |');
  assert.deepEqual(lines.slice(6), [
    '- 32^3 batch 1, pytorch: failed: exit 1: boom',
    '- 96^3 batch 4, unetpp: skipped: estimated peak 30 GB > 90% of the 20 GB available',
  ]);
});
