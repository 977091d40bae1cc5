// Which web pages may call the service: none by default (no CORS headers), or the origins of
// an allow-list (--cors-origin). A request that carries an Origin not on the list is refused
// with 403 before its body is read: a "simple" cross-origin POST (text/plain, a form) gets no
// preflight, so without this the browser of anyone visiting another site could make the
// service work. Allowed origins get Access-Control-Allow-Origin and their preflights answered.
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

const ALLOW_HEADERS = 'authorization, content-type';

/** "https://app.example.org" (scheme, host, port; no path), as browsers send it. */
export function parseOrigin(s: string): string {
  let u: URL;
  const bad = () => new Error(`--cors-origin ${s}: expected an origin such as https://app.example.org (scheme, host and port only)`);
  try { u = new URL(s); } catch { throw bad(); }
  if (!/^https?:$/.test(u.protocol) || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || s.endsWith('/')) throw bad();
  return u.origin;
}

/** allowed(path): the methods of a known route (for preflights), else undefined. */
export function registerOriginPolicy(app: FastifyInstance, origins: string[],
                                     allowed: (path: string) => string[] | undefined): void {
  const ok = new Set(origins);
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (!ok.has(origin))
      throw new HttpError(403, 'forbidden', `origin ${origin} may not call this service (serve --cors-origin allows origins)`);
    reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
    const method = req.headers['access-control-request-method'];
    if (req.method === 'OPTIONS' && typeof method === 'string') {
      const methods = allowed(req.url.split('?')[0]);
      if (!methods) return; // unknown path: 404
      return reply.code(204).header('access-control-allow-methods', methods.join(', '))
        .header('access-control-allow-headers', ALLOW_HEADERS).header('access-control-max-age', '600').send();
    }
  });
}
