// One (dataset, model) run as a resumable unit in WORK/<dataset>-<model>/: train (resuming
// from last.safetensors), score the best checkpoint on the test split, for the DS UNet++ the
// pruning table; result.json there marks the unit finished and is copied to the results dir.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../src/engine/backend.js';
import { SegModel } from '../../src/models/model.js';
import { describeModel } from '../../src/models/info.js';
import { loadModel, readCheckpointMeta } from '../../src/io/checkpoint.js';
import { train, type TrainResult } from '../../src/train/trainer.js';
import { LAST, type TrainState } from '../../src/train/state.js';
import type { EpochRecord } from '../../src/train/record.js';
import { loadDataset, trainingSamples, DATASET_NOTES, type SplitData } from './data.js';
import { Budget, BudgetStop, epochEstimate, unitName } from './budget.js';
import { scoreSamples, timingInput, forwardMsPerImage } from './scoring.js';
import { curvesOf, machineInfo, pruningFile, readJson, runFile, writeJson, type LevelRow, type PruningResult, type RunResult } from './results.js';
import { CHANNELS, modelConfig, type DatasetKey, type ModelKey, type Settings } from './settings.js';

export interface Context {
  settings: Settings;
  work: string;
  results: string;
  dataRoot: string;
  backend: Backend;
  budget: Budget;
  command: string;
  log: (line: string) => void;
}

export type UnitOutcome = 'finished' | 'skipped' | 'stopped';

// Decoded once per process (the 96x96 DSB set takes a few seconds), per folder and settings.
const cache = new Map<string, Promise<SplitData>>();
const dataOf = (c: Context, ds: DatasetKey) => {
  const key = JSON.stringify([c.dataRoot, ds, c.settings.size, c.settings.subset]);
  if (!cache.has(key)) cache.set(key, loadDataset(c.dataRoot, ds, c.settings));
  return cache.get(key)!;
};

/** The schedule every run shares, as recorded in the result files. */
export function scheduleOf(s: Settings, ds: DatasetKey) {
  return {
    optimizer: `Adam lr ${s.lr}, constant`, batchSize: s.batchSize, maxEpochs: s.maxEpochs, earlyStopping: `val IoU, patience ${s.patience}`,
    loss: '0.5 BCE + Dice (mean over heads with DS)', augment: 'flips, 90-degree turns', seed: s.seed, data: DATASET_NOTES[ds],
    ...(ds === 'isbi2012-em' ? { cropsPerImagePerEpoch: s.isbiRepeats } : {}), ...(s.subset ? { subset: s.subset } : {}),
  };
}

/** Settings and config a unit was started with: resuming under other settings is refused. */
function checkFingerprint(dir: string, value: object): void {
  const path = join(dir, 'unit.json');
  const prev = readJson<object>(path);
  if (prev && JSON.stringify(prev) !== JSON.stringify(value))
    throw new Error(`${dir} was started with other settings (${path}); use another --work folder or delete that one`);
  if (!prev) writeJson(path, value);
}

function publish(c: Context, dir: string, ds: DatasetKey, model: ModelKey): void {
  mkdirSync(c.results, { recursive: true });
  copyFileSync(join(dir, 'result.json'), join(c.results, runFile(ds, model)));
  if (existsSync(join(dir, 'pruning.json'))) copyFileSync(join(dir, 'pruning.json'), join(c.results, pruningFile(ds)));
}

/** The checkpoint's history (the authoritative one; log.jsonl may lag an epoch behind). */
function savedHistory(dir: string): EpochRecord[] {
  if (!existsSync(join(dir, LAST))) return [];
  return (JSON.parse(readCheckpointMeta(join(dir, LAST)).extra.train_state) as TrainState).history;
}

/** Epochs since the last improvement, as the trainer's early stopping counts them. */
const badEpochs = (h: EpochRecord[]) => { let n = 0; for (const r of h) n = r.best ? 0 : n + 1; return n; };

