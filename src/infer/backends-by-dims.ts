// Backends by name, made lazily per model rank: the native addon is imported only when a
// model needs it (after --threads has set OMP_NUM_THREADS), one backend for 2D and one for 3D.
import type { Backend, Precision } from '../engine/backend.js';
import type { BackendUse } from '../engine/backends/native.js';
import type { BackendFor } from './predictor-cache.js';

export type BackendName = 'auto' | 'native' | 'reference';

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
