// Resolves --backend lazily: importing the native addon is deferred until a command needs
// it, after --threads has set OMP_NUM_THREADS.
import type { Backend } from '../engine/backend.js';

export type BackendName = 'auto' | 'native' | 'reference';

export async function resolveBackend(name: BackendName = 'auto'): Promise<Backend> {
  const { getBackend } = await import('../engine/backends/select.js');
  return await getBackend(name);
}
