// Trainer behaviour on tiny synthetic problems (reference backend, float32): the loss goes
// down, a killed-and-resumed run equals an uninterrupted one bit for bit, NaN stops the run
// without touching the last checkpoint, logs and curves are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { train, NonFiniteLossError } from '../../src/train/trainer.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { loadLast } from '../../src/train/state.js';
import type { EpochRecord } from '../../src/train/record.js';
import { tinyData, tinyModel, tmp } from './helpers.js';

const backend = new ReferenceBackend({ dtype: 'float32' });
const quiet = { log: null, progress: false } as const;

test('loss decreases on a tiny problem (Adam, bce_dice, deep supervision)', async () => {
  const model = tinyModel();
  const r = await train(model, tinyData(), { ...quiet, outDir: tmp('dec'), epochs: 4, batchSize: 4, backend, optimizer: { kind: 'adam', lr: 3e-3 }, patience: false });
  const losses = r.history.map((h) => h.trainLoss);
  assert.ok(losses[3] < losses[0] - 0.02, `train loss ${losses}`);
  assert.ok(r.history[3].valLoss < r.history[0].valLoss, `val loss ${r.history.map((h) => h.valLoss)}`);
});

function paramsOf(model: ReturnType<typeof tinyModel>): Record<string, number[]> {
  return Object.fromEntries(model.params.names().map((n) => [n, [...model.params.get(n).data]]));
}

test('resume: 3 epochs straight == 2 epochs, killed, resumed for the 3rd (weights, BN stats, logs)', async () => {
  // Everything that carries state: augmentation, dropout (paper preset), cosine schedule,
  // clipping, plateau-free early stopping counters, SGD momentum in a second run below.
  const data = tinyData();
  for (const variant of [
    { cfg: {}, opts: { optimizer: { kind: 'adam' as const, lr: 3e-3, weightDecay: 1e-4 }, schedule: { kind: 'cosine' as const, warmupSteps: 2 } } },
    { cfg: { preset: 'paper' as const, dropout: 0.2 }, opts: { optimizer: { kind: 'sgd' as const, lr: 0.05, momentum: 0.9, nesterov: true }, schedule: { kind: 'plateau' as const, patience: 0, factor: 0.5 } } },
  ]) {
    const base = { ...quiet, epochs: 3, batchSize: 4, backend, augment: { flip: true, rotate90: true, brightness: 0.1 }, clipNorm: 5, seed: 11, patience: 5, ...variant.opts };
    const a = tinyModel(variant.cfg);
    const ra = await train(a, data, { ...base, outDir: tmp('straight') });

    const dir = tmp('resumed');
    const killed = new Error('killed');
    await assert.rejects(train(tinyModel(variant.cfg), data, { ...base, outDir: dir, onEpoch: (r) => { if (r.epoch === 2) throw killed; } }), /killed/);
    const b = tinyModel({ ...variant.cfg }); // fresh weights: resume must overwrite all of them
    const rb = await train(b, data, { ...base, outDir: dir, resume: true });

    assert.deepEqual(paramsOf(b), paramsOf(a));
    // the same epochs but for the times they took
    const timeless = ({ seconds: _s, stepSeconds: _t, dataSeconds: _d, updateSeconds: _u, validationSeconds: _v, ...h }: EpochRecord) => h;
    assert.deepEqual(rb.history.map(timeless), ra.history.map(timeless));
    assert.equal(readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').length, 3);
  }
});

test('the time limit counts the epochs before a resume: a spent budget trains no further epoch', async () => {
  const dir = tmp('budget');
  await train(tinyModel(), tinyData(), { ...quiet, outDir: dir, epochs: 2, batchSize: 4, backend, patience: false });
  const spent = JSON.parse(readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').pop()!).seconds as number;
  // a budget below what the first two epochs took: nothing left to train
  const r = await train(tinyModel(), tinyData(), { ...quiet, outDir: dir, epochs: 4, batchSize: 4, backend, patience: false, resume: true, timeLimitSeconds: spent / 2 });
  assert.equal(r.epochs, 2);
  assert.equal(r.stoppedBy, 'time');
  // an ample budget trains on to the epochs asked for
  const r2 = await train(tinyModel(), tinyData(), { ...quiet, outDir: dir, epochs: 4, batchSize: 4, backend, patience: false, resume: true, timeLimitSeconds: 3600 });
  assert.equal(r2.epochs, 4);
});

test('epochs fitted to the time limit: a spent limit ends the run after one epoch, the poly schedule ends with it, a resume keeps the fit', async () => {
  const dir = tmp('fit');
  const lines: string[] = [];
  const opts = { progress: false, log: (l: string) => lines.push(l), outDir: dir, batchSize: 4, backend, patience: false as const,
    schedule: { kind: 'poly' as const }, fitEpochsToTime: true };
  // a limit shorter than one epoch: after epoch 1 nothing fits, so 1 epoch instead of 6
  const r = await train(tinyModel(), tinyData(), { ...opts, epochs: 6, timeLimitSeconds: 1e-3 });
  assert.equal(r.epochs, 1);
  assert.ok(lines.some((l) => /^time limit: 1 epochs instead of 6 \(an epoch takes [\d.]+ s; 0 s left\)$/.test(l)), lines.join('\n'));
  const { state } = loadLast(dir);
  assert.equal(state.epochs, 1);
  assert.equal(state.schedule.state.totalSteps, state.globalStep, 'the schedule ends with the last step');
  // a resume with an ample limit re-fits from the recorded epoch count upwards, to at most 10x those asked
  const r2 = await train(tinyModel(), tinyData(), { ...opts, epochs: 2, timeLimitSeconds: 3600, resume: true });
  assert.equal(r2.epochs, 20);
});

test('resume refuses another model config, and a missing checkpoint', async () => {
  const dir = tmp('cfg');
  await train(tinyModel(), tinyData(), { ...quiet, outDir: dir, epochs: 1, batchSize: 4, backend });
  await assert.rejects(train(tinyModel({ filters: [4, 8, 8] }), tinyData(), { ...quiet, outDir: dir, epochs: 2, batchSize: 4, backend, resume: true }), /model config/);
  await assert.rejects(train(tinyModel(), tinyData(), { ...quiet, outDir: tmp('none'), epochs: 2, batchSize: 4, backend, resume: true }), /no last.safetensors/);
});

test('NaN: the run stops naming epoch, step and node; last.safetensors stays the good one', async () => {
  const dir = tmp('nan');
  const model = tinyModel();
  const run = train(model, tinyData(), {
    ...quiet, outDir: dir, epochs: 3, batchSize: 4, backend, checkFinite: true,
    onEpoch: (r) => { if (r.epoch === 1) model.params.get('conv0_0.conv1.weight').data[0] = NaN; },
  });
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof NonFiniteLossError, String(e));
    assert.match(e.message, /epoch 2, step 1/);
    assert.match(e.message, /conv0_0/);
    return true;
  });
  const last = loadModel(join(dir, 'last.safetensors'));
  assert.ok(last.params.get('conv0_0.conv1.weight').data.every(Number.isFinite));
  assert.equal(JSON.parse(readFileSync(join(dir, 'log.jsonl'), 'utf8').trim()).epoch, 1);

  // Without checkFinite the loss check still stops it.
  const m2 = tinyModel();
  await assert.rejects(train(m2, tinyData(), {
    ...quiet, outDir: tmp('nan2'), epochs: 3, batchSize: 4, backend,
    onEpoch: (r) => { if (r.epoch === 1) m2.params.get('final2.weight').data.fill(NaN); },
  }), /non-finite loss \(NaN\) at epoch 2, step 1/);
});