export async function runUnit(c: Context, ds: DatasetKey, model: ModelKey): Promise<UnitOutcome> {
  const s = c.settings;
  const name = unitName(ds, model);
  const dir = join(c.work, name);
  if (existsSync(join(dir, 'result.json'))) { publish(c, dir, ds, model); return 'skipped'; }
  mkdirSync(dir, { recursive: true });
  const cfg = modelConfig(s, model, CHANNELS[ds]);
  checkFingerprint(dir, { dataset: ds, model, config: cfg, settings: { ...s, timing: undefined } });
  const est = () => epochEstimate(c.work, s, ds, model);
  // The test evaluation costs about an epoch; with the pruning table (5 modes, timings) ~3.
  const evalEpochs = model === 'unetpp-ds' ? 3 : 1;
  const e0 = est();
  if (!c.budget.allows(e0 === null ? null : (1 + evalEpochs) * e0)) {
    c.log(`${name}: not started: ${e0 === null ? 'no time left' : `an epoch and the evaluation need ~${(1.2 * (1 + evalEpochs) * e0).toFixed(0)} s`}`);
    return 'stopped';
  }

  const data = await dataOf(c, ds);
  const history = savedHistory(dir);
  const log = (l: string) => c.log(`${name}: ${l}`);
  let r: TrainResult;
  try {
    r = await train(new SegModel(cfg), { train: trainingSamples(ds, data, s), val: data.val }, {
      outDir: dir, epochs: s.maxEpochs, batchSize: s.batchSize, evalBatchSize: ds === 'isbi2012-em' ? 1 : s.batchSize,
      backend: c.backend, optimizer: { kind: 'adam', lr: s.lr }, schedule: { kind: 'constant' }, monitor: 'iou', patience: s.patience,
      augment: s.augment, crop: ds === 'isbi2012-em' ? { width: s.size, height: s.size } : undefined, seed: s.seed,
      resume: history.length > 0, log, progress: false,
      onEpoch: (rec) => {
        history.push(rec);
        const ending = rec.epoch >= s.maxEpochs || badEpochs(history) >= s.patience;
        if (!ending && !c.budget.allows((1 + evalEpochs) * (est() ?? rec.seconds))) throw new BudgetStop(`stopped after epoch ${rec.epoch}: the time budget is spent`);
      },
    });
  } catch (e) {
    if (e instanceof BudgetStop) { log(`${e.message}; re-run the same command to continue`); return 'stopped'; }
    throw e;
  }
  if (!c.budget.allows(evalEpochs * (est() ?? 0))) { log('trained; not evaluated: the time budget is spent'); return 'stopped'; }

  const best = loadModel(r.bestPath);
  const test = scoreSamples(best, data.test, c.backend, { mode: 'accurate' });
  const machine = machineInfo(c.backend.name);
  const date = new Date().toISOString();
  if (model === 'unetpp-ds') writeJson(join(dir, 'pruning.json'), pruningTable(c, ds, best, data, test, machine, date));
  const h = r.history;
  const bestRec = h.find((x) => x.epoch === r.bestEpoch);
  const seconds = h.reduce((a, x) => a + x.seconds, 0);
  const sorted = h.map((x) => x.seconds).sort((a, b) => a - b);
  const medianEpochSeconds = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  const result: RunResult = {
    schema: 1, dataset: ds, model, smoke: s.smoke,
    config: { arch: best.config.arch, preset: best.config.preset, filters: best.config.filters, deepSupervision: best.config.deepSupervision, inChannels: best.config.inChannels },
    params: best.params.count(),
    paramsPaperPreset: describeModel({ ...cfg, preset: 'paper', inChannels: 1 }, { size: s.size }).params,
    gflops: Number(describeModel(cfg, { size: s.size }).gflops.toFixed(4)),
    test: { ...test, resolution: ds === 'dsb2018' ? `${s.size}x${s.size}` : '512x512 (whole images)' },
    training: {
      epochs: r.epochs, bestEpoch: r.bestEpoch, bestValIou: Number((bestRec?.iou ?? NaN).toFixed(5)), stoppedBy: r.stoppedBy,
      seconds: Math.round(seconds), secondsPerEpoch: Number((seconds / Math.max(1, h.length)).toFixed(1)),
      medianEpochSeconds: Number(medianEpochSeconds.toFixed(1)),
      stepMs: Number.isFinite(r.stepMs) ? Number(r.stepMs.toFixed(1)) : null,
    },
    schedule: scheduleOf(s, ds), curves: curvesOf(h), machine, date, command: c.command,
  };
  writeJson(join(dir, 'result.json'), result); // written last: marks the unit finished
  publish(c, dir, ds, model);
  log(`test IoU ${test.iou.mean.toFixed(4)} +- ${test.iou.std.toFixed(4)}, Dice ${test.dice.mean.toFixed(4)} (${test.n} images); ${r.epochs} epochs, ${Math.round(seconds)} s`);
  return 'finished';
}

/** L1..Ld in fast mode (the pruned networks), then the full network in accurate mode. */
function pruningTable(c: Context, ds: DatasetKey, best: SegModel, data: SplitData, accurate: ReturnType<typeof scoreSamples>,
  machine: PruningResult['machine'], date: string): PruningResult {
  const s = c.settings;
  const info = describeModel(best.config, { size: s.size });
  const x1 = timingInput(data.test, 1, s.size), x16 = timingInput(data.test, 16, s.size);
  const time = (m: SegModel, mode: 'fast' | 'accurate') => ({
    msBatch1: forwardMsPerImage(m, c.backend, { kind: mode }, x1, 1, s.size, s.timing),
    msBatch16: forwardMsPerImage(m, c.backend, { kind: mode }, x16, 16, s.size, s.timing),
  });
  const rows: LevelRow[] = info.levels.map(({ level, gflops }) => {
    const pruned = best.prune(level);
    const sc = scoreSamples(best, data.test, c.backend, { mode: 'fast', level });
    c.log(`${unitName(ds, 'unetpp-ds')}: L${level} fast IoU ${sc.iou.mean.toFixed(4)}`);
    return { level, params: pruned.params.count(), gflops: Number(gflops.toFixed(4)), ...time(pruned, 'fast'), iou: sc.iou, dice: sc.dice };
  });
  rows.push({ level: 'accurate', params: best.params.count(), gflops: Number(info.gflops.toFixed(4)), ...time(best, 'accurate'), iou: accurate.iou, dice: accurate.dice });
  return {
    schema: 1, dataset: ds, model: 'unetpp-ds', smoke: s.smoke, size: s.size, testImages: accurate.n,
    timing: { ...s.timing, statistic: 'median' }, rows, machine, date,
  };
}
