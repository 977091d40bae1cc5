// The planner's cache, one JSON file next to the plan (plan.json -> plan.fingerprint.json): the
// dataset's fingerprint and the step timings measured on this machine, by network and machine.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import type { DatasetFingerprint } from '../io/dataset-plan.js';
import type { ProbeResult } from './step-probe.js';

export interface PlanCacheFile {
  version: 1;
  fingerprint: DatasetFingerprint | null;
  /** Step timings by probeKey (measure.ts). */
  probes: Record<string, ProbeResult>;
}

/** plan.json -> plan.fingerprint.json (any other name: name.fingerprint.json). */
export const cachePathFor = (planPath: string) => planPath.replace(/(\.json)?$/i, '.fingerprint.json');

export async function readPlanCache(path: string): Promise<PlanCacheFile> {
  const empty: PlanCacheFile = { version: 1, fingerprint: null, probes: {} };
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return empty;
  try {
    const c = JSON.parse(text) as PlanCacheFile;
    return c.version === 1 ? { version: 1, fingerprint: c.fingerprint ?? null, probes: c.probes ?? {} } : empty;
  } catch {
    return empty; // a damaged cache is rebuilt
  }
}

export async function writePlanCache(path: string, c: PlanCacheFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(c, null, 1) + '\n');
}
