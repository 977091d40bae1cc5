// The HTTP service as a library: a registry of models, then createService(...).app.listen().
export { createService, type ServeOptions, type Service } from './app.js';
export { ModelRegistry, type ServedModel, type PredictorSettings } from './models.js';
export { MicroBatcher, type BatcherOptions } from './batcher.js';
export { HttpError } from './errors.js';
