// Submitting a batch of predictions: one job per input file, then waiting for all of them
// by polling their state (which survives a Redis restart with persistence; a job that
// vanished is added again: its outputs are checked by the worker, so nothing runs twice
// for nothing). Inputs whose masks exist already are not submitted.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { waitForJobs } from './wait.js';
import { readCheckpointMeta } from '../io/checkpoint.js';
import { listInputs } from '../infer/files.js';
import { maskPaths } from '../infer/write-prediction.js';
import { PREDICT_QUEUE, connectRedis } from './connection.js';
import type { PredictJob, PredictResult } from './jobs.js';

export interface SubmitOptions {
  redis: string;
  /** Everything of a job but its input (paths are made absolute). */
  job: Omit<PredictJob, 'input'>;
  attempts?: number; // 3
  backoffMs?: number; // 1000, doubling
  /** Called as jobs finish (and once at the start). */
  onProgress?: (s: SubmitStatus) => void;
  pollMs?: number; // 500
}

export interface SubmitStatus { total: number; alreadyDone: number; predicted: number; skipped: number; failed: number }

export interface SubmitReport extends SubmitStatus {
  failures: { input: string; reason: string; attempts: number }[];
  results: { input: string; result: PredictResult }[];
  seconds: number;
}

export async function submitPredictions(inputs: string[], o: SubmitOptions): Promise<SubmitReport> {
  const t0 = performance.now();
  const files: string[] = [];
  for (const p of inputs) files.push(...(await listInputs(p)).map((f) => resolve(f)));
  const job: Omit<PredictJob, 'input'> = { ...o.job, outDir: resolve(o.job.outDir), checkpoint: resolve(o.job.checkpoint) };
  const { meta } = readCheckpointMeta(job.checkpoint);
  const todo = files.filter((f) => !maskPaths(f, job.outDir, meta).every((p) => existsSync(p)));
  const status: SubmitStatus = { total: files.length, alreadyDone: files.length - todo.length, predicted: 0, skipped: 0, failed: 0 };
  const report: SubmitReport = { ...status, failures: [], results: [], seconds: 0 };
  o.onProgress?.(status);
  if (!todo.length) return { ...report, seconds: (performance.now() - t0) / 1000 };

  const connection = await connectRedis(o.redis);
  const queue = new Queue<PredictJob, PredictResult>(PREDICT_QUEUE, { connection });
  queue.on('error', () => {}); // reconnects by itself; polling below retries
  const run = randomBytes(6).toString('hex');
  const opts = (i: number) => ({
    jobId: `${run}-${i}`, attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: o.backoffMs ?? 1000 },
    removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 30 * 86400 },
  });
  const entries = todo.map((input, i) => ({ name: 'predict', data: { ...job, input }, opts: opts(i) }));
  try {
    for (let i = 0; i < entries.length; i += 500) await queue.addBulk(entries.slice(i, i + 500));
    const byId = new Map(entries.map((e, i) => [e.opts.jobId, i]));
    await waitForJobs(queue, [...byId.keys()], (id, r) => {
      const input = todo[byId.get(id)!];
      if (r.ok) {
        report.results.push({ input, result: r.value });
        if (r.value.status === 'predicted') status.predicted++; else status.skipped++;
      } else {
        status.failed++;
        report.failures.push({ input, reason: r.reason, attempts: r.attempts });
      }
      o.onProgress?.(status);
    }, (id) => { const e = entries[byId.get(id)!]; return queue.add('predict', e.data, e.opts); }, o.pollMs);
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return { ...report, ...status, seconds: (performance.now() - t0) / 1000 };
}
