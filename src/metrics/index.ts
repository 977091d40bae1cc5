/**
 * Segmentation metrics on host arrays (no engine dependency).
 * @module unetpp/metrics
 */
export * from './distance.js';
export { percentile } from '../data/percentile.js'; // public here since the metrics first had it
export * from './segmentation.js';
export * from './summary.js';
export * from './volume.js';
export * from './stats.js';
