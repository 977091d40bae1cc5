// Memory budgets for inference: how much a predictor may use, and the sizes people type.
import { freemem } from 'node:os';

/** Share of the memory available now that predictors use by default: the rest stays for the
 *  process's fixed part (Node, the weights, oneDNN's primitives) and for everything else. */
export const DEFAULT_BUDGET_SHARE = 0.5;

/** Bytes available to this process now: the kernel's MemAvailable, capped by a cgroup limit. */
export function availableMemory(): number {
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  const free = freemem();
  return limit && limit > 0 && limit < 2 ** 60 ? Math.min(free, Math.max(0, limit - process.memoryUsage().rss)) : free;
}

/** The default budget: a safe share of what is available, or UNETPP_MAX_MEMORY. */
export function defaultMemoryBudget(): number {
  const env = process.env.UNETPP_MAX_MEMORY;
  if (env) return parseMemory(env, 'UNETPP_MAX_MEMORY');
  return Math.floor(DEFAULT_BUDGET_SHARE * availableMemory());
}

/**
 * Peak RSS a plan adds per byte of its arena, for budgets that must hold: oneDNN's reorders and
 * scratchpads live outside the arena. Measured here (2D UNet++ bn, native blocked layout, 1
 * thread): eval plans 4.5-4.8x (256x320 to 1024x1280), train plans ~3x (256x256, batch 2).
 */
export const PLAN_RSS_FACTOR = 5;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, t: 2 ** 40, tb: 2 ** 40 };

/** "4G", "512MB", "2.5g", "1000000" (bytes) -> bytes (binary units). */
export function parseMemory(v: string, what = 'memory size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2].toLowerCase().replace(/ib$/, 'b')] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0)
    throw new Error(`${what}: expected a size such as 4G, 512M or 2.5GB, got '${v}'`);
  return Math.floor(Number(m[1]) * unit);
}

export const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;
