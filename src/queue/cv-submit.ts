// Cross-validation folds as queue jobs: one job per fold, trained by whichever workers are
// running; a fold whose worker dies resumes from its last.safetensors on the next one.
import { randomBytes } from 'node:crypto';
import { CV_QUEUE, connectRedis, queueModules } from './connection.js';
import { waitForJobs } from './wait.js';
import type { FoldSpec, FoldResult } from '../cv/fold.js';

export async function submitFolds(specs: FoldSpec[], redis: string, onFold: (spec: FoldSpec, r: FoldResult | Error) => void,
                                  opts: { attempts?: number } = {}): Promise<void> {
  const { Queue } = await queueModules();
  const connection = await connectRedis(redis);
  const queue = new Queue<FoldSpec, FoldResult>(CV_QUEUE, { connection });
  queue.on('error', () => {});
  const run = randomBytes(6).toString('hex');
  const entries = specs.map((data) => ({
    name: 'fold', data,
    opts: { jobId: `${run}-fold${data.fold}`, attempts: opts.attempts ?? 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 30 * 86400 }, removeOnFail: { age: 30 * 86400 } },
  }));
  try {
    await queue.addBulk(entries);
    const byId = new Map(entries.map((e) => [e.opts.jobId, e]));
    await waitForJobs(queue, [...byId.keys()], (id, r) => onFold(byId.get(id)!.data, r.ok ? r.value : new Error(`${r.reason} (after ${r.attempts} attempts)`)),
      (id) => { const e = byId.get(id)!; return queue.add(e.name, e.data, e.opts); }, 1000);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
