// Draining on SIGTERM, within a deadline: the listener stays open and every new request gets
// 503 (Connection: close) so that clients and load balancers hear why; requests already in
// flight are answered; once none is left, or at the deadline, the listener closes and every
// connection still open (slow uploads, idle keep-alives) is cut.
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { HttpError } from './errors.js';

/** Probes keep their meaning while draining: alive (200), not ready (503). */
const PROBES = new Set(['/healthz', '/readyz']);

export interface DrainReport {
  /** Requests still in flight when the deadline came (their connections were cut). */
  cut: number;
  ms: number;
}

export class Drain {
  private readonly inFlight = new Set<ServerResponse>();
  draining = false;

  constructor(private readonly app: FastifyInstance) {
    app.addHook('onRequest', async (req, reply) => {
      if (this.draining && !PROBES.has(req.url.split('?')[0])) {
        reply.header('connection', 'close');
        throw new HttpError(503, 'overloaded', 'the server is shutting down; retry on another instance', 1);
      }
      const res = reply.raw;
      this.inFlight.add(res);
      res.once('close', () => this.inFlight.delete(res));
    });
  }

  get active(): number { return this.inFlight.size; }

  /** Waits for the requests in flight, then closes the listener and cuts what is left, all within deadlineMs. */
  async run(deadlineMs: number): Promise<DrainReport> {
    const t0 = performance.now();
    const waitMs = deadlineMs - Math.min(250, deadlineMs / 5); // the rest is for closing
    this.draining = true;
    const server = this.app.server;
    // keep-alive connections that fall idle meanwhile are closed as they do
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    while (this.inFlight.size && performance.now() - t0 < waitMs) await new Promise((r) => setTimeout(r, 20));
    clearInterval(idle);
    const cut = this.inFlight.size;
    const closed = this.app.close();
    server.closeAllConnections();
    await closed;
    return { cut, ms: performance.now() - t0 };
  }
}
