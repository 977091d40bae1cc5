// onnxruntime-node as a prediction backend, where the native addon does not load (macOS, Windows,
// linux arm64, a Linux without the prebuilt package) or when asked for (--backend onnx): the
// predictor exports its model to ONNX in memory (io/onnx.ts) and onnxruntime's CPU provider runs
// the windows; padding, windows, flips and post-processing stay unetpp's own (predict.ts).
// onnxruntime-node is an optional peer: imported on first use, with an install hint when absent.
import { optionalImport } from '../util/optional-import.js';

/** The part of onnxruntime-node used here, typed by hand: the package may not be installed. */
export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: { versions: { node?: string; common?: string } };
}

/** Not an engine backend (it runs whole ONNX graphs, not kernels): createPredictor tells them apart by name. */
export interface OnnxRuntimeBackend {
  readonly name: 'onnx';
  readonly precision: 'fp32';
  /** onnxruntime-node's version. */
  readonly version: string;
  /** Why it runs: chosen, or why the native addon did not load. */
  readonly reason: string;
  readonly ort: OrtModule;
  /** Session options (threads from UNETPP_THREADS when set, as the native backend's). */
  readonly sessionOptions: Record<string, unknown>;
}

export const isOnnxRuntime = (b: { readonly name: string }): b is OnnxRuntimeBackend => b.name === 'onnx' && 'ort' in b;

/** onnxruntime-node loaded as a backend; a MissingPackageError with the install command when it is absent. */
export async function loadOnnxRuntime(reason: string): Promise<OnnxRuntimeBackend> {
  const ort = (await optionalImport(() => import('onnxruntime-node'), 'onnxruntime-node',
    'prediction on the ONNX runtime (--backend onnx, or where the native backend does not load)')) as unknown as OrtModule;
  const threads = Number(process.env.UNETPP_THREADS);
  const sessionOptions = {
    executionProviders: ['cpu'], executionMode: 'sequential', graphOptimizationLevel: 'all', interOpNumThreads: 1,
    ...(Number.isInteger(threads) && threads > 0 ? { intraOpNumThreads: threads } : {}),
  };
  return { name: 'onnx', precision: 'fp32', version: ort.env.versions.node ?? ort.env.versions.common ?? '?', reason, ort, sessionOptions };
}
