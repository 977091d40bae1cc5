// `unetpp serve`: the HTTP service (src/serve) over one or several checkpoints.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { loadModelSource } from '../model-source.js';
import { resolveBackend } from '../backend.js';
import { float, int } from '../parse.js';
import { addPredictorOptions, predictorSettings } from './predict.js';
import type { ServedModel } from '../../serve/models.js';
import type { Normalize } from '../../data/transforms.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** "-m CKPT" (named "default") or "--model name=CKPT", loaded with their recorded preprocessing. */
export function loadServedModels(specs: string[] = []): ServedModel[] {
  if (!specs.length) throw new CliError('give a model: -m CKPT or --model name=CKPT (repeatable)');
  return specs.map((spec) => {
    const m = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(spec);
    const [name, path] = m ? [m[1], m[2]] : ['default', spec];
    const src = loadModelSource({ model: path });
    return { name, path, model: src.model, normalize: src.normalize, classNames: src.classNames, inputSize: src.inputSize };
  });
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('serve models over HTTP: POST /v1/predict, GET /v1/models, /healthz, /readyz, /metrics, /openapi.json')
    .option('-m, --model <ckpt|name=ckpt>', 'checkpoint to serve; repeat with name=CKPT for several (the first is the default)', collect)
    .option('--port <n>', 'TCP port (0: any free port)', int(0, 65535), 8080)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--max-batch <n>', 'requests of one model, options and size run as one batch, up to this many', int(1, 1024), 8)
    .option('--max-wait <ms>', 'how long the first request of a batch waits for others', float(0, 60000), 5)
    .option('--max-queue <n>', 'requests waiting at most; beyond, 503 with Retry-After', int(1), 64)
    .option('--timeout <ms>', 'a request waiting or running longer gets 504', int(1), 60000)
    .option('--body-limit <mb>', 'largest upload in MB (413 beyond)', float(0.001), 64)
    .option('--max-pixels <n>', 'largest image in pixels (413 beyond)', int(1), 64 * 1024 * 1024)
    .option('--no-warm', 'do not compile the batch plans for the checkpoints\' recorded input size before listening')
    .option('--log', 'log every request (JSON lines)');
  addPredictorOptions(cmd);
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const served = loadServedModels(opts.model);
    const backend = await resolveBackend(opts.backend, opts.precision, 'infer');
    const { ModelRegistry } = await import('../../serve/models.js'); // fastify loads only for serve
    const { createService } = await import('../../serve/app.js');
    const models = new ModelRegistry(served, backend);
    if (opts.warm !== false && !opts.resize) {
      const t0 = performance.now();
      const warmed = models.warm({ ...predictorSettings(opts), onTiling: undefined }, opts.maxBatch);
      if (warmed.length) console.log(`unetpp serve: plans for batches of 1..${opts.maxBatch} compiled (${warmed.join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const version = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const svc = await createService(models, {
      predictor: { ...predictorSettings(opts), onTiling: undefined }, threshold: opts.threshold, normalize: opts.normalize ? ({ kind: opts.normalize } as Normalize) : undefined,
      resize: opts.resize && { height: opts.resize[0], width: opts.resize[1] }, maxPixels: opts.maxPixels,
      maxBatch: opts.maxBatch, maxWaitMs: opts.maxWait, maxQueue: opts.maxQueue, timeoutMs: opts.timeout,
      bodyLimit: Math.round(opts.bodyLimit * 1024 * 1024), version, logger: !!opts.log,
    });
    const address = await svc.app.listen({ port: opts.port, host: opts.host });
    console.log(`unetpp serve: listening on ${address} (${served.map((m) => `${m.name}=${m.path}`).join(', ')}; ${backend.name}, ${backend.precision}; max-batch ${opts.maxBatch})`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        console.log(`unetpp serve: ${sig}: draining ${svc.batcher.depth} queued request(s) and those in flight`);
        svc.drain().then(() => { console.log('unetpp serve: stopped'); resolve(); }, (e) => { console.error(`unetpp serve: ${(e as Error).message}`); resolve(); });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  }));
  return cmd;
}
