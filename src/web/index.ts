/**
 * `unetpp/web`: what a web page needs to run an exported model (`unetpp export --web`) with its own
 * onnxruntime-web session: the bundle's manifest, the tiled prediction Node uses, pixel and volume
 * preparation, label maps, post-processing, NIfTI writing and DICOM reading.
 * Browser-safe: nothing here imports a Node built-in, sharp or the native addon, directly or
 * through another module (test/web/entry.test.ts bundles it for the browser to hold to that).
 * @module unetpp/web
 */

// the bundle
export { WEB_BUNDLE_FORMAT, parseWebManifest } from '../io/web-manifest.js';
export type { WebManifest, WebModelEntry, WebVolumeSpec, BlendKind } from '../io/web-manifest.js';

// sliding windows around an async runner (an ort.InferenceSession)
export { predictTiled, type TiledOptions, type TiledResult, type WindowRunner } from '../infer/tiled.js';
export { slideAsync, slideWindows, type SlideOptions, type WindowBatch } from '../infer/sliding.js';
export { paddingFor, type Padding } from '../infer/pad.js';
export { tileLayout, type Start, type TileLayout } from '../infer/tiles.js';
export { allFlips, type FlipN } from '../infer/tta.js';
export { imageField, type Field } from '../infer/grid.js';
export type { StopSignal } from '../util/stop.js';

// pictures: RGBA pixels to the model's planes, normalised as in training
export { rgbaToPlanes } from '../infer/pixels.js';
export { normalize, type Normalize } from '../data/images/transforms.js';

// probabilities to label values, and their post-processing
export { defaultLabelSpec, labelMap, labelsFromPlanes, planeValues, type LabelSpec } from '../data/labels.js';
export { applyPostprocess, type PostprocessRule } from '../infer/postprocess.js';

// volumes: prepared as training prepared its cases, predictions put back on the file's grid
export { prepareVolume, toSourceGrid } from '../data/volumes/volume-prepare.js';
export type { Geometry, PrepareOptions, PreparedVolume } from '../data/volumes/volume-prepare.js';
export { resampledDims } from '../data/volumes/resample.js';
export type { VolumeNorm, CtStats } from '../data/volumes/intensity.js';

// files: NIfTI out, DICOM in (the WebAssembly codecs load on first use, from setCodecWasmUrls' URLs)
export { encodeNifti, type EncodableVolume, type NiftiDatatype } from '../data/formats/nifti-encode.js';
export { parseDicomAsync, readFrame, setCodecWasmUrls, canDecode, syntaxLabel } from '../data/formats/dicom-codecs.js';
export type { StoredPixels, WasmCodec } from '../data/formats/dicom-codecs.js';
