// What every subcommand shares: --config (a JSON file of option values; flags on the command
// line override it), --backend, --threads (also UNETPP_THREADS), --verbose.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { int, oneOf } from './parse.js';

import { CliError } from '../util/usage-error.js';

export { CliError };

/** backend: false leaves the backend flags out; onnx: true (prediction) also offers onnxruntime-node. */
export function addCommon(cmd: Command, opts: { backend?: boolean; onnx?: boolean } = {}): Command {
  cmd.option('--config <file>', 'JSON file of option values (keys as the long flags, camelCase or kebab-case); flags override it');
  if (opts.backend !== false) {
    const names = ['auto', 'native', 'reference', ...(opts.onnx ? ['onnx'] : [])];
    const help = opts.onnx ? 'compute backend; auto: native where its addon loads, else onnx where onnxruntime-node is installed, else reference'
      : 'compute backend; auto: native where its addon loads, else reference';
    cmd.addOption(new Option('--backend <name>', help).argParser(oneOf(...names)).env('UNETPP_BACKEND').default('auto'));
    cmd.option('--threads <n>', 'CPU threads (default: env UNETPP_THREADS, else all cores)', int(1, 1024));
    cmd.addOption(new Option('--precision <p>', 'fp32, or bf16: bf16 activations and convolutions with float32 weights, statistics and loss (native backend, CPU with AVX512_BF16/AMX; else fp32 with a warning); plans choose bf16 where it trains faster').argParser(oneOf('fp32', 'bf16')).default('fp32'));
  }
  cmd.option('--verbose', 'print stack traces and more detail');
  return cmd;
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Fills options not given on the command line from --config; errors name the file and key. */
export function applyConfig(cmd: Command): void {
  const file = cmd.opts().config as string | undefined;
  if (!file) return;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`--config ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CliError(`--config ${file}: expected a JSON object of option values`);
  const byName = new Map(cmd.options.map((o) => [o.attributeName(), o]));
  for (const [key, value] of Object.entries(raw)) {
    const name = camel(key);
    const opt = byName.get(name);
    if (!opt || name === 'config') {
      const known = [...byName.keys()].filter((k) => k !== 'config').join(', ');
      throw new CliError(`--config ${file}: unknown option "${key}" for '${cmd.name()}' (known: ${known})`);
    }
    const src = cmd.getOptionValueSource(name);
    if (src === 'cli' || src === 'env') continue; // the command line wins
    let v: unknown = value;
    try {
      if (opt.isBoolean() || typeof value === 'boolean') {
        if (typeof value !== 'boolean') throw new Error('expected true or false');
      } else if (opt.parseArg) {
        v = opt.parseArg(Array.isArray(value) ? value.join(',') : String(value), undefined);
      } else if (typeof value !== 'string' && !(opt.variadic && Array.isArray(value))) {
        throw new Error('expected a string');
      }
    } catch (e) {
      throw new CliError(`--config ${file}: option "${key}": ${(e as Error).message}`);
    }
    cmd.setOptionValueWithSource(name, v, 'config');
  }
}

/** Thread count for the native backend's OpenMP runtime; must be set before the addon loads. */
export function applyThreads(threads: number | undefined): void {
  const env = process.env.UNETPP_THREADS;
  if (threads === undefined && env !== undefined) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`UNETPP_THREADS=${env}: expected a positive integer`);
    threads = n;
  }
  if (threads === undefined) return;
  process.env.UNETPP_THREADS = String(threads);
  process.env.OMP_NUM_THREADS = String(threads);
}

/** Wraps an action: merges --config, applies --threads, then runs fn(positional args, options). */
export function action(fn: (args: any[], opts: Record<string, any>, cmd: Command) => Promise<void> | void) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    applyConfig(cmd);
    const opts = cmd.opts();
    if ('backend' in opts || 'threads' in opts) applyThreads(opts.threads);
    await fn(args.slice(0, -2), opts, cmd);
  };
}
