// Messages between the volume page and its worker (worker.ts). The voxels and the labels are
// transferred, not copied.
import type { WebManifest, WebModelEntry, Geometry } from '../../../src/web/index.js';

export interface RunRequest {
  type: 'run';
  manifest: WebManifest;
  entry: WebModelEntry;
  /** The model's ONNX bytes (the worker keeps the session for the next run of the same file). */
  model: ArrayBuffer | null;
  /** Absolute URL of onnxruntime-web's .wasm/.mjs files, served with the page. */
  ortBase: string;
  threads: number;
  /** 'wasm' (default) or 'webgpu' where the browser has it. */
  backend: 'wasm' | 'webgpu';
  /** [C, Z, Y, X] as read from the files (the worker crops, resamples and normalises as training did). */
  data: Float32Array;
  /** The files' grid: the labels come back on it. */
  geometry: Geometry;
}

export type WorkerReply =
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; labels: Uint8Array; windows: number; runMs: number; loadMs: number; threads: number; /** the grid the network saw, X Y Z */ grid: number[] }
  | { type: 'error'; message: string };
