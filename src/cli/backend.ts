// Resolves --backend and --precision lazily: importing the native addon is deferred until a
// command needs it, after --threads has set OMP_NUM_THREADS.
import type { Backend, Precision } from '../engine/backend.js';
import type { BackendUse } from '../engine/backends/native.js';
import type { BackendFor } from '../infer/predictor-cache.js';

export type BackendName = 'auto' | 'native' | 'reference';

export async function resolveBackend(name: BackendName = 'auto', precision: Precision = 'fp32', use: BackendUse = 'train', dims: 2 | 3 = 2): Promise<Backend> {
  const { getBackend } = await import('../engine/backends/select.js');
  return getBackend(name, precision, use, dims);
}

/** A backend per model rank, made on first use (services that load 2D and 3D models alike). */
export async function backendsByDims(name: BackendName = 'auto', precision: Precision = 'fp32', use: BackendUse = 'infer'): Promise<BackendFor> {
  const { getBackend } = await import('../engine/backends/select.js');
  const made = new Map<2 | 3, Backend>();
  return (dims) => {
    let b = made.get(dims);
    if (!b) made.set(dims, (b = getBackend(name, precision, use, dims)));
    return b;
  };
}
