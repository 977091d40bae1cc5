/**
 * Batch prediction and cross-validation on BullMQ (Redis).
 * @module unetpp/queue
 */
export { startWorker, type WorkerOptions, type RunningWorker } from './worker.js';
export { submitPredictions, type SubmitOptions, type SubmitReport, type SubmitStatus } from './submit.js';
export { submitFolds } from './cv-submit.js';
export { PREDICT_QUEUE, CV_QUEUE, connectRedis } from './connection.js';
export type { PredictJob, PredictResult } from './jobs.js';
