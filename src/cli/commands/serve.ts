// `unetpp serve`: the HTTP service (src/serve) over one or several checkpoints.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { addPyTorchMetaOptions, hasMetaFlags, ONLY_PYTORCH, type PyTorchMetaFlags } from '../model-source.js';
import { loadSources, type ModelSource } from '../../serve/sources.js';
import { predictBackendsByDims } from '../../infer/predict-backend.js';
import { float, int, memorySize } from '../parse.js';
import { addPredictorOptions, predictorSettings } from './predict.js';
import type { ServedModel } from '../../serve/models.js';
import type { WorkerPool } from '../../serve/pool.js';
import type { Normalize } from '../../data/images/transforms.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

/** "-m CKPT" (named "default") or "--model name=CKPT", and --pytorch weights (their meta from --meta and flags). */
export function modelSources(specs: string[] = [], pytorch: string[] = [], flags: PyTorchMetaFlags = {}): ModelSource[] {
  if (!specs.length && !pytorch.length) throw new CliError('give a model: -m CKPT or --model name=CKPT (repeatable), or --pytorch WEIGHTS');
  if (!pytorch.length && hasMetaFlags(flags)) throw new CliError(ONLY_PYTORCH);
  const split = (spec: string) => {
    const m = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(spec);
    return m ? [m[1], m[2]] : ['default', spec];
  };
  const { meta, labels, classNames } = flags;
  return [
    ...specs.map((spec): ModelSource => { const [name, path] = split(spec); return { name, kind: 'checkpoint', path }; }),
    ...pytorch.map((spec): ModelSource => {
      const [name, path] = split(spec);
      return { name, kind: 'pytorch', path, flags: { meta, labels, classNames } };
    }),
  ];
}

/** The served models of these flags, loaded. */
export function loadServedModels(specs: string[] = [], pytorch: string[] = [], flags: PyTorchMetaFlags = {}): ServedModel[] {
  return loadSources(modelSources(specs, pytorch, flags));
}

/** OMP_WAIT_POLICY=passive unless the environment chose a policy (then a warning if it is not passive). */
function passiveOpenMp(): void {
  const set = process.env.OMP_WAIT_POLICY;
  if (!set) process.env.OMP_WAIT_POLICY = 'passive'; // setenv: libgomp has not loaded yet
  else if (!/^passive$/i.test(set))
    console.error(`unetpp serve: OMP_WAIT_POLICY=${set} with --workers: a worker thread that stops may crash the process; use passive`);
}

