// Submitting a batch of predictions: one job per input file, each with its own output folder
// (the input's folder relative to the submitted ones, kept under -o; colliding names stop the
// batch before anything is queued), then waiting for all of them by polling their state
// (which survives a Redis restart with persistence; a job that vanished is added again). A
// lost connection is reported and followed until Redis is back. Inputs whose outputs match
// the job (their record: same input, checkpoint and options) are not submitted.
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { waitForJobs } from './wait.js';
import { readCheckpointMeta } from '../io/checkpoint.js';
import { listInputs } from '../infer/files.js';
import { PREDICT_QUEUE, connectRedis, queueModules, redactUrl } from './connection.js';
import { planOutputs } from './outputs.js';
import { doneRecord, fileSha256, fingerprint } from './sidecar.js';
import type { PredictJob, PredictResult } from './jobs.js';

export interface SubmitOptions {
  redis: string;
  /** Everything of a job but its input (paths are made absolute; outDir is the root of the outputs). */
  job: Omit<PredictJob, 'input'>;
  attempts?: number; // 3
  backoffMs?: number; // 1000, doubling
  /** Called as jobs finish (and once at the start). */
  onProgress?: (s: SubmitStatus) => void;
  /** Told when the connection to Redis is lost and when it is back. */
  onConnection?: (event: 'lost' | 'back', detail: string) => void;
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
  const files: { input: string; root: string }[] = [];
  for (const p of inputs) {
    const root = resolve(p);
    const dir = (await stat(root).catch(() => null))?.isDirectory();
    for (const f of await listInputs(p)) files.push({ input: resolve(f), root: dir ? root : dirname(root) });
  }
  const checkpoint = resolve(o.job.checkpoint);
  const sha = fileSha256(checkpoint);
  const { meta } = readCheckpointMeta(checkpoint);
  const outRoot = resolve(o.job.outDir);
  const planned = planOutputs(files, outRoot, meta, { overlay: o.job.overlay, probabilities: o.job.probabilities });
  const jobs: PredictJob[] = planned.map((p) => ({ ...o.job, input: p.input, outDir: p.outDir, checkpoint,
    checkpointSha256: sha }));
  const todo = jobs.filter((j) => !doneRecord(j.input, j.outDir, fingerprint(j, sha)));
  const status: SubmitStatus = { total: jobs.length, alreadyDone: jobs.length - todo.length, predicted: 0, skipped: 0, failed: 0 };
  const report: SubmitReport = { ...status, failures: [], results: [], seconds: 0 };
  o.onProgress?.(status);
  if (!todo.length) return { ...report, seconds: (performance.now() - t0) / 1000 };

  const { Queue } = await queueModules();
  const connection = await connectRedis(o.redis);
  let lost = false, closing = false;
  connection.on('close', () => {
    if (lost || closing) return;
    lost = true;
    const what = `lost the connection to Redis ${redactUrl(o.redis)}; retrying (queued jobs keep running on the workers)`;
    o.onConnection?.('lost', what);
  });
  connection.on('ready', () => {
    if (!lost) return;
    lost = false;
    o.onConnection?.('back', `Redis ${redactUrl(o.redis)} is back: following the jobs again`);
  });
  const queue = new Queue<PredictJob, PredictResult>(PREDICT_QUEUE, { connection });
  queue.on('error', () => {}); // reconnects by itself; polling below retries
  const run = randomBytes(6).toString('hex');
  const opts = (i: number) => ({
    jobId: `${run}-${i}`, attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: o.backoffMs ?? 1000 },
    removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 30 * 86400 },
  });
  const entries = todo.map((data, i) => ({ name: 'predict', data, opts: opts(i) }));
  try {
    for (let i = 0; i < entries.length; i += 500) await queue.addBulk(entries.slice(i, i + 500));
    const byId = new Map(entries.map((e, i) => [e.opts.jobId, i]));
    await waitForJobs(queue, [...byId.keys()], (id, r) => {
      const input = todo[byId.get(id)!].input;
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
    closing = true;
    await queue.close();
    connection.disconnect();
  }
  return { ...report, ...status, seconds: (performance.now() - t0) / 1000 };
}
