// `unetpp/infer`: prediction (images and volumes, tiles, TTA, ensembles), post-processing, evaluation.
export { createPredictor, threshold } from './predict.js';
export { labelMap } from '../data/labels.js';
export type { PredictorOptions, Predictor, ProbMap, InputImage } from './predict.js';
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
