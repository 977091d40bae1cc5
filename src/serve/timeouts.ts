// How long a client may take: to send its headers, to send its body without a pause, to send
// the whole request, and how many connections may be open. A slow or stalled client is cut
// off (Node answers 408 for headers and whole-request timeouts; a body that pauses longer
// than the idle timeout loses its connection) so that it cannot hold memory or sockets.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

export interface ConnectionLimits {
  /** ms to receive the request line and headers. */
  headersTimeoutMs: number;
  /** ms to receive the whole request, headers and body. */
  requestTimeoutMs: number;
  /** ms a request body may pause between bytes. */
  idleTimeoutMs: number;
  /** Connections open at once; beyond, new ones are closed at once. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10000, requestTimeoutMs: 120000, idleTimeoutMs: 10000, maxConnections: 512,
};

/** The fastify and Node server options for these limits; answerMs: the longest a request may
 *  wait for its answer once received (socket inactivity beyond the two is cut off). */
export function serverOptions(l: ConnectionLimits, answerMs: number):
  Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout'> & { http: object } {
  const headersTimeout = Math.min(l.headersTimeoutMs, l.requestTimeoutMs); // Node wants headers <= request
  return {
    requestTimeout: l.requestTimeoutMs,
    connectionTimeout: l.requestTimeoutMs + answerMs,
    // Node checks the header and request deadlines this often (its default: 30 s)
    http: { headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))) },
  };
}

/** Caps connections and arms the body idle timeout of every request that has a body. */
export function applyLimits(app: FastifyInstance, l: ConnectionLimits, connectionTimeoutMs: number): void {
  app.server.maxConnections = l.maxConnections;
  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.method === 'GET' || raw.method === 'HEAD' || raw.complete) return;
    const socket = raw.socket;
    socket.setTimeout(l.idleTimeoutMs);
    // once the body is in, the request may wait for its answer: back to the connection timeout
    raw.once('end', () => socket.setTimeout(connectionTimeoutMs));
  });
}
