// Optimisers, gradient clipping and learning-rate schedules.
export { Adam, adamUpdate } from './adam.js';
export type { AdamOptions } from './adam.js';
export { Sgd, sgdUpdate } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export type { AdamHyper, SgdHyper } from './types.js';
export { clipGradNorm, globalNorm } from './clip.js';
export { ConstantLr, CosineLr, PolyLr, PlateauLr, makeSchedule, applyLr } from './schedule.js';
export type { LrSchedule, CosineOptions, PolyOptions, PlateauOptions, ScheduleOptions } from './schedule.js';
export type { Optimizer, OptimState, Grad } from './types.js';
export { makeOptimizer } from './make.js';
export type { OptimizerOptions } from './make.js';
