/**
 * Weights and model interchange: safetensors, our checkpoints, PyTorch state_dicts, ONNX.
 * @module unetpp/io
 */
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors, writeFileAtomicSync, SafetensorsError } from './safetensors.js';
export type { SafetensorsFile, TensorIn, TensorOut, ReadDtype, WriteDtype } from './safetensors.js';
export { saveModel, loadModel, loadModelWithMeta, readCheckpointMeta, updateMeta, upgradeV1, CHECKPOINT_FORMAT } from './checkpoint.js';
export { META_KEY, META_VERSION } from './checkpoint-meta.js';
export type { CheckpointMeta, ImageInput, VolumeInput, PostprocessRule, TrainingRecord, Provenance } from './checkpoint-meta.js';
export { validateMeta } from './meta-validate.js';
export { completeMeta, defaultLabels, defaultInput, provenance } from './meta-defaults.js';
export { readMetaSidecar, importedMeta, type PartialMeta } from './meta-sidecar.js';
export { importPyTorch, exportPyTorch, inferPyTorchConfig, toStateDict, pyTorchMetadata } from './pytorch.js';
export type { ImportOptions } from './pytorch.js';
export { WeightsMismatchError } from './params-match.js';
export { toOnnx, exportOnnx } from './onnx.js';
export type { OnnxMode, OnnxOptions } from './onnx.js';
export { writeWebBundle, buildWebBundle, WEB_BUNDLE_FORMAT } from './web-bundle.js';
export type { WebManifest, WebModelEntry, WebBundleOptions } from './web-bundle.js';
export { peerParity, formatParity, worstRel } from './peer-parity.js';
export type { ParityReport, Diff } from './peer-parity.js';
// Types named by the exports above, public so that the API reference can link them.
export type { WebVolumeOptions } from './web-bundle.js';
export type { WebVolumeSpec, BlendKind } from './web-manifest.js';
export { SIDECAR_FIELDS } from './meta-sidecar.js';
