/**
 * Self-configuration: a dataset's fingerprint and the plan derived from it (see docs/cli.md, `unetpp plan`).
 * @module unetpp/plan
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../data/atomic.js';
import { fingerprintDataset } from './fingerprint.js';
import { cachePathFor, readPlanCache, writePlanCache } from './cache.js';
import { derivePlan, type PlannerOptions } from './planner.js';
import type { FingerprintProgress } from './fingerprint-volume.js';
import type { DatasetFingerprint, DatasetPlan } from '../io/dataset-plan.js';

export type * from '../io/dataset-plan.js';
export { derivePlan, type PlannerOptions } from './planner.js';
export { fingerprintDataset, datasetStamp } from './fingerprint.js';
export { planTable } from './table.js';
export { parseDuration } from './rules.js';
export { cachePathFor } from './cache.js';

export interface PlanDatasetOptions extends PlannerOptions {
  /** Where the plan goes; its cache (fingerprint and timings) goes next to it. */
  out: string;
  /** Recompute the fingerprint even when the cache matches the files. */
  refresh?: boolean;
  seed?: number;
  onCase?: FingerprintProgress;
}

/** Fingerprints (or reads the cached fingerprint), plans, writes the plan and the cache. */
export async function planDataset(dir: string, o: PlanDatasetOptions,
): Promise<{ plan: DatasetPlan; fingerprint: DatasetFingerprint; fingerprintCached: boolean }> {
  const cachePath = cachePathFor(o.out);
  const cache = await readPlanCache(cachePath);
  const { fingerprint, cached } = await fingerprintDataset(dir, {
    cached: o.refresh ? null : cache.fingerprint, seed: o.seed, onCase: o.onCase,
  });
  cache.fingerprint = fingerprint;
  await writePlanCache(cachePath, cache); // the fingerprint is kept even if timing fails
  const plan = await derivePlan(fingerprint, { ...o, cache });
  await writePlanCache(cachePath, cache);
  await writeFileAtomic(o.out, JSON.stringify(plan, null, 2) + '\n');
  return { plan, fingerprint, fingerprintCached: cached };
}

/** A plan written by planDataset (or `unetpp plan`). */
export async function readPlan(path: string): Promise<DatasetPlan> {
  const text = await readFile(path, 'utf8');
  const p = JSON.parse(text) as DatasetPlan;
  if (p.version !== 1 || !Array.isArray(p.patch)) throw new Error(`${path}: not a plan written by unetpp plan (version 1)`);
  return p;
}
// Types named by the exports above, public so that the API reference can link them.
export type { PlanCacheFile } from './cache.js';
export type { LossSpec } from '../train/plans.js';
export type { FingerprintOptions } from './fingerprint.js';
export type { FingerprintProgress } from './fingerprint-volume.js';
export type { ProbeSpec, ProbeResult } from './step-probe.js';