test('outputs: best/last checkpoints load as models, logs (JSONL, CSV) and curves.png', async () => {
  const dir = tmp('out');
  const r = await train(tinyModel(), tinyData(), { ...quiet, outDir: dir, epochs: 2, batchSize: 4, backend, dropLast: false });
  for (const f of ['best.safetensors', 'last.safetensors', 'log.jsonl', 'log.csv', 'curves.png']) assert.ok(existsSync(join(dir, f)), f);
  assert.equal(loadModel(r.bestPath).config.filters.join(), '4,8,16');
  const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 3);
  assert.match(csv[0], /^epoch,lr,trainLoss,valLoss,iou,dice/);
  const png = readFileSync(join(dir, 'curves.png'));
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  // 19 training samples, batch 4, dropLast false: 5 steps (the last of 3 samples, own plan).
  assert.equal(r.history[0].steps, Math.ceil(tinyData().train.length / 4));
  // where each epoch's time went: every part measured, together within the epoch's seconds
  for (const e of r.history) {
    const parts = [e.stepSeconds, e.dataSeconds, e.updateSeconds, e.validationSeconds];
    assert.ok(parts.every((v) => typeof v === 'number' && v >= 0), JSON.stringify(e));
    assert.ok(e.stepSeconds! > 0 && e.validationSeconds! > 0, JSON.stringify(e));
    assert.ok((parts as number[]).reduce((a, v) => a + v, 0) <= e.seconds + 0.002, JSON.stringify(e));
  }
  assert.match(csv[0], /,stepSeconds,dataSeconds,updateSeconds,validationSeconds$/);
});

test('resume on the native backend: same weights as an uninterrupted run (same thread count)', async (t) => {
  const { nativeAvailable, NativeBackend } = await import('../../src/engine/backends/native.js');
  if (!nativeAvailable().ok) return t.skip(`native backend unavailable: ${nativeAvailable().reason}`);
  const nb = new NativeBackend();
  const data = tinyData();
  const base = { ...quiet, epochs: 3, batchSize: 4, backend: nb, augment: { flip: true }, optimizer: { kind: 'adam' as const, lr: 3e-3 }, schedule: { kind: 'cosine' as const } };
  const a = tinyModel();
  await train(a, data, { ...base, outDir: tmp('nstraight') });
  const dir = tmp('nresumed');
  await assert.rejects(train(tinyModel(), data, { ...base, outDir: dir, onEpoch: (r) => { if (r.epoch === 2) throw new Error('killed'); } }), /killed/);
  const b = tinyModel({ seed: 99 });
  await assert.rejects(train(b, data, { ...base, outDir: dir, resume: true }), /model config/); // seed is part of the config
  const c = tinyModel();
  c.initialize(1234); // different weights, same config
  await train(c, data, { ...base, outDir: dir, resume: true });
  assert.deepEqual(paramsOf(c), paramsOf(a));
});
