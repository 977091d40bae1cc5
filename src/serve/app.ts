// The HTTP service: fastify with the predict route, model list, health, readiness, metrics
// and the OpenAPI document. Before a body is read, a request is checked in this order: the
// drain (503), its Origin (403), its API key (401), the queue (503); drain() answers what is
// in flight within a deadline.
import { basename } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { optionalImport } from '../util/optional-import.js';
import { HttpError, kindOfStatus, redactPaths } from './errors.js';
import { ServeMetrics } from './metrics.js';
import { MicroBatcher } from './batcher.js';
import { openApi } from './openapi.js';
import { predictHandler, type PredictDefaults } from './predict-route.js';
import { bearerCheck } from './auth.js';
import { registerOriginPolicy } from './cors.js';
import { trackRoutes } from './methods.js';
import { Drain, type DrainReport } from './drain.js';
import { applyLimits, serverOptions, DEFAULT_LIMITS, type ConnectionLimits } from './timeouts.js';
import { PlanCache } from './lru.js';
import type { ModelRegistry } from './models.js';
import { LocalRunner, type JobRunner } from './runner.js';
import { WorkerPool, type PoolOptions } from './pool.js';
import type { ModelSource } from './sources.js';

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
  /** Header, body and whole-request timeouts, connection cap (DEFAULT_LIMITS for those not given). */
  limits?: Partial<ConnectionLimits>;
  /** Bearer token required by /v1/predict and /v1/models (and /metrics with metricsAuth). */
  apiKey?: string;
  metricsAuth?: boolean;
  /** Origins whose pages may call the service (CORS); any other Origin gets 403. */
  corsOrigins?: string[];
  /** HTTPS instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Bytes the compiled plans of all predictors may hold; the least recently used are freed beyond. */
  planCacheBytes?: number;
  /** Run predictions in this many worker threads, each loading the models from their sources
   *  (absent: on the main thread). */
  workers?: Pick<PoolOptions, 'count' | 'threads' | 'backend' | 'precision' | 'warm'> & Partial<Pick<PoolOptions, 'stopGraceMs'>> &
    { sources: ModelSource[]; log?: (line: string) => void };
}

export interface Service {
  app: FastifyInstance;
  /** The main thread's batcher (predictions run there without workers). */
  batcher: MicroBatcher;
  /** Who runs the predictions: the worker pool, or the batcher on the main thread. */
  runner: JobRunner;
  pool?: WorkerPool;
  metrics: ServeMetrics;
  /** New requests get 503, those in flight are answered (at most deadlineMs), then the server closes. */
  drain(deadlineMs?: number): Promise<DrainReport>;
}

const AUTH_ROUTES = new Set(['/v1/predict', '/v1/models']);

