/**
 * The HTTP service as a library: a registry of models, then createService(...).app.listen().
 * @module unetpp/serve
 */
export { createService, type ServeOptions, type Service } from './app.js';
export { ModelRegistry, type ServedModel, type PredictorSettings } from './models.js';
export { MicroBatcher, type BatcherOptions } from './batcher.js';
export { HttpError } from './errors.js';
// Types named by the exports above, public so that the API reference can link them.
export type { ErrorKind } from './errors.js';
export type { ConnectionLimits } from './timeouts.js';
export type { PoolOptions, WorkerPool } from './pool.js';
export type { ServeMetrics } from './metrics.js';
export type { JobRunner } from './runner.js';
export type { DrainReport } from './drain.js';
export type { RunBatch } from './batcher.js';
export type { ModelSource } from './sources.js';
export type { PredictJob, JobResult } from './predict-job.js';
export type { BackendName } from '../infer/backends-by-dims.js';
export type { PredictBackendName } from '../infer/predict-backend.js';
export type { PyTorchMetaFlags } from '../infer/model-entry.js';
