// The volume runner, off the page's thread: prepare the case as training did (crop to the
// non-zero box, resample to the training spacing, normalise each modality: src/data's code),
// slide the model's windows over the volume (3D models) or over every axial slice (2D models)
// with the shared N-D tiling of src/infer, turn the planes into the dataset's label values,
// post-process them by the bundle's rules and put them back on the file's grid, as `unetpp
// predict` does. Cancelling = the page ends this worker.
import * as ort from 'onnxruntime-web';
import {
  applyPostprocess, defaultLabelSpec, labelsFromPlanes, predictTiled, prepareVolume, toSourceGrid,
} from '../../../src/web/index.js';
import type { RunRequest, WorkerReply } from './protocol.js';

const post = (m: WorkerReply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let cached: { key: string; session: ort.InferenceSession } | null = null;

async function sessionFor(r: RunRequest): Promise<{ session: ort.InferenceSession; loadMs: number }> {
  const key = `${r.entry.file}@${r.backend}`;
  if (cached?.key === key && !r.model) return { session: cached.session, loadMs: 0 };
  if (!r.model) throw new Error('no model bytes were sent');
  const t0 = performance.now();
  ort.env.wasm.wasmPaths = r.ortBase;
  ort.env.wasm.numThreads = r.threads;
  await cached?.session.release();
  const session = await ort.InferenceSession.create(new Uint8Array(r.model), { executionProviders: [r.backend], graphOptimizationLevel: 'all' });
  cached = { key, session };
  return { session, loadMs: performance.now() - t0 };
}

async function run(r: RunRequest): Promise<void> {
  const m = r.manifest, spec = m.volume!;
  const C = m.input.channels, K = m.output.classes;
  const softmax = m.output.activation === 'softmax';
  const labelSpec = spec.labels ?? defaultLabelSpec(K, softmax);
  const v = prepareVolume(r.data, C, r.geometry, { cropToNonzero: spec.cropToNonzero, spacing: spec.spacing ?? undefined, normalize: spec.normalize, ct: spec.ct });
  const [X, Y, Z] = v.dims, V = X * Y * Z;
  const { session, loadMs } = await sessionFor(r);
  const net = async (x: Float32Array, n: number, size: number[]) => {
    const out = await session.run({ [m.input.name]: new ort.Tensor('float32', x, [n, C, ...size]) });
    return out[m.output.name].data as Float32Array;
  };
  const opts = { classes: K, multiple: r.entry.multiple, tile: m.input.tile, overlap: m.input.overlap, blend: m.input.blend, tta: m.input.tta };
  const toLabels = (data: Float32Array) => labelsFromPlanes({ data, channels: K }, labelSpec, m.output.threshold);
  const t0 = performance.now();
  let onGrid: Uint8Array = new Uint8Array(V);
  let windows = 0;
  if (spec.dims === 3) {
    const p = await predictTiled({ data: v.data, channels: C, sizes: [Z, Y, X] }, { ...opts, onProgress: (done, total) => post({ type: 'progress', done, total }) }, net);
    onGrid = toLabels(p.data);
    windows = p.windows;
  } else {
    // a 2D model: every axial slice, its modalities as channels
    const plane = X * Y, slice = new Float32Array(C * plane);
    for (let z = 0; z < Z; z++) {
      for (let c = 0; c < C; c++) slice.set(v.data.subarray(c * V + z * plane, c * V + (z + 1) * plane), c * plane);
      const p = await predictTiled({ data: slice, channels: C, sizes: [Y, X] }, opts, net);
      onGrid.set(toLabels(p.data), z * plane);
      windows += p.windows;
      post({ type: 'progress', done: z + 1, total: Z });
    }
  }
  applyPostprocess(onGrid, [X, Y, Z], spec.postprocess);
  const labels = toSourceGrid(onGrid, 1, v, 'nearest');
  post({ type: 'done', labels, windows, runMs: performance.now() - t0, loadMs, threads: r.backend === 'wasm' ? ort.env.wasm.numThreads ?? 1 : 0, grid: [X, Y, Z] }, [labels.buffer]);
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  run(e.data).catch((err: unknown) => {
    const msg = err instanceof RangeError ? `out of memory in the worker (${err.message}): the volume is too large for this tab`
      : (err as Error)?.message ?? String(err);
    post({ type: 'error', message: msg });
  });
};
