// onnxruntime-web sessions (one per model and backend, created once) and a prediction: the
// picture's planes, normalised as in training, through the shared tiling of src/infer.
import * as ort from 'onnxruntime-web';
import {
  normalize, predictTiled, type TiledResult, type WebManifest, type WebModelEntry,
} from '../../src/web/index.js';
import type { BundleSource } from './bundle.js';

export type Backend = 'wasm' | 'webgpu';

// Served with the page (copied by vite.config.mjs); an absolute URL, as ort resolves a
// relative one against its own script.
ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
// Threads need a cross-origin isolated page (COOP/COEP headers).
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

export const threads = () => ort.env.wasm.numThreads ?? 1;

export { webgpuAvailable } from './webgpu.js';

export class Runner {
  private sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(readonly manifest: WebManifest, readonly source: BundleSource) {}

  /** The session of a model on a backend, and the ms spent creating it (0 when cached). */
  async session(entry: WebModelEntry, backend: Backend): Promise<{ session: ort.InferenceSession; loadMs: number }> {
    const key = `${entry.file}@${backend}`;
    let s = this.sessions.get(key);
    const t0 = performance.now();
    const fresh = !s;
    if (!s) {
      s = this.source.read(entry.file).then((bytes) =>
        ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: [backend], graphOptimizationLevel: 'all' }));
      s.catch(() => this.sessions.delete(key)); // let a later attempt retry
      this.sessions.set(key, s);
    }
    const session = await s;
    return { session, loadMs: fresh ? performance.now() - t0 : 0 };
  }

  /** Probabilities [classes, H, W] (a field: channels are the classes) of CHW planes with values in [0, 1]. */
  async predict(entry: WebModelEntry, backend: Backend, planes: Float32Array, width: number, height: number):
      Promise<TiledResult & { loadMs: number; runMs: number }> {
    const { session, loadMs } = await this.session(entry, backend);
    const m = this.manifest;
    const C = m.input.channels;
    const data = normalize(planes.slice(), C, width * height, m.input.normalize);
    const t0 = performance.now();
    const r = await predictTiled({ data, channels: C, sizes: [height, width] }, {
      classes: m.output.classes, multiple: entry.multiple, tile: m.input.tile, overlap: m.input.overlap, blend: m.input.blend, tta: m.input.tta,
    }, async (windows, n, size) => {
      const out = await session.run({ [m.input.name]: new ort.Tensor('float32', windows, [n, C, ...size]) });
      return out[m.output.name].data as Float32Array;
    });
    return { ...r, loadMs, runMs: performance.now() - t0 };
  }
}
