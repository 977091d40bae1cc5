// The volume runner, off the page's thread: normalise each modality as in training, slide the
// model's windows over the volume (3D models) or over every axial slice (2D models) with the
// shared N-D tiling of src/infer, threshold to labels. Cancelling = the page ends this worker.
import * as ort from 'onnxruntime-web';
import { normalizeChannel } from '../../../src/data/intensity.js';
import { predictTiledN } from '../../../src/infer/tiled.js';
import { labelsOf } from '../../../src/infer/pixels.js';
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
  const { manifest: m, dims: [X, Y, Z] } = r;
  const spec = m.volume!;
  const C = m.input.channels, K = m.output.classes, V = X * Y * Z;
  for (let c = 0; c < C; c++) normalizeChannel(r.data.subarray(c * V, (c + 1) * V), spec.normalize[c], { ct: spec.ct[c] ?? undefined });
  const { session, loadMs } = await sessionFor(r);
  const net = async (x: Float32Array, n: number, size: number[]) => {
    const out = await session.run({ [m.input.name]: new ort.Tensor('float32', x, [n, C, ...size]) });
    return out[m.output.name].data as Float32Array;
  };
  const opts = { classes: K, multiple: r.entry.multiple, tile: m.input.tile, overlap: m.input.overlap, blend: m.input.blend };
  const t0 = performance.now();
  const labels = new Uint8Array(V);
  let windows = 0;
  if (spec.dims === 3) {
    const p = await predictTiledN({ data: r.data, channels: C, sizes: [Z, Y, X] }, { ...opts, onProgress: (done, total) => post({ type: 'progress', done, total }) }, net);
    labels.set(labelsOf({ data: p.data, classes: K, height: Z * Y, width: X }, m.output.activation, m.output.threshold));
    windows = p.windows;
  } else {
    // a 2D model: every axial slice, its modalities as channels
    const plane = X * Y, slice = new Float32Array(C * plane);
    for (let z = 0; z < Z; z++) {
      for (let c = 0; c < C; c++) slice.set(r.data.subarray(c * V + z * plane, c * V + (z + 1) * plane), c * plane);
      const p = await predictTiledN({ data: slice, channels: C, sizes: [Y, X] }, opts, net);
      labels.set(labelsOf({ data: p.data, classes: K, height: Y, width: X }, m.output.activation, m.output.threshold), z * plane);
      windows += p.windows;
      post({ type: 'progress', done: z + 1, total: Z });
    }
  }
  post({ type: 'done', labels, windows, runMs: performance.now() - t0, loadMs, threads: r.backend === 'wasm' ? ort.env.wasm.numThreads ?? 1 : 0 }, [labels.buffer]);
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  run(e.data).catch((err: unknown) => {
    const msg = err instanceof RangeError ? `out of memory in the worker (${err.message}): the volume is too large for this tab`
      : (err as Error)?.message ?? String(err);
    post({ type: 'error', message: msg });
  });
};
