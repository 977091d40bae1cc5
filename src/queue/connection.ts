// Redis for the queues: one URL (redis://host:port[/db]) for every worker and submitter, and
// the names of the queues they share.
import type { Redis } from 'ioredis';
import { optionalImport } from '../util/optional-import.js';

const FEATURE = 'the queue (unetpp worker, submit, cv --redis)';

/** BullMQ and ioredis, optional packages: imported on first use. */
export async function queueModules() {
  const [{ Redis }, { Queue, Worker }] = await Promise.all([
    optionalImport(() => import('ioredis'), 'ioredis', FEATURE),
    optionalImport(() => import('bullmq'), 'bullmq', FEATURE),
  ]);
  return { Redis, Queue, Worker };
}

export const PREDICT_QUEUE = 'unetpp-predict';
export const CV_QUEUE = 'unetpp-cv';

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/([^@/]*)@/, '//***@');
  }
}

/** A connection as BullMQ wants it (no per-command retry limit: workers block on Redis).
 *  redis://[user:password@]host:port[/db], or rediss:// for TLS. */
export function redisConnection(url: string, RedisClass: typeof Redis): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new Error(`--redis ${redactUrl(url)}: expected a URL such as redis://127.0.0.1:6379`);
  return new RedisClass(url, { maxRetriesPerRequest: null, lazyConnect: true });
}

/** Connects, or fails within timeoutMs with a message naming the URL. */
export async function connectRedis(url: string, timeoutMs = 5000): Promise<Redis> {
  const r = redisConnection(url, (await queueModules()).Redis);
  let why = '';
  r.on('error', (e: Error) => { why = e.message; }); // reconnects on its own; commands wait meanwhile
  const shown = redactUrl(url);
  const late = () => new Error(`--redis ${shown}: cannot reach Redis within ${timeoutMs} ms${why ? ` (${why})` : ''}`);
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(late()), timeoutMs).unref());
  try {
    await Promise.race([r.connect().then(() => r.ping()), timer]);
  } catch (e) {
    r.disconnect();
    const m = (e as Error).message;
    const msg = m.startsWith('--redis') ? m : `--redis ${shown}: cannot connect (${why || m})`;
    throw new Error(msg);
  }
  return r;
}
