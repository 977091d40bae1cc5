/**
 * `unetpp/train`: training (images and volumes), the demo, optimisers (planning: `unetpp/plan`;
 * cross-validation: `unetpp/cv`).
 * @module unetpp/train
 */
export { train, NonFiniteLossError } from './trainer.js';
export type { TrainData, TrainResult } from './trainer.js';
export type { TrainOptions, Monitor } from './options.js';
export { trainVolumes, validateVolumes, volumePatchLoader, volumeDice, type VolumeTrainOptions } from './volumes.js';
export { EarlyStopping, type EarlyStopOptions } from './early-stop.js';
export { runDemo } from './demo.js';
export * as optim from '../optim/index.js';
// Types named by the exports above, public so that the API reference can link them.
export type { TrainLoader } from './trainer.js';
export type { BackendChoice } from './backend.js';
export type { EpochRecord } from './record.js';
export type { DemoOptions, DemoResult } from './demo.js';
export type { ValMetrics } from './evaluate.js';
export type { EarlyStopState } from './early-stop.js';
