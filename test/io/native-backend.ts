// The native backend if this build has it, else a reason to skip. Imported dynamically so that
// a missing or unloadable addon becomes a skip, not a failed import of the whole test file.
import type { Backend } from '../../src/engine/backend.js';

export async function nativeBackend(): Promise<{ backend?: Backend; skip?: string }> {
  try {
    const url = new URL('../../src/engine/backends/select.js', import.meta.url).href;
    const mod = (await import(url)) as { getBackend: (kind: string) => Backend | Promise<Backend> };
    return { backend: await mod.getBackend('native') };
  } catch (e) {
    return { skip: `native backend unavailable: ${(e as Error).message.split('\n')[0]}` };
  }
}
