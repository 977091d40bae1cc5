// Static memory planning: buffers alive at the same step never overlap, the arena comes close
// to the peak of live bytes, and plans sized without memory report what they would allocate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planOffsets, ARENA_ALIGN, type Lifetime } from '../../src/engine/memory-plan.js';
import { Rng } from '../../src/data/rng.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';

const peakLive = (bs: Lifetime[]) => {
  const end = Math.max(...bs.map((b) => b.death));
  let peak = 0;
  for (let t = 0; t <= end; t++) peak = Math.max(peak, bs.filter((b) => b.birth <= t && t <= b.death).reduce((s, b) => s + b.bytes, 0));
  return peak;
};

test('planOffsets: buffers alive at once never overlap, offsets aligned, total near the live peak', () => {
  const r = new Rng(5);
  for (let trial = 0; trial < 30; trial++) {
    const bs: Lifetime[] = Array.from({ length: 40 }, () => {
      const birth = Math.floor(r.next() * 50);
      return { bytes: 1 + Math.floor(r.next() * 100000), birth, death: birth + Math.floor(r.next() * 10) };
    });
    const { offsets, total } = planOffsets(bs);
    bs.forEach((a, i) => {
      assert.equal(offsets[i] % ARENA_ALIGN, 0);
      assert.ok(offsets[i] + a.bytes <= total);
      bs.forEach((b, j) => {
        if (i >= j || a.death < b.birth || b.death < a.birth) return;
        assert.ok(offsets[i] + a.bytes <= offsets[j] || offsets[j] + b.bytes <= offsets[i], `buffers ${i} and ${j} overlap in time and memory`);
      });
    });
    assert.ok(total >= peakLive(bs));
    assert.ok(total <= 2 * peakLive(bs) + 40 * 2 * ARENA_ALIGN, `total ${total} vs live peak ${peakLive(bs)}`);
  }
});

test('a UNet++ inference plan needs no more than its live peak + 12%; sizeOnly plans size it without memory', () => {
  const backends: (ReferenceBackend | NativeBackend)[] = [new ReferenceBackend({ dtype: 'float32' }), ...(nativeAvailable().ok ? [new NativeBackend({ use: 'infer', layout: 'nhwc' })] : [])];
  const model = new SegModel({ filters: [16, 32, 64], inChannels: 3, classes: 1, deepSupervision: true, seed: 1 });
  for (const backend of backends) {
    const g = new Graph();
    const x = g.input('x', [2, 3, 64, 64]);
    const p = model.probabilities(g, model.forward(g, x, { training: false, fuseBn: true }), { kind: 'accurate' });
    const sized = new Plan(g, backend, model.params, [p], { frozenParams: true, sizeOnly: true });
    assert.throws(() => sized.run({ x: new Float32Array(2 * 3 * 64 * 64) }), /sizeOnly/);
    const real = new Plan(g, backend, model.params, [p], { frozenParams: true });
    assert.equal(real.arenaBytes, sized.arenaBytes);
    if ((backend as { views?: unknown }).views) { real.dispose(); continue; }  // in-place concatenation: rows, not values
    // The live peak: every value from its writer to its last reader. A free list of whole
    // buffers needed up to 2.5x this (NHWC UNet++).
    const bytes = (s: readonly number[]) => s.reduce((a, b) => a * b, 1) * backend.bytesPerValue(s, 'act');
    const lastUse = new Map<number, number>();
    real.schedule.forEach((n, t) => n.inputs.forEach((v) => lastUse.set(v.node.id, t)));
    let peak = 0;
    real.schedule.forEach((_, t) => {
      let live = 0;
      real.schedule.forEach((n, u) => {
        if (n.op === 'param' || u > t) return;
        if ((lastUse.get(n.id) ?? real.schedule.length) >= t) live += bytes(n.shapes[0]);
      });
      peak = Math.max(peak, live);
    });
    assert.ok(real.arenaBytes <= 1.12 * peak + 64 * 1024, `${backend.name}: arena ${real.arenaBytes} vs live ${peak}`);
    real.dispose();
  }
});
