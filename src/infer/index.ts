/**
 * `unetpp/infer`: prediction (images and volumes, tiles, TTA, ensembles), post-processing, evaluation.
 * @module unetpp/infer
 */
export { createPredictor, threshold } from './predict.js';
export { labelMap } from '../data/labels.js';
export type { PredictorOptions, Predictor, ProbMap } from './predict.js';
export { imageField, type Field } from './grid.js';
export { predictImageFile, predictPaths, predictVolume, listInputs } from './files.js';
export { predictInput, predictWith, inputFromPaths, InputError } from './predict-input.js';
export type { PredictInput, PredictInputOptions, Prediction, ImagePrediction, VolumePrediction } from './predict-input.js';
export { PredictorCache } from './predictor-cache.js';
export type { PredictorSettings } from './predictor-cache.js';
export { checkpointEntry, ensembleEntry, type ModelEntry } from './model-entry.js';
export { createEnsemble } from './ensemble.js';
export { writePrediction, maskPaths, outputStem } from './write-prediction.js';
export { makeOverlay } from './overlay.js';
export { predictTiled, type TiledOptions } from './tiled.js';
export { connectedComponents, keepLargest, removeSmall, type Connectivity, type ComponentOptions } from './components.js';
export { applyPostprocess, applyRule, describeRule, type PostprocessRule } from './postprocess.js';
export { choosePostprocess, type ValidationCase, type ClassValues, type PostprocessChoice } from './postprocess-choice.js';
export { evaluateFolder } from './evaluate.js';
export { evaluateVolumes, predictSplit, type VolumeEvaluation } from './evaluate-volumes.js';
// Types named by the exports above, public so that the API reference can link them.
export type { PredictBackend, Tiling, RunOptions } from './predict.js';
export type { OnnxRuntimeBackend, OrtModule, OrtSession } from './onnx-runtime.js';
export type { PyTorchMetaFlags } from './model-entry.js';
export type { NetworkJob } from './predict-input.js';
export type { BackendFor } from './predictor-cache.js';
export type { Evaluation, EvaluateOptions } from './evaluate.js';
export type { PredictedFile, FilePredictOptions } from './files.js';
export type { WriteOptions } from './write-prediction.js';
export type { TriedRule, ChoiceOptions } from './postprocess-choice.js';
export type { Components } from './components.js';
export type { PredictedCase, VolumeEvaluateOptions, SplitOptions } from './evaluate-volumes.js';
export type { TiledResult, WindowRunner } from './tiled.js';
export type { BlendKind } from '../io/web-manifest.js';
export { SharedStop, StoppedError, deadlineStop, anyStop, allStop, type StopSignal } from '../util/stop.js';
export { predictBackend, predictBackendsByDims, type PredictBackendName } from './predict-backend.js';
