// Images too large to train whole at the default batch (ISBI 512x512 at batch 8: a 16 GiB arena):
// the train plan is sized first, the default batch and then the default crop shrink to the memory
// budget, with one line saying so; explicit flags are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { PlanCache } from '../../src/train/plans.js';
import { fitTrainMemory } from '../../src/cli/train-shape.js';
import { PLAN_RSS_FACTOR } from '../../src/infer/memory.js';

test('training memory: the default batch, then the default crop, shrink until the train plan fits the budget', () => {
  const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, deepSupervision: true });
  const backend = new ReferenceBackend({ dtype: 'float32' });
  const loss = { kind: 'bce_dice' as const, bceWeight: 0.5 };
  const bytes = (b: number, s: number) => PLAN_RSS_FACTOR * new PlanCache(model, backend, loss, false).trainBytes([b, 1, s, s], [b, 1, s, s]);
  const none = { batch: false, crop: false };
  const fit = (want: { batchSize: number; crop?: [number, number] }, explicit: typeof none, budget: number) =>
    fitTrainMemory(model, backend, loss, [64, 64], want, explicit, budget);
  assert.deepEqual(fit({ batchSize: 8 }, none, bytes(8, 64)), { batchSize: 8 });
  assert.deepEqual(fit({ batchSize: 8 }, none, bytes(4, 64)), { batchSize: 4 });
  assert.deepEqual(fit({ batchSize: 8 }, none, bytes(2, 32)), { batchSize: 2, crop: [32, 32] });
  // the smaller crop leaves room for the batch asked for
  assert.deepEqual(fit({ batchSize: 8 }, none, bytes(4, 32)), { batchSize: 4, crop: [32, 32] });
  assert.deepEqual(fit({ batchSize: 8 }, { batch: true, crop: false }, bytes(8, 32)), { batchSize: 8, crop: [32, 32] });
  assert.deepEqual(fit({ batchSize: 8, crop: [64, 64] }, { batch: false, crop: true }, bytes(2, 64)), { batchSize: 2, crop: [64, 64] });
});
