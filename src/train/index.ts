// `unetpp/train`: training (images and volumes), the demo, dataset planning and cross-validation.
export { train, NonFiniteLossError } from './trainer.js';
export type { TrainData, TrainResult } from './trainer.js';
export type { TrainOptions, Monitor } from './options.js';
export { trainVolumes, validateVolumes, volumePatchLoader, volumeDice, type VolumeTrainOptions } from './volumes.js';
export { EarlyStopping, type EarlyStopOptions } from './early-stop.js';
export { runDemo } from './demo.js';
export { planDataset, readPlan, derivePlan, fingerprintDataset, planTable, parseDuration } from '../plan/index.js';
export type { PlanDatasetOptions, PlannerOptions } from '../plan/index.js';
export { makeFolds, readFolds, writeFolds, runFold, foldDir, summarize as summarizeFolds, summaryMarkdown, writeSummary } from '../cv/index.js';
export type { Folds, FoldSpec, FoldResult, CvSummary } from '../cv/index.js';
export * as optim from '../optim/index.js';
