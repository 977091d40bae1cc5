// The folders a worker may touch (--roots): every path a job names is resolved on the worker
// (symbolic links followed, ".." removed) and must lie inside one of them, so that whoever
// can write to Redis cannot make a worker read or write anywhere else.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';

/** "/data,/out" -> their real paths; each must be an existing folder. */
export function parseRoots(list: string | string[]): string[] {
  const items = (Array.isArray(list) ? list : list.split(',')).map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new Error('--roots: give the folders jobs may read and write, e.g. --roots /data,/out');
  return items.map((r) => {
    if (!existsSync(r) || !statSync(r).isDirectory()) throw new Error(`--roots ${r}: no such folder`);
    return realpathSync(resolve(r));
  });
}

/** The real path of `path` (its nearest existing ancestor resolved, the rest appended). */
function realish(path: string): string {
  let head = resolve(path);
  const rest: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    rest.unshift(basename(head));
    head = up;
  }
  return join(realpathSync(head), ...rest);
}

/** The job's `path`, resolved (".." removed; names kept, so outputs are named as asked); an error
 *  naming `what` when it is relative or when its real place (links followed) is outside the roots. */
export function confine(path: unknown, roots: string[], what: string): string {
  if (typeof path !== 'string' || !path) throw new Error(`job ${what}: missing`);
  if (!isAbsolute(path)) throw new Error(`job ${what} ${path}: not an absolute path`);
  const real = realish(path);
  if (!roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep))) {
    const shown = real !== resolve(path) ? ` (${real})` : '';
    throw new Error(`job ${what} ${path}${shown} is outside this worker's --roots (${roots.join(', ')})`);
  }
  return resolve(path);
}
