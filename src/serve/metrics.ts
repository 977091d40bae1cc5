// Prometheus metrics of the service (prom-client, one registry per server). prom-client is an
// optional package: the caller imports it (optionalImport) and hands the module over.
import type * as PromClient from 'prom-client';

type Prom = typeof PromClient;

export class ServeMetrics {
  readonly registry: PromClient.Registry;
  readonly requests: PromClient.Counter;
  readonly latency: PromClient.Histogram;
  readonly batchSize: PromClient.Histogram;
  readonly batchSeconds: PromClient.Histogram;
  readonly queueDepth: PromClient.Gauge;
  readonly planCacheBytes: PromClient.Gauge;
  readonly errors: PromClient.Counter;

  constructor({ Counter, Gauge, Histogram, Registry, collectDefaultMetrics }: Prom) {
    const registers = [this.registry = new Registry()];
    this.requests = new Counter({ name: 'unetpp_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers });
    this.latency = new Histogram({
      name: 'unetpp_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.batchSize = new Histogram({ name: 'unetpp_batch_size', help: 'images per network batch', buckets: [1, 2, 4, 8, 16, 32, 64], registers });
    this.batchSeconds = new Histogram({ name: 'unetpp_batch_duration_seconds', help: 'time to run one batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.queueDepth = new Gauge({ name: 'unetpp_queue_depth', help: 'requests waiting for inference', registers });
    this.planCacheBytes = new Gauge({ name: 'unetpp_plan_cache_bytes', help: 'bytes the compiled plans of all predictors hold', registers });
    this.errors = new Counter({ name: 'unetpp_errors_total', help: 'failed requests by kind', labelNames: ['kind'], registers });
    collectDefaultMetrics({ register: this.registry, prefix: 'unetpp_' });
  }
}
