// The backend prediction runs on, and one line saying which and why: the native addon where it
// loads; else onnxruntime-node where it is installed (the platforms without a prebuilt addon);
// else the reference backend. `onnx` asks for onnxruntime-node whatever loads.
import type { Precision } from '../engine/backend.js';
import { MissingPackageError } from '../util/optional-import.js';
import { backendsByDims, type BackendName } from './backends-by-dims.js';
import type { BackendFor } from './predictor-cache.js';
import type { PredictBackend } from './predict.js';
import { isOnnxRuntime, loadOnnxRuntime } from './onnx-runtime.js';

export type PredictBackendName = BackendName | 'onnx';

/** Where nothing faster loads: the fix for prediction. */
export const ORT_HINT = 'npm install onnxruntime-node for faster prediction';

export async function predictBackend(name: PredictBackendName = 'auto', precision: Precision = 'fp32', dims: 2 | 3 = 2): Promise<PredictBackend> {
  const { getBackend } = await import('../engine/backends/select.js');
  const { tryLoadAddon } = await import('../engine/backends/native/addon.js');
  if (name === 'onnx' || (name === 'auto' && !tryLoadAddon().addon)) {
    if (precision === 'bf16') process.stderr.write('unetpp: warning: precision bf16 needs the native backend; running in fp32\n');
    try {
      return await loadOnnxRuntime(name === 'onnx' ? 'chosen with --backend onnx' : tryLoadAddon().reason);
    } catch (e) {
      if (name === 'onnx' || !(e instanceof MissingPackageError)) throw e;
    }
  }
  return getBackend(name as BackendName, precision, 'infer', dims);
}

/** The prediction backend of a service or queue worker, per model rank: onnxruntime-node for every rank when
 *  predictBackend picks it, else the engine backend of each rank, made on first use. */
export async function predictBackendsByDims(name: PredictBackendName = 'auto', precision: Precision = 'fp32'): Promise<BackendFor> {
  const { tryLoadAddon } = await import('../engine/backends/native/addon.js');
  if (name === 'onnx' || (name === 'auto' && !tryLoadAddon().addon)) {
    const b = await predictBackend(name, precision);
    if (isOnnxRuntime(b)) return () => b;
  }
  return backendsByDims(name as BackendName, precision, 'infer');
}

/** e.g. 'onnx (onnxruntime-node 1.30.0; native addon not built (...))' or the engine's line. */
export async function describePredictBackend(b: PredictBackend): Promise<string> {
  if (isOnnxRuntime(b)) return `onnx (onnxruntime-node ${b.version}; ${b.reason})`;
  const { describeBackend } = await import('../engine/backends/describe.js');
  const { tryLoadAddon } = await import('../engine/backends/native/addon.js');
  return `${describeBackend(b)}${tryLoadAddon().addon ? '' : `; ${ORT_HINT}`}`;
}

/** What `unetpp info` says: the backend (native), or without it, the ones training and prediction run on, with why. */
export async function describeBackends(): Promise<string[]> {
  const { describeBackend } = await import('../engine/backends/describe.js');
  const { tryLoadAddon } = await import('../engine/backends/native/addon.js');
  if (tryLoadAddon().addon) return [`backend: ${describeBackend()}`];
  let predict: string;
  try {
    predict = await describePredictBackend(await loadOnnxRuntime('the native addon does not load'));
  } catch (e) {
    if (!(e instanceof MissingPackageError)) throw e;
    predict = `reference (${ORT_HINT})`;
  }
  return [`training: ${describeBackend()}`, `prediction: ${predict}`];
}
