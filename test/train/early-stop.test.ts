// Early stopping on scripted validation values: the run stops at the right epoch, keeps the
// best epoch's checkpoint, and a resumed run that had already stopped trains no further.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EarlyStopping } from '../../src/train/early-stop.js';
import { train } from '../../src/train/trainer.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { tinyData, tinyModel, tmp } from './helpers.js';

test('EarlyStopping: patience, minDelta, min mode, NaN', () => {
  const run = (o: ConstructorParameters<typeof EarlyStopping>[0], seq: number[]) => {
    const es = new EarlyStopping(o);
    for (let i = 0; i < seq.length; i++) { es.update(i + 1, seq[i]); if (es.shouldStop()) return { stop: i + 1, best: es.bestEpoch }; }
    return { stop: 0, best: es.bestEpoch };
  };
  const seq = [0.1, 0.3, 0.29, 0.304, 0.31, 0.2, 0.2, 0.2];
  assert.deepEqual(run({ mode: 'max', patience: 2 }, seq), { stop: 7, best: 5 });
  assert.deepEqual(run({ mode: 'max', patience: 2, minDelta: 0.005 }, seq), { stop: 4, best: 2 });
  assert.deepEqual(run({ mode: 'max', patience: 0 }, seq), { stop: 3, best: 2 });
  assert.deepEqual(run({ mode: 'min', patience: 1 }, [1, 0.5, 0.6]), { stop: 3, best: 2 });
  assert.deepEqual(run({ mode: 'max', patience: 2 }, [0.5, NaN, NaN]), { stop: 3, best: 1 });
});

test('trainer stops at the scripted epoch and keeps the best epoch', async () => {
  const seq = [0.1, 0.3, 0.29, 0.304, 0.31, 0.2, 0.2, 0.2, 0.2, 0.2];
  const backend = new ReferenceBackend();
  const data = tinyData(12);
  for (const [minDelta, stopAt, bestAt] of [[0, 7, 5], [0.005, 4, 2]]) {
    const dir = tmp('es');
    const opts = {
      outDir: dir, epochs: 10, batchSize: 4, backend, log: null, progress: false, plot: false, patience: 2, minDelta,
      validate: ({ epoch }: { epoch: number }) => ({ iou: seq[epoch - 1], dice: seq[epoch - 1], valLoss: 1 - seq[epoch - 1], images: 1 }),
    };
    const r = await train(tinyModel(), data, opts);
    assert.equal(r.stoppedBy, 'early-stopping');
    assert.equal(r.epochs, stopAt);
    assert.equal(r.bestEpoch, bestAt);
    assert.equal(readCheckpointMeta(join(dir, 'best.safetensors')).meta.training?.epoch, bestAt);
    const again = await train(tinyModel(), data, { ...opts, resume: true });
    assert.equal(again.epochs, stopAt);
    assert.equal(again.stoppedBy, 'early-stopping');
  }
  // minEpochs holds the stop back; the counters keep running meanwhile.
  const r = await train(tinyModel(), data, {
    outDir: tmp('es-min'), epochs: 10, batchSize: 4, backend, log: null, progress: false, plot: false, patience: 2, minEpochs: 9,
    validate: ({ epoch }) => ({ iou: seq[epoch - 1], dice: seq[epoch - 1], valLoss: 1 - seq[epoch - 1], images: 1 }),
  });
  assert.deepEqual([r.epochs, r.bestEpoch, r.stoppedBy], [9, 5, 'early-stopping']);
});

test('validateEvery: validation on every n-th epoch and the last; patience counts validations', async () => {
  const backend = new ReferenceBackend();
  const data = tinyData(12);
  const seen: number[] = [];
  const seq = [0.1, 0.5, 0.2, 0.6, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3];
  const dir = tmp('es-every');
  const r = await train(tinyModel(), data, {
    outDir: dir, epochs: 11, batchSize: 4, backend, log: null, progress: false, plot: true, patience: 2, validateEvery: 2,
    validate: ({ epoch }) => { seen.push(epoch); return { iou: seq[epoch - 1], dice: seq[epoch - 1], valLoss: 1 - seq[epoch - 1], images: 1 }; },
  });
  // validations at 2 (0.5), 4 (0.6, best), 6, 8: two without improvement stop the run after epoch 8
  assert.deepEqual(seen, [2, 4, 6, 8]);
  assert.deepEqual([r.epochs, r.bestEpoch, r.stoppedBy], [8, 4, 'early-stopping']);
  assert.ok(Number.isNaN(r.history[0].iou) && !r.history[0].best);
  assert.equal(readCheckpointMeta(join(dir, 'best.safetensors')).meta.training?.epoch, 4);
  // the last epoch is always validated
  const last: number[] = [];
  await train(tinyModel(), data, {
    outDir: tmp('es-every-last'), epochs: 3, batchSize: 4, backend, log: null, progress: false, plot: false, validateEvery: 2,
    validate: ({ epoch }) => { last.push(epoch); return { iou: 0.5, dice: 0.5, valLoss: 0.5, images: 1 }; },
  });
  assert.deepEqual(last, [2, 3]);
  await assert.rejects(train(tinyModel(), data, { outDir: tmp('es-bad'), epochs: 1, validateEvery: 0, log: null }), /validateEvery/);
});
