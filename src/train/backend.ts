// The trainer's backend: an instance, or a name resolved through engine/backends/select.ts
// ('auto' picks native when the addon is built). Without select.ts, the reference backend.
import type { Backend } from '../engine/backend.js';
import { ReferenceBackend } from '../engine/backends/reference.js';

export type BackendChoice = Backend | 'auto' | 'native' | 'reference';

export async function resolveBackend(choice: BackendChoice = 'auto'): Promise<Backend> {
  if (typeof choice === 'object') return choice;
  let select: { getBackend?: (n: string) => Backend | Promise<Backend> } | null = null;
  try {
    select = await import('../engine/backends/select.js' as string);
  } catch {
    select = null;
  }
  if (select?.getBackend) return await select.getBackend(choice);
  if (choice === 'native') throw new Error('backend native: not available in this build (engine/backends/select.ts is missing)');
  return new ReferenceBackend({ dtype: 'float32' });
}
