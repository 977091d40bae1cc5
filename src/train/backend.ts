// The trainer's backend: an instance, or a name resolved through engine/backends/select.ts
// ('auto' picks native when the addon is built), in the requested precision.
import type { Backend, Precision } from '../engine/backend.js';
import { getBackend } from '../engine/backends/select.js';

export type BackendChoice = Backend | 'auto' | 'native' | 'reference';

/** dims: the model's, for the native backend's training layout (volumes and images differ). */
export async function resolveBackend(choice: BackendChoice = 'auto', precision: Precision = 'fp32', dims: 2 | 3 = 2): Promise<Backend> {
  if (typeof choice === 'object') return choice;
  return getBackend(choice, precision, 'train', dims);
}
