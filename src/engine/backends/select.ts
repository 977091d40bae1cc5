// Backend selection: the native backend where its addon loads, else the reference one.
import type { Backend } from '../backend.js';
import { ReferenceBackend } from './reference.js';
import { NativeBackend, nativeAvailable } from './native.js';
import { NATIVE_FIX } from './native/addon.js';

export type BackendName = 'auto' | 'native' | 'reference';

let warned = false;

/**
 * 'native' throws if the addon cannot be used; 'auto' falls back to the float32 reference
 * backend with a one-line warning on stderr (once per process) naming the reason and the fix.
 */
export function getBackend(name: BackendName = 'auto'): Backend {
  if (name === 'reference') return new ReferenceBackend({ dtype: 'float32' });
  if (name === 'native') return new NativeBackend();
  if (name !== 'auto') throw new Error(`unknown backend '${String(name)}': expected auto, native or reference`);
  const { ok, reason } = nativeAvailable();
  if (ok) return new NativeBackend();
  if (!warned) {
    warned = true;
    process.stderr.write(`unetpp: warning: ${reason}; using the slow reference backend (fix: ${NATIVE_FIX})\n`);
  }
  return new ReferenceBackend({ dtype: 'float32' });
}