export async function createService(models: ModelRegistry, o: ServeOptions): Promise<Service> {
  const feature = 'the HTTP service (unetpp serve)';
  const [{ default: Fastify }, { default: multipart }, prom] = await Promise.all([
    optionalImport(() => import('fastify'), 'fastify', feature),
    optionalImport(() => import('@fastify/multipart'), '@fastify/multipart', feature),
    optionalImport(() => import('prom-client'), 'prom-client', feature),
  ]);
  const metrics = new ServeMetrics(prom);
  const plans = new PlanCache(o.planCacheBytes ?? 2 ** 31);
  models.cache.watcher = plans;
  const batcher = new MicroBatcher({
    maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue, timeoutMs: o.timeoutMs,
    onBatch: (n, s) => {
      metrics.batchSize.observe(n);
      metrics.batchSeconds.observe(s);
      plans.trim();
      metrics.planCacheBytes.set(plans.heldBytes);
    },
    onDepth: (n) => metrics.queueDepth.set(n),
  });
  const w = o.workers;
  const pool = w && await WorkerPool.start({
    ...w, stopGraceMs: w.stopGraceMs ?? 10000, defaults: o.predictor, maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue, timeoutMs: o.timeoutMs,
    planCacheBytes: Math.floor((o.planCacheBytes ?? 2 ** 31) / w.count), // each worker's plans are its own
    onBatch: (n, s, planBytes) => {
      metrics.batchSize.observe(n);
      metrics.batchSeconds.observe(s);
      metrics.planCacheBytes.set(planBytes);
    },
    onDepth: (n) => metrics.queueDepth.set(n),
  });
  const runner: JobRunner = pool ?? new LocalRunner(models, batcher);
  const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const server = serverOptions(limits, o.timeoutMs);
  const app = Fastify({
    logger: o.logger ?? false, bodyLimit: o.bodyLimit, return503OnClosing: true, forceCloseConnections: 'idle',
    ...server, ...(o.tls ? { https: { ...server.http, cert: o.tls.cert, key: o.tls.key } } : {}),
  });
  const methodsOf = trackRoutes(app);
  const drain = new Drain(app); // first: while draining, nothing else is looked at
  applyLimits(app, limits, server.connectionTimeout!);
  registerOriginPolicy(app, o.corsOrigins ?? [], methodsOf);
  const route = (req: FastifyRequest) => req.url.split('?')[0];
  if (o.apiKey) {
    const ok = bearerCheck(o.apiKey);
    app.addHook('onRequest', async (req, reply) => {
      const path = route(req);
      if (req.method === 'OPTIONS' || !(AUTH_ROUTES.has(path) || (o.metricsAuth && path === '/metrics'))) return;
      if (ok(req.headers.authorization)) return;
      reply.header('www-authenticate', 'Bearer realm="unetpp"');
      throw new HttpError(401, 'unauthorized', 'missing or wrong API key: send Authorization: Bearer <key>');
    });
  }
  // the queue is looked at before the body is read: a full service sheds at once
  let predicting = 0;
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST' || route(req) !== '/v1/predict') return;
    if (predicting >= o.maxQueue + o.maxBatch) {
      reply.header('connection', 'close');
      throw runner.overloaded(predicting);
    }
    predicting++;
    reply.raw.once('close', () => predicting--);
  });
  // Expect: 100-continue: the client sends its body only once the checks above let it in
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('onRequest', async (req, reply) => {
    if (/100-continue/i.test(String(req.headers.expect ?? ''))) reply.raw.writeContinue();
  });

  // every body is taken as bytes; what it is comes from its first bytes (415 if none we read)
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  await app.register(multipart, { limits: { fileSize: o.bodyLimit, files: 1 } });

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (!req.raw.complete) reply.header('connection', 'close'); // refused before its body came: do not wait for it
    const status = err instanceof HttpError ? err.status : err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    const kind = err instanceof HttpError ? err.kind : kindOfStatus(status);
    if (err instanceof HttpError && err.retryAfterSeconds) reply.header('Retry-After', String(err.retryAfterSeconds));
    const ours = err instanceof HttpError;
    let message = status === 413 && !ours ? `body too large: the limit is ${o.bodyLimit} bytes (serve --body-limit)` : err.message;
    if (status >= 500 && kind === 'internal') {
      app.log.error(err);
      message = 'internal error (the server log has the details)';
    }
    metrics.errors.inc({ kind });
    reply.code(status).send({ error: kind, message: redactPaths(message) });
  });
  app.addHook('onSend', async (_req, reply) => { if (drain.draining) reply.header('connection', 'close'); });
  app.setNotFoundHandler((req, reply) => {
    const methods = methodsOf(route(req));
    if (methods && req.method === 'OPTIONS') return reply.code(204).header('allow', methods.join(', ')).send();
    if (methods) {
      metrics.errors.inc({ kind: 'method_not_allowed' });
      const message = `${req.method} is not allowed on ${route(req)}; allowed: ${methods.join(', ')}`;
      return reply.code(405).header('allow', methods.join(', ')).send({ error: 'method_not_allowed', message });
    }
    metrics.errors.inc({ kind: 'not_found' });
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${route(req)}` });
  });
  app.addHook('onResponse', async (req, reply) => {
    const r = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route: r, status: String(reply.statusCode) });
    metrics.latency.observe({ route: r }, reply.elapsedTime / 1000);
  });

  app.post('/v1/predict', predictHandler(models, runner, o));
  // checkpoints by file name: the server's folders are none of a client's business
  app.get('/v1/models', async () => ({ models: models.describe().map((m) => ({ ...m, checkpoint: basename(m.checkpoint) })) }));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => (drain.draining ? reply.code(503).send({ status: 'draining' }) : { status: 'ready', models: models.names, queue: runner.depth, ...(pool ? { workers: pool.workers } : {}) }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/openapi.json', async () => openApi(o.version));

  return {
    app, batcher, runner, pool, metrics,
    async drain(deadlineMs = 30000) {
      const report = await drain.run(deadlineMs);
      runner.cancelAll('the server shut down before this request ran');
      await runner.close();
      return report;
    },
  };
}
