// The demo reaches validation IoU >= 0.75 within its default 3-minute budget on the native
// backend (takes ~3-4 minutes); skipped where the native addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { runDemo } from '../../src/train/demo.js';
import { tmp } from './helpers.js';

const native = nativeAvailable();

test('demo: synthetic nuclei, validation IoU >= 0.75', { skip: native.ok ? false : `native backend unavailable (${native.reason}): the demo would take too long on the reference backend` }, async () => {
  const dir = tmp('demo');
  const r = await runDemo({ outDir: dir, seed: 0, backend: 'native', log: null, progress: false });
  assert.ok(r.iou >= 0.75, `validation IoU ${r.iou} after ${r.epochs} epochs (${r.seconds} s)`);
  // the end-to-end score of the reloaded best checkpoint equals the trainer's at that epoch
  const rec = r.train.history.find((h) => h.epoch === r.bestEpoch)!;
  assert.ok(Math.abs(rec.iou - r.iou) < 1e-3, `${rec.iou} vs ${r.iou}`);
  for (const f of ['overlays.png', 'curves.png', 'best.safetensors', 'log.jsonl']) assert.ok(existsSync(join(dir, f)), f);
});
