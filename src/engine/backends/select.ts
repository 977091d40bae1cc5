// Backend selection: the native backend where its addon loads, else the reference one; bf16
// where the CPU has it, else float32 with a one-line message.
import type { Backend, Precision } from '../backend.js';
import { ReferenceBackend } from './reference.js';
import { NativeBackend, nativeAvailable, bf16Support, type BackendUse } from './native.js';
import { NATIVE_FIX } from './native/addon.js';

export type BackendName = 'auto' | 'native' | 'reference';

/** How much slower training is on the reference backend, measured (docs/status.md: the demo's
 *  model, 64x64 images, batch 8, 2 cores: 0.4-0.6 images/s against 24 on the native backend). */
export const REFERENCE_TRAIN_SPEED = 'about 50x slower than the native backend';

const warned = new Set<string>();
function warnOnce(msg: string) {
  if (warned.has(msg)) return;
  warned.add(msg);
  process.stderr.write(`unetpp: warning: ${msg}\n`);
}

/**
 * 'native' throws if the addon cannot be used; 'auto' falls back to the float32 reference
 * backend with a one-line warning on stderr (once per process) naming the reason and the fix;
 * training on the reference backend warns once with its speed.
 * Precision 'bf16' needs the native backend on a CPU with native bf16; elsewhere it falls back
 * to fp32 with a warning (the returned backend's `precision` says which one runs). `use` and
 * `dims` pick the native backend's faster activation layout for training or inference, images or volumes.
 */
export function getBackend(name: BackendName = 'auto', precision: Precision = 'fp32', use: BackendUse = 'train', dims: 2 | 3 = 2): Backend {
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`unknown precision '${String(precision)}': expected fp32 or bf16`);
  if (name !== 'auto' && name !== 'native' && name !== 'reference') throw new Error(`unknown backend '${String(name)}': expected auto, native or reference`);
  let useNative = name === 'native';
  if (name === 'auto') {
    const { ok, reason } = nativeAvailable();
    useNative = ok;
    const what = use === 'train' ? `training on the reference backend, ${REFERENCE_TRAIN_SPEED}` : 'using the slow reference backend';
    if (!ok) warnOnce(`${reason}; ${what} (fix: ${NATIVE_FIX})`);
  } else if (name === 'reference' && use === 'train') {
    warnOnce(`training on the reference backend, ${REFERENCE_TRAIN_SPEED}`);
  }
  if (!useNative) {
    if (precision === 'bf16') warnOnce('precision bf16 needs the native backend; running in fp32');
    return new ReferenceBackend({ dtype: 'float32' });
  }
  if (precision === 'bf16') {
    const s = bf16Support();
    if (s.ok) return new NativeBackend({ precision: 'bf16', use, dims });
    warnOnce(`precision bf16 unavailable: ${s.reason}; running in fp32`);
  }
  return new NativeBackend({ use, dims });
}
