// The methods each route answers, so that a known path asked with another method gets 405
// with an Allow header (not 404), and OPTIONS lists them.
import type { FastifyInstance } from 'fastify';

/** Records the routes declared after this call; returns the methods of a path, if it is one. */
export function trackRoutes(app: FastifyInstance): (path: string) => string[] | undefined {
  const byPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (r) => {
    const set = byPath.get(r.url) ?? new Set<string>();
    for (const m of [r.method].flat()) set.add(m);
    if (set.has('GET')) set.add('HEAD');
    set.add('OPTIONS');
    byPath.set(r.url, set);
  });
  return (path) => {
    const set = byPath.get(path);
    return set && [...set].sort();
  };
}
