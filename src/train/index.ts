// `unetpp/train`: training (images and volumes), the demo, optimisers (planning: `unetpp/plan`;
// cross-validation: `unetpp/cv`).
export { train, NonFiniteLossError } from './trainer.js';
export type { TrainData, TrainResult } from './trainer.js';
export type { TrainOptions, Monitor } from './options.js';
export { trainVolumes, validateVolumes, volumePatchLoader, volumeDice, type VolumeTrainOptions } from './volumes.js';
export { EarlyStopping, type EarlyStopOptions } from './early-stop.js';
export { runDemo } from './demo.js';
export * as optim from '../optim/index.js';
