// The HTTP service: fastify with the predict route, model list, health, readiness, metrics
// and the OpenAPI document. close() drains: new requests get 503, in-flight ones finish.
import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import { HttpError, kindOfStatus } from './errors.js';
import { ServeMetrics } from './metrics.js';
import { MicroBatcher } from './batcher.js';
import { openApi } from './openapi.js';
import { predictHandler, type PredictDefaults } from './predict-route.js';
import type { ModelRegistry } from './models.js';

export interface ServeOptions extends PredictDefaults {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  timeoutMs: number;
  /** Largest body (or multipart file) in bytes: 413 beyond. */
  bodyLimit: number;
  version: string;
  /** Log requests (pino, JSON lines on stdout). */
  logger?: boolean;
}

export interface Service {
  app: FastifyInstance;
  batcher: MicroBatcher;
  metrics: ServeMetrics;
  /** Stops accepting, answers what is in flight, then resolves. */
  drain(): Promise<void>;
}

export async function createService(models: ModelRegistry, o: ServeOptions): Promise<Service> {
  const metrics = new ServeMetrics();
  const batcher = new MicroBatcher({
    maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue, timeoutMs: o.timeoutMs,
    onBatch: (n, s) => { metrics.batchSize.observe(n); metrics.batchSeconds.observe(s); },
    onDepth: (n) => metrics.queueDepth.set(n),
  });
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: o.bodyLimit, return503OnClosing: true, forceCloseConnections: 'idle' });
  let draining = false;

  // every body is taken as bytes; what it is comes from its first bytes (415 if none we read)
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  await app.register(multipart, { limits: { fileSize: o.bodyLimit, files: 1 } });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err instanceof HttpError ? err.status : err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    const kind = err instanceof HttpError ? err.kind : kindOfStatus(status);
    if (err instanceof HttpError && err.retryAfterSeconds) reply.header('Retry-After', String(err.retryAfterSeconds));
    const message = status === 413 && !(err instanceof HttpError) ? `body too large: the limit is ${o.bodyLimit} bytes (serve --body-limit)` : err.message;
    metrics.errors.inc({ kind });
    if (status >= 500 && kind === 'internal') app.log.error(err);
    reply.code(status).send({ error: kind, message });
  });
  app.addHook('onSend', async (_req, reply) => { if (draining) reply.header('connection', 'close'); });
  app.setNotFoundHandler((req, reply) => { metrics.errors.inc({ kind: 'not_found' }); reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` }); });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.post('/v1/predict', predictHandler(models, batcher, o));
  app.get('/v1/models', async () => ({ models: models.describe() }));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => (draining ? reply.code(503).send({ status: 'draining' }) : { status: 'ready', models: models.names, queue: batcher.depth }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/openapi.json', async () => openApi(o.version));

  return {
    app, batcher, metrics,
    async drain() {
      draining = true;
      // close() waits for in-flight requests (they wait for their batches); keep-alive
      // connections that fall idle meanwhile are closed as they do
      const idle = setInterval(() => app.server.closeIdleConnections(), 100);
      try { await app.close(); } finally { clearInterval(idle); }
    },
  };
}
