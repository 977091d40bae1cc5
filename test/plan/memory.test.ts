// The plan's memory estimate (the engine's own sizing of the training graph, plus what the native
// backend keeps outside it) against the peak RSS of real training steps in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import type { ModelConfig } from '../../src/models/config.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { estimateStepMemory } from '../../src/plan/memory.js';

const native = nativeAvailable();
const CHILD = join(process.cwd(), 'dist', 'test', 'plan', 'train-step-child.js');
const MiB = 2 ** 20;

const cases: { name: string; config: Partial<ModelConfig>; batch: number; patch: number[] }[] = [
  {
    name: '3D UNet++ 16,32,64 at 32x32x32, batch 2, 3 classes', batch: 2, patch: [32, 32, 32],
    config: { dims: 3, filters: [16, 32, 64], inChannels: 1, classes: 3, deepSupervision: true },
  },
  {
    name: '2D UNet++ 16..128 at 128x128, batch 4, RGB', batch: 4, patch: [128, 128],
    config: { dims: 2, filters: [16, 32, 64, 128], inChannels: 3, classes: 1, deepSupervision: true },
  },
];
const skip = native.ok ? false : `native backend unavailable (${native.reason})`;
const mib = (v: number) => `${(v / MiB).toFixed(0)} MiB`;

for (const c of cases) {
  test(`memory estimate within 15% of the measured peak: ${c.name}`, { skip }, (t) => {
    const model = new SegModel(c.config);
    const K = model.config.classes;
    const backend = getBackend('native', 'fp32', 'train', model.config.dims);
    const est = estimateStepMemory(model, c.batch, c.patch, { kind: K > 1 ? 'ce_dice' : 'bce_dice', bceWeight: 0.5 }, backend);
    const spec = JSON.stringify({ config: model.config, batch: c.batch, patch: c.patch, steps: 2 });
    const r = spawnSync(process.execPath, [CHILD, spec], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { peakRssBytes } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { peakRssBytes: number };
    const off = est.total / peakRssBytes - 1;
    const parts = Object.entries(est).map(([k, v]) => `${k} ${mib(v)}`).join(', ');
    t.diagnostic(`estimate ${mib(est.total)}, measured ${mib(peakRssBytes)} (${(100 * off).toFixed(1)}%)`);
    assert.ok(Math.abs(off) <= 0.15, `estimate ${mib(est.total)} (${parts}) vs measured ${mib(peakRssBytes)}: ${(100 * off).toFixed(1)}%`);
  });
}
