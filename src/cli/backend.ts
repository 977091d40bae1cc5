// Resolves --backend and --precision lazily: importing the native addon is deferred until a
// command needs it, after --threads has set OMP_NUM_THREADS.
import type { Backend, Precision } from '../engine/backend.js';
import type { BackendUse } from '../engine/backends/native.js';

export type { BackendName } from '../infer/backends-by-dims.js';
import type { BackendName } from '../infer/backends-by-dims.js';

export async function resolveBackend(name: BackendName = 'auto', precision: Precision = 'fp32', use: BackendUse = 'train', dims: 2 | 3 = 2): Promise<Backend> {
  const { getBackend } = await import('../engine/backends/select.js');
  return getBackend(name, precision, use, dims);
}

export { backendsByDims } from '../infer/backends-by-dims.js';
