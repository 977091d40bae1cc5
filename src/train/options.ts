// Typed trainer options, their defaults, and validation that names the option at fault.
import type { LossKind } from '../engine/graph.js';
import type { AugmentOptions } from '../data/augmentation/augment.js';
import type { Normalize } from '../data/images/transforms.js';
import type { OptimizerOptions } from '../optim/make.js';
import type { ScheduleOptions } from '../optim/schedule.js';
import type { BackendChoice } from './backend.js';
import type { Precision } from '../engine/backend.js';
import type { EpochRecord } from './record.js';
import type { ValMetrics } from './evaluate.js';
import type { SegModel } from '../models/model.js';
import type { CheckpointMeta, TrainingRecord } from '../io/checkpoint-meta.js';

export type Monitor = 'iou' | 'dice' | 'loss';

export interface TrainOptions {
  /** Directory for best.safetensors, last.safetensors, logs and curves.png (created). */
  outDir: string;
  /** Maximum number of epochs (the run may stop earlier). */
  epochs: number;
  batchSize?: number; // 8
  /** Validation batch size (default batchSize); a last, smaller val batch gets its own plan. */
  evalBatchSize?: number;
  /**
   * true (default): drop the last incomplete training batch of each epoch (every sample is
   * still seen over epochs, as the order is reshuffled; avoids a tiny, noisy batch-norm batch and
   * a second plan). false: train on it with its own plan, compiled once.
   */
  dropLast?: boolean;
  backend?: BackendChoice; // 'auto'
  /** 'bf16': bf16 activations and convolutions, float32 master weights, optimiser state, statistics and loss (native backend on a CPU with bf16; else fp32 with a warning). */
  precision?: Precision; // 'fp32'
  loss?: {
    kind?: LossKind; // 'bce_dice'
    bceWeight?: number; // 0.5
    /** Per-head weights (deep supervision); the loss is sum(w L) / sum(w). Default: the mean. */
    headWeights?: number[];
    /** ce_dice: false = the Dice term over the foreground classes only (nnU-Net's); default true (all classes). */
    diceBackground?: boolean;
    /** true = one Dice per class over the whole batch (nnU-Net's batch_dice); default false (per image). */
    batchDice?: boolean;
  };
  optimizer?: OptimizerOptions; // Adam, lr 3e-4
  schedule?: ScheduleOptions; // constant; cosine defaults to totalSteps = epochs x batches; plateau to the monitored metric's mode
  /** Clip gradients to this global L2 norm. */
  clipNorm?: number;
  /** Metric for early stopping, the best checkpoint and plateau schedules (default 'iou'). */
  monitor?: Monitor;
  /** Early stopping patience in epochs (default 10); false: never stop early. */
  patience?: number | false;
  minDelta?: number;
  augment?: AugmentOptions | null;
  crop?: { width: number; height: number };
  /** Training draws per epoch (default: the training set's size); with crop, random patches of a few large images. */
  samplesPerEpoch?: number;
  normalize?: Normalize;
  /** Seed of data order and augmentation (the model's init and dropout seeds are in its config). */
  seed?: number;
  /** Continue from outDir/last.safetensors: weights, BN statistics, optimiser, schedule, early stopping, data and dropout positions. */
  resume?: boolean;
  /** Check every op's output for NaN/Inf (slower; the error names the first node). */
  checkFinite?: boolean;
  /** Progress bar (default: when stdout is a TTY and CI is unset). */
  progress?: boolean;
  /** Where the per-epoch summary lines go (default console.log); null: silent. */
  log?: ((line: string) => void) | null;
  /** Write curves.png every epoch (default true). */
  plot?: boolean;
  /** Stop after the epoch during which this many seconds of training have passed (the run's epochs before a
   *  resume included, so that a resumed run keeps its budget). */
  timeLimitSeconds?: number;
  /** With a time limit: after each epoch, the epochs are re-planned to end with it, from the
   *  epochs' measured time (a plan's step time, timed before training, can be off under load),
   *  and a cosine or poly schedule moves its end with them. */
  fitEpochsToTime?: boolean;
  /** Neither the time limit nor early stopping ends the run before this many epochs (default 0). */
  minEpochs?: number;
  /** Validate every this many epochs (default 1) and after the last; patience counts validations. */
  validateEvery?: number;
  /** Replaces the built-in validation (e.g. other metrics); must return the same fields. */
  validate?: (ctx: { epoch: number; model: SegModel }) => Promise<ValMetrics> | ValMetrics;
  /** Called after each epoch's checkpoint and logs are written; throwing aborts the run. */
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** What best and last say about themselves from the first epoch on (the trainer adds the
   *  training record). Default: derived from the model and `normalize` (meta-defaults.ts). */
  meta?: Omit<CheckpointMeta, 'training'>;
}

