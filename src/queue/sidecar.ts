// What a job left behind: a small JSON record next to its masks, written (atomically) after
// them, naming the job and a fingerprint of what it was asked (the input file, the
// checkpoint's SHA-256, every option) and the size of every output. An input counts as done
// only when its record matches the job at hand and every output is still there at that size:
// a mask from another checkpoint, other options or another input of the same name is redone.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import type { PredictJob } from './jobs.js';

export interface JobRecord {
  format: 'unetpp-job';
  fingerprint: string;
  /** The queue job that wrote it (a retried job finds its own record). */
  job?: string;
  /** Relative to the job's output folder. */
  outputs: { path: string; bytes: number }[];
  at: string;
}

/** JSON with keys sorted at every level, so that equal content hashes equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort().filter((k) => o[k] !== undefined);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** What a job's outputs depend on: the input file as it is now, the checkpoint's bytes, the options. */
export function fingerprint(job: PredictJob, checkpointSha256: string, inputPath = job.input): string {
  const s = statSync(inputPath);
  const asked = {
    input: job.input, inputBytes: s.size, inputMtimeMs: s.mtimeMs, checkpoint: checkpointSha256, predictor: job.predictor,
    threshold: job.threshold, normalize: job.normalize, resize: job.resize,
    overlay: !!job.overlay, probabilities: !!job.probabilities,
  };
  return createHash('sha256').update(canonical(asked)).digest('hex');
}

export const recordPath = (input: string, outDir: string) => join(outDir, `.${basename(input)}.unetpp.json`);

/** The record of an input whose outputs exist and match `fp`; else null. */
export function doneRecord(input: string, outDir: string, fp: string): JobRecord | null {
  let r: JobRecord;
  try { r = JSON.parse(readFileSync(recordPath(input, outDir), 'utf8')) as JobRecord; } catch { return null; }
  if (r.format !== 'unetpp-job' || r.fingerprint !== fp || !Array.isArray(r.outputs) || !r.outputs.length) return null;
  for (const o of r.outputs) {
    try { if (statSync(join(outDir, o.path)).size !== o.bytes) return null; } catch { return null; }
  }
  return r;
}

/** Written after the outputs: a record exists only for outputs that were all written. */
export async function writeRecord(input: string, outDir: string, fp: string, outputs: string[],
                                  job?: string): Promise<void> {
  const r: JobRecord = {
    format: 'unetpp-job', fingerprint: fp, job,
    outputs: outputs.map((p) => ({ path: relative(outDir, p), bytes: statSync(p).size })), at: new Date().toISOString(),
  };
  await writeFileAtomic(recordPath(input, outDir), JSON.stringify(r) + '\n');
}

/** SHA-256 of a file, remembered by path, size and mtime (a checkpoint is hashed once). */
const shas = new Map<string, string>();
export function fileSha256(path: string): string {
  const s = statSync(path);
  const key = `${path}|${s.size}|${s.mtimeMs}`;
  let h = shas.get(key);
  if (!h) { h = createHash('sha256').update(readFileSync(path)).digest('hex'); shas.set(key, h); }
  return h;
}
