// The training loop: batches from BatchLoader, one train Plan per batch shape, optimiser and
// schedule steps, validation every epoch, early stopping, best/last checkpoints, logs, curves,
// and exact resume (see state.ts for what is saved). Both checkpoints carry the full meta from
// the first epoch (training status 'running'; 'finished' once the run ends), so that the
// checkpoints of a run that is still going, was stopped or was killed predict as they are.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BatchLoader, type LoaderState } from '../data/loaders/loader.js';
import type { LoadedSample } from '../data/images/folder.js';
import { NonFiniteError } from '../engine/plan.js';
import type { SegModel } from '../models/model.js';
import { readCheckpointMeta, saveModel, updateMeta } from '../io/checkpoint.js';
import type { CheckpointMeta, TrainingRecord } from '../io/checkpoint-meta.js';
import { completeMeta } from '../io/meta-defaults.js';
import { validateMeta } from '../io/meta-validate.js';
import { makeOptimizer } from '../optim/make.js';
import { makeSchedule, applyLr, type LrSchedule, type ScheduleOptions } from '../optim/schedule.js';
import { clipGradNorm } from '../optim/clip.js';
import type { Grad } from '../optim/types.js';
import { resolveBackend } from './backend.js';
import { EarlyStopping } from './early-stop.js';
import { evaluate, validationLoaders, type ValMetrics } from './evaluate.js';
import { writeLogs } from './log.js';
import { lossRecord, resolveOptions, type Resolved, type TrainOptions, type Monitor } from './options.js';
import { PlanCache } from './plans.js';
import { writeCurvesPng } from './plot.js';
import { makeProgress } from './progress.js';
import type { EpochRecord } from './record.js';
import { BEST, LAST, loadLast, saveLast } from './state.js';

export interface TrainData {
  train: LoadedSample[];
  val: LoadedSample[];
  /** Batches to train on instead of data.train (e.g. 3D patches: data/loaders/patch-loader.ts); it
   *  must be resumable as BatchLoader is (getState/setState). */
  loader?: TrainLoader;
}

/** What the loop needs of a batch source. Batches are [n, c, ...spatial] and [n, k, ...spatial]. */
export interface TrainLoader {
  readonly length: number;
  getState(): LoaderState;
  setState(s: LoaderState): void;
  /** ignore: [n, ...spatial], 1 where a voxel is left out of the loss (an ignore label). */
  epoch(): AsyncGenerator<{
    x: Float32Array; y: Float32Array; ignore?: Uint8Array; n: number; c: number; k: number; h: number; w: number; d?: number;
  }>;
}

/** Spatial sizes of a batch: [h, w], or [d, h, w] for volumes. */
const spatialOf = (b: { h: number; w: number; d?: number }) => (b.d === undefined ? [b.h, b.w] : [b.d, b.h, b.w]);

export interface TrainResult {
  /** Epochs completed (including those before a resume). */
  epochs: number;
  bestEpoch: number;
  /** The monitored metric's best value. */
  best: number | null;
  stoppedBy: 'epochs' | 'early-stopping' | 'time';
  history: EpochRecord[];
  /** Median wall time of a training step (forward + backward + optimiser), ms, this session. */
  stepMs: number;
  /** The backend and precision that ran (bf16 falls back to fp32 where the CPU lacks it). */
  backend: string;
  precision: 'fp32' | 'bf16';
  bestPath: string;
  lastPath: string;
}

/** A NaN/Inf loss or weight: the run stops, the last checkpoint on disk is left as it was. */
export class NonFiniteLossError extends Error {
  constructor(message: string, readonly epoch: number, readonly step: number, readonly node?: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

const monitorMode = (m: Monitor) => (m === 'loss' ? 'min' : 'max');
const monitored = (m: Monitor, v: ValMetrics) => (m === 'loss' ? v.valLoss : v[m]);

function sameConfig(a: object, b: object): boolean {
  const norm = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([x], [y]) => x.localeCompare(y))));
  return norm(a) === norm(b);
}

function checkParamsFinite(model: SegModel, epoch: number, step: number): void {
  for (const name of model.params.names()) {
    const d = model.params.get(name).data;
    for (let i = 0; i < d.length; i++)
      if (!Number.isFinite(d[i])) throw new NonFiniteLossError(`training diverged: param ${name} is non-finite after epoch ${epoch} (step ${step}); the last checkpoint was left as it was`, epoch, step);
  }
}