export type Resolved = Required<Omit<TrainOptions, 'clipNorm' | 'crop' | 'samplesPerEpoch' | 'normalize' | 'timeLimitSeconds' | 'validate' | 'onEpoch' | 'augment' | 'log' | 'evalBatchSize' | 'minEpochs' | 'meta' | 'fitEpochsToTime'>> &
  Pick<TrainOptions, 'clipNorm' | 'crop' | 'samplesPerEpoch' | 'normalize' | 'timeLimitSeconds' | 'validate' | 'onEpoch' | 'augment' | 'meta' | 'fitEpochsToTime'> & {
    log: ((line: string) => void) | null; evalBatchSize: number; minEpochs: number; loss: Required<Omit<NonNullable<TrainOptions['loss']>, 'headWeights'>> & { headWeights?: number[] };
  };

export function resolveOptions(o: TrainOptions): Resolved {
  const bad = (opt: string, msg: string): never => { throw new Error(`train option ${opt}: ${msg}`); };
  if (!o.outDir) bad('outDir', 'is required');
  if (o.precision !== undefined && o.precision !== 'fp32' && o.precision !== 'bf16') bad('precision', `must be fp32 or bf16, got ${String(o.precision)}`);
  if (!Number.isInteger(o.epochs) || o.epochs < 1) bad('epochs', `must be a positive integer, got ${o.epochs}`);
  const batchSize = o.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) bad('batchSize', `must be a positive integer, got ${o.batchSize}`);
  const monitor = o.monitor ?? 'iou';
  if (!['iou', 'dice', 'loss'].includes(monitor)) bad('monitor', `'${monitor}' is not iou, dice or loss`);
  const kind = o.loss?.kind ?? 'bce_dice';
  if (!['bce_dice', 'bce', 'dice', 'ce_dice', 'ce'].includes(kind)) bad('loss.kind', `'${kind}' is not bce_dice, bce, dice, ce_dice or ce`);
  const diceBackground = o.loss?.diceBackground ?? true, batchDice = o.loss?.batchDice ?? false;
  if (typeof diceBackground !== 'boolean') bad('loss.diceBackground', `must be true or false, got ${String(diceBackground)}`);
  if (typeof batchDice !== 'boolean') bad('loss.batchDice', `must be true or false, got ${String(batchDice)}`);
  if (!diceBackground && kind !== 'ce_dice')
    bad('loss.diceBackground', `false is for ce_dice (softmax); ${kind} has no background class`);
  if (batchDice && (kind === 'ce' || kind === 'bce')) bad('loss.batchDice', `${kind} has no Dice term`);
  if (o.clipNorm !== undefined && !(o.clipNorm > 0)) bad('clipNorm', `must be > 0, got ${o.clipNorm}`);
  if (o.samplesPerEpoch !== undefined && !(Number.isInteger(o.samplesPerEpoch) && o.samplesPerEpoch >= 1)) bad('samplesPerEpoch', `must be a positive integer, got ${o.samplesPerEpoch}`);
  const validateEvery = o.validateEvery ?? 1;
  if (!Number.isInteger(validateEvery) || validateEvery < 1) bad('validateEvery', `must be a positive integer, got ${o.validateEvery}`);
  const patience = o.patience ?? 10;
  if (patience !== false && (!Number.isInteger(patience) || patience < 0)) bad('patience', `must be an integer >= 0 or false, got ${o.patience}`);
  return {
    ...o,
    batchSize,
    evalBatchSize: o.evalBatchSize ?? batchSize,
    dropLast: o.dropLast ?? true,
    backend: o.backend ?? 'auto',
    precision: o.precision ?? 'fp32',
    loss: { kind, bceWeight: o.loss?.bceWeight ?? 0.5, headWeights: o.loss?.headWeights, diceBackground, batchDice },
    optimizer: o.optimizer ?? { kind: 'adam', lr: 3e-4 },
    schedule: o.schedule ?? { kind: 'constant' },
    monitor,
    patience,
    minDelta: o.minDelta ?? 0,
    seed: o.seed ?? 0,
    resume: o.resume ?? false,
    checkFinite: o.checkFinite ?? false,
    progress: o.progress ?? (!!process.stdout.isTTY && !process.env.CI),
    log: o.log === undefined ? (s: string) => console.log(s) : o.log,
    plot: o.plot ?? true,
    minEpochs: o.minEpochs ?? 0,
    validateEvery,
  };
}

/** What the checkpoints say about the loss: its kind and the options that apply to it. */
export function lossRecord(l: Resolved['loss']): NonNullable<TrainingRecord['loss']> {
  const dice = l.kind === 'dice' || l.kind === 'bce_dice' || l.kind === 'ce_dice';
  return {
    kind: l.kind, ...(l.kind === 'bce_dice' ? { bceWeight: l.bceWeight } : {}),
    ...(l.kind === 'ce_dice' ? { diceBackground: l.diceBackground } : {}), ...(dice ? { batchDice: l.batchDice } : {}),
  };
}
