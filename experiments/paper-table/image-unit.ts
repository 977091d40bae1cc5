// An image-dataset unit, in-process with the hand settings: train (resuming from
// last.safetensors), score the best checkpoint per test image, time it, and for the DS UNet++
// score and time every pruned level; then write result.json.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { describeModel } from '../../src/models/info.js';
import { loadModel, readCheckpointMeta } from '../../src/io/checkpoint.js';
import { train, type TrainResult } from '../../src/train/trainer.js';
import { LAST, type TrainState } from '../../src/train/state.js';
import type { EpochRecord } from '../../src/train/record.js';
import { loadDataset, trainingSamples, DATASET_NOTES, type SplitData } from './data.js';
import { BudgetStop, epochEstimate, unitDir, unitName, type UnitKey } from './budget.js';
import { scoreCases, timeModel, timingInput } from './scoring.js';
import { curvesOf, machineInfo, writeJson, type LevelResult, type SeedRun } from './results.js';
import { CHANNELS, isImageDataset, modelConfig, type ImageDatasetKey, type ModelKey, type Settings } from './settings.js';
import { checkFingerprint, publish, type Context, type UnitOutcome } from './unit.js';

// Decoded once per process (the 96x96 DSB set takes a few seconds), per folder and settings.
const cache = new Map<string, Promise<SplitData>>();
const dataOf = (c: Context, ds: ImageDatasetKey, s: Settings) => {
  const key = JSON.stringify([c.dataRoot, ds, s.size, s.subset]);
  if (!cache.has(key)) cache.set(key, loadDataset(c.dataRoot, ds, s));
  return cache.get(key)!;
};

/** The schedule every image run shares, as recorded in the result files. */
export function scheduleOf(s: Settings, ds: ImageDatasetKey, seed: number) {
  return {
    optimizer: `Adam lr ${s.lr}, constant`, batchSize: s.batchSize, maxEpochs: s.maxEpochs,
    earlyStopping: `val IoU, patience ${s.patience}`,
    loss: '0.5 BCE + Dice (mean over heads with DS)', augment: 'flips, 90-degree turns', seed, data: DATASET_NOTES[ds],
    ...(ds === 'isbi2012-em' ? { cropsPerImagePerEpoch: s.isbiRepeats } : {}), ...(s.subset ? { subset: s.subset } : {}),
  };
}

/** The checkpoint's history (the authoritative one; log.jsonl may lag an epoch behind). */
export function savedHistory(dir: string): EpochRecord[] {
  if (!existsSync(join(dir, LAST))) return [];
  return (JSON.parse(readCheckpointMeta(join(dir, LAST)).extra.train_state) as TrainState).history;
}

/** Epochs since the last improvement, as the trainer's early stopping counts them. */
const badEpochs = (h: EpochRecord[]) => { let n = 0; for (const r of h) n = r.best ? 0 : n + 1; return n; };

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};

