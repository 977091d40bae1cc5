// `unetpp worker`: takes prediction and cross-validation jobs from Redis (src/queue) until
// SIGTERM, which lets the jobs in hand finish.
import { Command, Option } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { predictBackendsByDims } from '../../infer/predict-backend.js';
import { int, oneOf } from '../parse.js';

export function workerCommand(): Command {
  const cmd = new Command('worker')
    .description('run queued jobs (unetpp submit, unetpp cv --redis) from Redis; start any number, on any machine sharing the storage')
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://10.0.0.5:6379, redis://:PASSWORD@host:6379, rediss:// for TLS')
    .option('--roots <dirs>',
      'comma-separated folders jobs may read and write (required for prediction jobs; confines cv jobs when given)')
    .addOption(new Option('--queues <list>', 'which jobs to take').argParser(oneOf('predict,cv', 'predict', 'cv')).default('predict,cv'))
    .option('--concurrency <n>', 'prediction jobs at once (the engine already uses every core)', int(1, 64), 1)
    .option('--lock-duration <ms>', 'a dead worker\'s job is taken over after this long', int(100), 30000)
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead workers', int(100), 30000)
    .option('--max-stalled <n>', 'times a job may be taken over before it fails', int(0), 2)
    .option('--job-timeout <ms>', 'a prediction running longer stops at its next layer or window and fails ' +
      '(retried as --attempts says; keep it below --lock-duration)', int(1));
  addCommon(cmd, { onnx: true });
  cmd.action(action(async (_args, opts) => {
    const queues = opts.queues.split(',') as ('predict' | 'cv')[];
    const { parseRoots } = await import('../../queue/roots.js');
    if (queues.includes('predict') && !opts.roots)
      throw new CliError('give --roots DIR[,DIR...]: the folders prediction jobs may read and write (inputs, outputs, ' +
        'checkpoints)');
    let roots: string[] | undefined;
    try { roots = opts.roots ? parseRoots(opts.roots) : undefined; } catch (e) { throw new CliError((e as Error).message); }
    const backendFor = await predictBackendsByDims(opts.backend, opts.precision);
    const backend = backendFor(2);
    const { startWorker } = await import('../../queue/worker.js');
    const { connectRedis, redactUrl } = await import('../../queue/connection.js');
    (await connectRedis(opts.redis)).disconnect(); // fail now, with the URL, if Redis is not there
    const w = await startWorker({
      redis: opts.redis, backend: backendFor, train: { backend: opts.backend === 'onnx' ? 'auto' : opts.backend, precision: opts.precision }, queues, roots,
      concurrency: opts.concurrency, lockDuration: opts.lockDuration, stalledInterval: opts.stalledInterval, maxStalledCount: opts.maxStalled,
      jobTimeoutMs: opts.jobTimeout, log: (s) => console.log(`${new Date().toISOString()} ${s}`),
    });
    const where = `${redactUrl(opts.redis)} (${opts.queues}; ${backend.name}, ${backend.precision}` +
      `${roots ? `; roots ${roots.join(', ')}` : ''})`;
    console.log(`unetpp worker ${process.pid}: waiting for jobs on ${where}`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        console.log(`unetpp worker: ${sig}: finishing the jobs in hand`);
        w.close().then(resolve, resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  }));
  return cmd;
}