/** Where predictions run, for the start-up line. */
function runsOn(pool: WorkerPool | undefined, threads: number): string {
  if (!pool) return `predicting on the main thread with ${threads} engine thread(s)`;
  const note = pool.threadsEach * pool.workers > threads ? ` (more than the ${threads} given)` : '';
  return `${pool.workers} worker thread(s) of ${pool.threadsEach} engine thread(s)${note}`;
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('serve models over HTTP: POST /v1/predict, GET /v1/models, /healthz, /readyz, /metrics, /openapi.json')
    .option('-m, --model <ckpt|name=ckpt>', 'checkpoint to serve; repeat with name=CKPT for several (the first is the default)', collect)
    .option('--pytorch <weights|name=weights>', 'PyTorch state_dict to serve (repeatable); its meta from --meta and the flags below', collect)
    .option('--port <n>', 'TCP port (0: any free port)', int(0, 65535), 8080)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--max-batch <n>', 'requests of one model, options and size run as one batch, up to this many', int(1, 1024), 8)
    .option('--max-wait <ms>', 'how long the first request of a batch waits for others', float(0, 60000), 5)
    .option('--max-queue <n>', 'requests waiting at most; beyond, 503 with Retry-After', int(1), 64)
    .option('--timeout <ms>', 'a request waiting or running longer gets 504 (a running prediction is stopped)', int(1), 60000)
    .option('--stop-grace <ms>', 'a running prediction past --timeout stops at its next layer; a worker thread that has ' +
      'not stopped this long after is terminated (0: at once)', int(0), 10000)
    .option('--workers <n>', 'worker threads that run predictions, sharing the engine threads (0: on the main thread)',
      int(0, 256), 1)
    .option('--body-limit <mb>', 'largest upload in MB (413 beyond)', float(0.001), 64)
    .option('--max-pixels <n>', 'largest image in pixels, read from its header before any decode (413 beyond)',
      int(1), 64 * 1024 * 1024)
    .option('--max-voxels <n>', 'largest volume in voxels, read from its header before any decode (413 beyond)',
      int(1), 128 * 1024 * 1024)
    .option('--max-windows <n>', 'windows (times TTA flips) a tile given may run per image, slice or volume (413 beyond)',
      int(1), 1024)
    .option('--header-timeout <ms>', 'time to send the request headers (408 beyond)', int(1), 10000)
    .option('--request-timeout <ms>', 'time to send the whole request, headers and body (408 beyond)', int(1), 120000)
    .option('--idle-timeout <ms>', 'longest pause within a request body (the connection is closed beyond)', int(1), 10000)
    .option('--max-connections <n>', 'connections open at once (more are closed at once)', int(1), 512)
    .option('--drain-timeout <ms>', 'after SIGTERM, time to answer the requests in flight before the rest are cut',
      int(0), 30000)
    .option('--api-key <key>',
      'require "Authorization: Bearer <key>" for /v1/predict and /v1/models (better: env UNETPP_API_KEY)')
    .option('--metrics-auth', 'require the API key for /metrics too')
    .option('--cors-origin <origin>',
      'an origin whose web pages may call the service (repeatable or comma-separated); others get 403', list)
    .option('--cert <file>', 'TLS certificate (PEM): serve HTTPS (with --key)')
    .option('--key <file>', 'TLS private key (PEM)')
    .option('--plan-cache <size>',
      'memory the compiled plans of all option sets and image sizes may hold (least recently used freed beyond)',
      memorySize, 2 * 2 ** 30)
    .option('--no-warm', 'do not compile the batch plans for the checkpoints\' recorded input size before listening')
    .option('--log', 'log every request (JSON lines)');
  addPyTorchMetaOptions(cmd);
  addPredictorOptions(cmd);
  addCommon(cmd, { onnx: true });
  cmd.action(action(async (_args, opts) => {
    if (!opts.cert !== !opts.key) throw new CliError('give both --cert and --key for HTTPS (or neither)');
    const apiKey: string | undefined = opts.apiKey ?? (process.env.UNETPP_API_KEY || undefined);
    if (opts.metricsAuth && !apiKey) throw new CliError('--metrics-auth needs an API key (--api-key or UNETPP_API_KEY)');
    const { parseOrigin } = await import('../../serve/cors.js');
    let corsOrigins: string[];
    try { corsOrigins = (opts.corsOrigin ?? []).map(parseOrigin); } catch (e) { throw new CliError((e as Error).message); }
    const workers: number = opts.workers;
    // libgomp reads its wait policy once, when the addon loads; threads that spin when a worker
    // exits crash the process (docs/engine.md, "Worker threads")
    if (workers > 0) passiveOpenMp();
    const sources = modelSources(opts.model, opts.pytorch, opts);
    const served = loadSources(sources);
    const backendFor = await predictBackendsByDims(opts.backend, opts.precision);
    const backend = backendFor(served[0].entry.meta.model.dims);
    const { ModelRegistry } = await import('../../serve/models.js'); // fastify loads only for serve
    const { createService } = await import('../../serve/app.js');
    const defaults = { ...predictorSettings(opts), onTiling: undefined };
    const models = new ModelRegistry(served, backendFor, defaults);
    const warm = opts.warm !== false && !opts.resize;
    const t0 = performance.now();
    const compiled = (warmed: string[]) => {
      if (warmed.length) console.log(`unetpp serve: plans for batches of 1..${opts.maxBatch} compiled (${warmed.join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    };
    if (warm && !workers) compiled(models.warm(defaults, opts.maxBatch));
    const threads = Number(process.env.UNETPP_THREADS) || availableParallelism();
    const version = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const svc = await createService(models, {
      predictor: defaults, threshold: opts.threshold, normalize: opts.normalize ? ({ kind: opts.normalize } as Normalize) : undefined,
      resize: opts.resize, maxPixels: opts.maxPixels, maxVoxels: opts.maxVoxels, maxWindows: opts.maxWindows,
      maxBatch: opts.maxBatch, maxWaitMs: opts.maxWait, maxQueue: opts.maxQueue, timeoutMs: opts.timeout,
      bodyLimit: Math.round(opts.bodyLimit * 1024 * 1024), version, logger: !!opts.log,
      limits: {
        headersTimeoutMs: opts.headerTimeout, requestTimeoutMs: opts.requestTimeout, idleTimeoutMs: opts.idleTimeout,
        maxConnections: opts.maxConnections,
      },
      apiKey, metricsAuth: !!opts.metricsAuth, corsOrigins, planCacheBytes: opts.planCache,
      workers: workers ? {
        count: workers, threads, backend: opts.backend, precision: opts.precision, warm, sources, stopGraceMs: opts.stopGrace,
        log: (l) => console.error(l),
      } : undefined,
      tls: opts.cert ? { cert: readFileSync(opts.cert), key: readFileSync(opts.key) } : undefined,
    });
    if (svc.pool) compiled(svc.pool.warmed);
    const address = await svc.app.listen({ port: opts.port, host: opts.host });
    const guard = `${apiKey ? 'API key required' : 'no API key'}, ${corsOrigins.length ? `CORS for ${corsOrigins.join(' ')}` : 'no CORS'}`;
    console.log(`unetpp serve: listening on ${address} (${served.map((m) => `${m.name}=${m.entry.key}`).join(', ')}; ${backend.name}, ` +
      `${backend.precision}; max-batch ${opts.maxBatch}; ${runsOn(svc.pool, threads)}; ${guard})`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        const queued = `${svc.batcher.depth} queued request(s)`;
        console.log(`unetpp serve: ${sig}: draining ${queued} and those in flight (at most ${opts.drainTimeout} ms)`);
        // a last resort should the loop be free but something hold the process open
        const overran = () => { console.error('unetpp serve: drain overran its deadline: exiting'); process.exit(1); };
        setTimeout(overran, opts.drainTimeout + 5000).unref();
        svc.drain(opts.drainTimeout).then((r) => {
          const cut = r.cut ? ` (${r.cut} request(s) still open at the deadline were cut)` : '';
          console.log(`unetpp serve: stopped in ${r.ms.toFixed(0)} ms${cut}`);
          setTimeout(() => process.exit(0), 200).unref(); // a batch cut at the deadline may still hold a timer
          resolve();
        }, (e) => { console.error(`unetpp serve: ${(e as Error).message}`); resolve(); });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  }));
  return cmd;
}