export async function runImageUnit(c: Context, k: UnitKey, s: Settings): Promise<UnitOutcome> {
  const { model, seed } = k;
  if (!isImageDataset(k.ds)) throw new Error(`${k.ds} is not an image dataset`);
  const ds = k.ds;
  const dir = unitDir(c.work, k);
  mkdirSync(dir, { recursive: true });
  const cfg = modelConfig(s, model, CHANNELS[ds], seed);
  checkFingerprint(dir, { dataset: ds, model, seed, config: cfg, settings: { ...s, timing: undefined } });
  const cost = (m: ModelKey) => describeModel(modelConfig(s, m, CHANNELS[ds], seed), { size: s.size }).trainGflops;
  const est = () => epochEstimate(c.work, k, cost);
  // The test evaluation costs about an epoch; with the pruning table (5 modes, timings) ~3.
  const evalEpochs = model === 'unetpp-ds' ? 3 : 1;
  const e0 = est();
  const name = unitName(k);
  if (!c.budget.allows(e0 === null ? null : (1 + evalEpochs) * e0)) {
    const need = e0 === null ? 'no time left' : `an epoch and the evaluation need ~${(1.2 * (1 + evalEpochs) * e0).toFixed(0)} s`;
    c.log(`${name}: not started: ${need}`);
    return 'stopped';
  }

  const data = await dataOf(c, ds, s);
  const history = savedHistory(dir);
  const log = (l: string) => c.log(`${name}: ${l}`);
  let r: TrainResult;
  try {
    r = await train(new SegModel(cfg), { train: trainingSamples(ds, data, s), val: data.val }, {
      outDir: dir, epochs: s.maxEpochs, batchSize: s.batchSize, evalBatchSize: ds === 'isbi2012-em' ? 1 : s.batchSize,
      backend: c.backend, optimizer: { kind: 'adam', lr: s.lr }, schedule: { kind: 'constant' }, monitor: 'iou',
      patience: s.patience,
      augment: s.augment, crop: ds === 'isbi2012-em' ? { width: s.size, height: s.size } : undefined, seed,
      resume: history.length > 0, log, progress: false,
      onEpoch: (rec) => {
        history.push(rec);
        const ending = rec.epoch >= s.maxEpochs || badEpochs(history) >= s.patience;
        if (!ending && !c.budget.allows((1 + evalEpochs) * (est() ?? rec.seconds)))
          throw new BudgetStop(`stopped after epoch ${rec.epoch}: the time budget is spent`);
      },
    });
  } catch (e) {
    if (e instanceof BudgetStop) { log(`${e.message}; re-run the same command with --resume to continue`); return 'stopped'; }
    throw e;
  }
  if (!c.budget.allows(evalEpochs * (est() ?? 0))) { log('trained; not evaluated: the time budget is spent'); return 'stopped'; }

  const best = loadModel(r.bestPath);
  const info = describeModel(cfg, { size: s.size });
  const test = scoreCases(best, data.test, c.backend, { mode: 'accurate' });
  const shape = [s.size, s.size];
  const input = (b: number) => timingInput(data.test, b, s.size);
  const timing = timeModel(best, c.backend, { kind: 'accurate' }, shape, input, s.timing);
  const pruning = model === 'unetpp-ds' ? info.levels.map(({ level, gflops }): LevelResult => {
    const pruned = best.prune(level);
    const sc = scoreCases(best, data.test, c.backend, { mode: 'fast', level });
    log(`L${level} fast Dice ${mean(sc.dice).toFixed(4)}`);
    const tm = timeModel(pruned, c.backend, { kind: 'fast' }, shape, input, s.timing);
    return { level, params: pruned.params.count(), gflops: Number(gflops.toFixed(4)), timing: tm, dice: sc.dice, iou: sc.iou };
  }) : undefined;
  const gflops = Number(info.gflops.toFixed(4));
  pruning?.push({ level: 'accurate', params: best.params.count(), gflops, timing, dice: test.dice, iou: test.iou });
  const h = r.history;
  const { arch, preset, filters, deepSupervision, inChannels, dims } = best.config;
  const seconds = h.reduce((a, x) => a + x.seconds, 0);
  const result: SeedRun = {
    schema: 2, dataset: ds, model, seed, smoke: s.smoke, engine: 'images',
    config: { arch, preset, filters, deepSupervision, inChannels, dims },
    params: best.params.count(), gflops, trainGflopsPerStep: Number((info.trainGflops * s.batchSize).toFixed(3)),
    test, timing, ...(pruning ? { pruning } : {}),
    training: {
      epochs: r.epochs, bestEpoch: r.bestEpoch, stoppedBy: r.stoppedBy, seconds: Math.round(seconds),
      medianEpochSeconds: Number(median(h.map((x) => x.seconds)).toFixed(1)),
      stepMs: Number.isFinite(r.stepMs) ? Number(r.stepMs.toFixed(1)) : null,
    },
    settings: scheduleOf(s, ds, seed), curves: curvesOf(h), machine: machineInfo(c.backend.name),
    date: new Date().toISOString(), command: c.command,
  };
  writeJson(join(dir, 'result.json'), result); // written last: marks the unit finished
  publish(c, k);
  log(`test Dice ${mean(test.dice).toFixed(4)}, IoU ${mean(test.iou).toFixed(4)} (${test.ids.length} images); ` +
    `${r.epochs} epochs, ${Math.round(seconds)} s`);
  return 'finished';
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