/** The meta the checkpoints will carry (checked now, not after the first epoch). */
function runMeta(model: SegModel, o: TrainOptions): Omit<CheckpointMeta, 'training'> {
  const image = { kind: 'image' as const, normalize: o.normalize ?? { kind: 'none' as const } };
  const given = o.meta ?? completeMeta(model.config, model.config.dims === 2 ? { input: image } : {}, 'train');
  const { training: _, ...meta } = validateMeta({ ...given, model: model.config }, 'train option meta');
  return meta;
}

/**
 * The epochs that end with the time limit, from the mean time of the epochs run so far (the
 * last one counting as much as all before: validation or load may change), never fewer than
 * the epochs done nor more than ten times those asked for; a schedule over the run moves its end with them.
 */
function refitEpochs(o: Resolved, asked: number, history: EpochRecord[], started: number, epoch: number, steps: number,
  schedule: LrSchedule): void {
  if (o.timeLimitSeconds === undefined) return;
  const mean = history.reduce((t, r) => t + r.seconds, 0) / history.length;
  const perEpoch = (mean + history[history.length - 1].seconds) / 2;
  const left = o.timeLimitSeconds - (Date.now() - started) / 1000;
  // at most 10x the epochs asked for: a plan timed under load, or a flag that makes a step cheaper than the
  // planned one (--batch-size), is off by a few times; the budget is what the user asked to fill
  const epochs = Math.min(10 * asked, Math.max(epoch, epoch + Math.floor(left / perEpoch)));
  if (epochs === o.epochs) return;
  o.log?.(`time limit: ${epochs} epochs instead of ${o.epochs} (an epoch takes ${perEpoch.toFixed(1)} s; ${Math.max(0, left).toFixed(0)} s left)`);
  o.epochs = epochs;
  schedule.setTotalSteps?.(epochs * steps);
}

/**
 * Trains `model` in place on loaded samples (or any resumable batch source, `data.loader`): one compiled
 * plan per batch shape, validation every `validateEvery` epochs, early stopping on `monitor`, and
 * `best.safetensors` / `last.safetensors` (with the state for an exact `resume`) in `options.outDir`.
 * Volumes: `trainVolumes` (`unetpp/train`).
 */
