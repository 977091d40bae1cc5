// Which backend runs and why, in one line: `unetpp info` and the first line train and predict print.
import type { Backend } from '../backend.js';
import { NATIVE_FIX, tryLoadAddon } from './native/addon.js';

/** e.g. 'native (prebuilt unetpp-linux-x64-gnu), fp32' or 'reference (native addon not built (...))'. */
export function describeBackend(b?: Backend): string {
  const load = tryLoadAddon();
  const precision = b ? `, ${b.precision}` : '';
  if (!load.addon) return `reference (${load.reason}; fix: ${NATIVE_FIX})${precision}`;
  if (b && b.name !== 'native') return `${b.name} (chosen with --backend; native available)${precision}`;
  const from = load.source === 'prebuilt' ? `prebuilt ${load.from}` : load.source === 'env' ? load.from : `built from source, ${load.from}`;
  return `native (${from})${precision}`;
}
