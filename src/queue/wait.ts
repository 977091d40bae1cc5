// Waiting for jobs by polling their state: works across Redis reconnects, and a job that
// is gone (Redis restarted without persistence) is added again through `readd`.
import type { Queue } from 'bullmq';

export type Outcome<R> = { ok: true; value: R } | { ok: false; reason: string; attempts: number };

export async function waitForJobs<D, R>(queue: Queue<D, R>, ids: string[], onDone: (id: string, o: Outcome<R>) => void,
                                        readd: (id: string) => Promise<unknown>, pollMs = 500): Promise<void> {
  const pending = new Set(ids);
  while (pending.size) {
    await new Promise((r) => setTimeout(r, pollMs));
    const list = [...take(pending, 2000)]; // the oldest first: a FIFO queue finishes them first
    let jobs;
    try {
      jobs = await Promise.all(list.map((id) => queue.getJob(id)));
    } catch {
      continue; // Redis unreachable for now
    }
    for (const [k, j] of jobs.entries()) {
      const id = list[k];
      if (!j) { await readd(id).catch(() => {}); continue; }
      if (!j.finishedOn) continue;
      pending.delete(id);
      onDone(id, j.failedReason && !j.returnvalue ? { ok: false, reason: j.failedReason, attempts: j.attemptsMade } : { ok: true, value: j.returnvalue as R });
    }
  }
}

function* take<T>(items: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  for (const x of items) { yield x; if (--n === 0) return; }
}
