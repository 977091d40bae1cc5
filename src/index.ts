/**
 * unetpp's library API: the engine, models, training, prediction, data, metrics and interchange.
 * @module unetpp
 */
export * from './engine/index.js';
export { SegModel } from './models/model.js';
export type { InferenceMode } from './models/model.js';
export { makeConfig, DEFAULT_FILTERS, WIDE_UNET_FILTERS } from './models/config.js';
export type { ModelConfig, Arch, Preset, UpsampleKind, NormKind } from './models/config.js';
export { describeModel, formatInfo } from './models/info.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as metrics from './metrics/index.js';
export * as io from './io/index.js';
export { train, NonFiniteLossError } from './train/trainer.js';
export type { TrainData, TrainResult } from './train/trainer.js';
export type { TrainOptions } from './train/options.js';
export { runDemo } from './train/demo.js';
export { createPredictor, threshold } from './infer/predict.js';
export { labelMap } from './data/labels.js';
export type { PredictorOptions, Predictor, ProbMap } from './infer/predict.js';
export { imageField, type Field } from './infer/grid.js';
export { predictImageFile, predictPaths, predictVolume } from './infer/files.js';
export { predictInput, predictWith, inputFromPaths, InputError } from './infer/predict-input.js';
export type { PredictInput, PredictInputOptions, Prediction, ImagePrediction, VolumePrediction } from './infer/predict-input.js';
export { PredictorCache } from './infer/predictor-cache.js';
export type { PredictorSettings } from './infer/predictor-cache.js';
export { checkpointEntry, ensembleEntry, type ModelEntry } from './infer/model-entry.js';
export { writePrediction, maskPaths, outputStem } from './infer/write-prediction.js';
export { evaluateFolder } from './infer/evaluate.js';
export { runBench } from './bench/index.js';
export { createEnsemble } from './infer/ensemble.js';
export { makeFolds, runFold, summarize as summarizeFolds } from './cv/index.js';
export type { Folds, FoldSpec, FoldResult, CvSummary } from './cv/index.js';
// Types named by the exports above, public so that the API reference can link them.
export type { ModelInfo, BlockInfo, LevelInfo } from './models/info.js';
export type { BuildOptions } from './models/build.js';
export type { TrainLoader } from './train/trainer.js';
export type { BackendChoice } from './train/backend.js';
export type { EpochRecord } from './train/record.js';
export type { DemoOptions, DemoResult } from './train/demo.js';
export type { PredictBackend, Tiling, RunOptions } from './infer/predict.js';
export type { OnnxRuntimeBackend, OrtModule, OrtSession } from './infer/onnx-runtime.js';
export type { NetworkJob } from './infer/predict-input.js';
export type { Evaluation, EvaluateOptions } from './infer/evaluate.js';
export type { PredictedFile, FilePredictOptions } from './infer/files.js';
export type { WriteOptions } from './infer/write-prediction.js';
export type { BlendKind } from './io/web-manifest.js';
export type { StopSignal } from './util/stop.js';
export type { BenchOptions } from './bench/index.js';
// Also by subpath: 'unetpp/data', 'unetpp/train', 'unetpp/infer', 'unetpp/metrics', 'unetpp/io', and the
// HTTP service and the queue, whose optional packages (fastify, bullmq) only they load: 'unetpp/serve', 'unetpp/queue'.