export async function train(model: SegModel, data: TrainData, options: TrainOptions): Promise<TrainResult> {
  const o = resolveOptions(options);
  const asked = o.epochs;
  const meta = runMeta(model, o);
  mkdirSync(o.outDir, { recursive: true });
  const backend = await resolveBackend(o.backend, o.precision, model.config.dims);
  if (!data.train.length && !data.loader) throw new Error('train: no training samples');
  if (!data.val.length && !o.validate) throw new Error('train: no validation samples (early stopping and the best checkpoint need them)');
  const trainLoader: TrainLoader = data.loader ?? new BatchLoader(data.train, {
    batchSize: o.batchSize, shuffle: true, seed: o.seed, augment: o.augment ?? null, crop: o.crop, normalize: o.normalize, dropLast: o.dropLast,
    samplesPerEpoch: o.samplesPerEpoch,
  });
  if (trainLoader.length === 0) throw new Error(`train: ${data.loader ? 'the loader gives' : `${data.train.length} training samples make`} no full batch of ${o.batchSize} (lower batchSize or set dropLast: false)`);
  const plans = new PlanCache(model, backend, o.loss, o.checkFinite);
  // one loader per image size: validation images keep their own size (padded in evaluate)
  const valLoaders = o.validate ? []
    : validationLoaders(data.val, model, plans, { batchSize: o.evalBatchSize, normalize: o.normalize });
  const opt = makeOptimizer(o.optimizer);
  const schedOpts: ScheduleOptions = o.schedule.kind === 'plateau' ? { mode: monitorMode(o.monitor), ...o.schedule } : o.schedule;
  const schedule = makeSchedule(schedOpts, opt.lr, o.epochs * trainLoader.length);
  const early = new EarlyStopping({ mode: monitorMode(o.monitor), patience: o.patience === false ? 0 : o.patience, minDelta: o.minDelta });
  let history: EpochRecord[] = [];
  let epoch0 = 0;
  let globalStep = 0;

  if (o.resume) {
    const r = loadLast(o.outDir);
    if (!sameConfig(r.model.config, model.config))
      throw new Error(`resume: ${join(o.outDir, LAST)} was trained with model config ${JSON.stringify(r.model.config)}, not ${JSON.stringify(model.config)}`);
    // a run trains with one loss (checkpoints written before the loss was recorded have none to compare)
    const lossThen = readCheckpointMeta(join(o.outDir, LAST)).meta.training?.loss;
    if (lossThen && !sameConfig(lossThen, lossRecord(o.loss)))
      throw new Error(`resume: ${join(o.outDir, LAST)} was trained with loss ${JSON.stringify(lossThen)}, ` +
        `not ${JSON.stringify(lossRecord(o.loss))}`);
    for (const name of model.params.names()) model.params.get(name).data.set(r.model.params.get(name).data);
    opt.loadState(r.optim);
    if (r.state.schedule.kind !== schedule.kind) throw new Error(`resume: the checkpoint used a '${r.state.schedule.kind}' schedule, the options '${schedule.kind}'`);
    schedule.loadState(r.state.schedule.state);
    early.loadState(r.state.early);
    trainLoader.setState(r.state.loader);
    plans.restoreSteps(r.state.planSteps);
    history = r.state.history;
    epoch0 = r.state.epoch;
    if (o.fitEpochsToTime && r.state.epochs) o.epochs = r.state.epochs;
    globalStep = r.state.globalStep;
    o.log?.(`resumed from ${join(o.outDir, LAST)} after epoch ${epoch0}`);
  }

  const progress = makeProgress(o.progress, (s) => o.log?.(s));
  // the time limit counts the whole run: epochs before a resume (their recorded seconds) and this process's
  const started = Date.now() - 1000 * history.reduce((t, r) => t + r.seconds, 0);
  // a resumed run may have another time limit: its epochs are fitted again before it goes on
  if (o.fitEpochsToTime && history.length) refitEpochs(o, asked, history, started, epoch0, trainLoader.length, schedule);
  const stepTimes: number[] = [];
  let stoppedBy: TrainResult['stoppedBy'] = 'epochs';
  if (epoch0 >= o.minEpochs && epoch0 > 0 && early.shouldStop() && o.patience !== false) stoppedBy = 'early-stopping';
  else if (epoch0 > 0 && epoch0 >= o.minEpochs && o.timeLimitSeconds !== undefined && (Date.now() - started) / 1000 >= o.timeLimitSeconds) stoppedBy = 'time';

  for (let epoch = epoch0 + 1; epoch <= o.epochs && stoppedBy === 'epochs'; epoch++) {
    const t0 = Date.now();
    progress.start(epoch, o.epochs, trainLoader.length);
    let lossSum = 0, steps = 0;
    let dataMs = 0, stepMs = 0, updateMs = 0, waitFrom = performance.now();
    for await (const b of trainLoader.epoch()) {
      const stepNo = steps + 1;
      const ts = performance.now();
      dataMs += ts - waitFrom;  // the next batch is built while the loop waits here (the step runs on this thread)
      const tp = plans.trainPlan([b.n, b.c, ...spatialOf(b)], [b.n, b.k, ...spatialOf(b)], !!b.ignore);
      applyLr(schedule, opt);
      let outs;
      try {
        outs = tp.plan.run({ x: b.x, target: b.y, ...(b.ignore ? plans.maskFeeds(b.ignore, b.n, b.k) : {}) });
      } catch (e) {
        if (e instanceof NonFiniteError)
          throw new NonFiniteLossError(`non-finite value at epoch ${epoch}, step ${stepNo} (global step ${globalStep + 1}), first produced by node ${e.node.name} (op ${e.node.op}); the last checkpoint was left as it was`, epoch, stepNo, e.node.name);
        throw e;
      }
      const tu = performance.now();
      stepMs += tu - ts;
      const loss = outs[0].data[0];
      if (!Number.isFinite(loss))
        throw new NonFiniteLossError(`non-finite loss (${loss}) at epoch ${epoch}, step ${stepNo} (global step ${globalStep + 1}); rerun with checkFinite to find the node; the last checkpoint was left as it was`, epoch, stepNo);
      const grads = new Map<string, Grad>();
      tp.gradNames.forEach((n, i) => grads.set(n, backend.download(outs[i + 1], 'plain')));
      if (o.clipNorm !== undefined) clipGradNorm(grads.values(), o.clipNorm);
      opt.step(model.params, grads);
      schedule.onStep();
      globalStep++;
      steps++;
      lossSum += loss;
      stepTimes.push(performance.now() - ts);
      updateMs += performance.now() - tu;
      progress.tick(loss);
      waitFrom = performance.now();
    }
    checkParamsFinite(model, epoch, steps);
    // epochs between validations log NaN (null in log.jsonl) and leave early stopping and the best checkpoint alone
    const validating = epoch % o.validateEvery === 0 || epoch === o.epochs;
    const tv = performance.now();
    const val: ValMetrics = !validating ? { valLoss: NaN, iou: NaN, dice: NaN, images: 0 }
      : o.validate ? await o.validate({ epoch, model }) : await evaluate(model, valLoaders, plans, backend);
    const validationMs = performance.now() - tv;
    const value = monitored(o.monitor, val);
    if (validating && o.monitor === 'loss' && !Number.isFinite(value))
      throw new NonFiniteLossError(`non-finite validation loss at epoch ${epoch}; the last checkpoint was left as it was`, epoch, steps);
    if (validating) schedule.onEpoch(value);
    const improved = validating && early.update(epoch, value);
    const record: EpochRecord = {
      epoch, lr: opt.lr, trainLoss: lossSum / steps, valLoss: val.valLoss, iou: val.iou, dice: val.dice,
      best: improved, seconds: (Date.now() - t0) / 1000, steps,
      ...secondsOf({ stepSeconds: stepMs, dataSeconds: dataMs, updateSeconds: updateMs, validationSeconds: validationMs }),
    };
    history = [...history, record];
    if (o.fitEpochsToTime) refitEpochs(o, asked, history, started, epoch, trainLoader.length, schedule);
    const training: TrainingRecord = {
      epoch, epochs: o.epochs, monitor: o.monitor, ...(Number.isFinite(value) ? { value } : {}), status: 'running',
      loss: lossRecord(o.loss),
    };
    if (improved) saveModel(join(o.outDir, BEST), model, { ...meta, training });
    saveLast(o.outDir, model, {
      version: 1, epoch, globalStep, loader: trainLoader.getState(), planSteps: plans.trainSteps(),
      schedule: { kind: schedule.kind, state: schedule.state() }, early: early.state(), history,
      ...(o.fitEpochsToTime ? { epochs: o.epochs } : {}),
    }, opt.state(), { ...meta, training });
    writeLogs(o.outDir, history);
    if (o.plot) await writeCurvesPng(join(o.outDir, 'curves.png'), history);
    progress.end(`epoch ${epoch}/${o.epochs} loss ${record.trainLoss.toFixed(4)}` + (validating ? ` val loss ${val.valLoss.toFixed(4)} iou ${val.iou.toFixed(4)} dice ${val.dice.toFixed(4)}` : '') +
      `${improved ? ' *' : ''} (${record.seconds.toFixed(1)} s)`);
    await o.onEpoch?.(record);
    if (epoch < o.minEpochs) continue;
    if (validating && o.patience !== false && early.shouldStop()) stoppedBy = 'early-stopping';
    else if (o.timeLimitSeconds !== undefined && (Date.now() - started) / 1000 >= o.timeLimitSeconds) stoppedBy = 'time';
  }
  if (stoppedBy === 'early-stopping') o.log?.(`early stopping: no ${o.monitor} improvement for ${early.bad} epochs; best epoch ${early.bestEpoch} (${early.best})`);
  // the run has ended: best and last say so (a run that throws or is killed leaves them 'running')
  const finished = (m: CheckpointMeta): CheckpointMeta => ({ ...m, training: { ...(m.training ?? { epoch: epoch0 }), status: 'finished', stoppedBy } });
  for (const f of [BEST, LAST]) if (existsSync(join(o.outDir, f))) updateMeta(join(o.outDir, f), finished);
  const sorted = [...stepTimes].sort((a, b) => a - b);
  return {
    epochs: history.length ? history[history.length - 1].epoch : epoch0, bestEpoch: early.bestEpoch, best: early.best, stoppedBy, history,
    stepMs: sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN,
    backend: backend.name, precision: backend.precision,
    bestPath: join(o.outDir, BEST), lastPath: join(o.outDir, LAST),
  };
}

/** Milliseconds to seconds, rounded to the millisecond. */
function secondsOf<K extends string>(ms: Record<K, number>): Record<K, number> {
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(v as number) / 1000])) as Record<K, number>;
}
