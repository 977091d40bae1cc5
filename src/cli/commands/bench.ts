// `unetpp bench`: JSON lines from src/bench (engine vs the oneDNN kernel floor vs the PyTorch peer).
import { Command } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { int } from '../parse.js';
import { runBench, DEFAULT_BENCH, type BenchOptions } from '../../bench/index.js';

const PARTS = ['ops', 'floor', 'model', 'peer', 'rounds'] as const;

export function benchCommand(): Command {
  const cmd = new Command('bench')
    .description('benchmark training and inference against the oneDNN kernel floor and the PyTorch peer (JSON lines)')
    .option('--batch <n>', 'images per step', int(1), DEFAULT_BENCH.batch)
    .option('--size <n>', 'image size (square)', int(1), DEFAULT_BENCH.size)
    .option('--steps <n>', 'timed steps (medians)', int(1), DEFAULT_BENCH.steps)
    .option('--warmup <n>', 'untimed steps first', int(0), DEFAULT_BENCH.warmup)
    .option('--channels <n>', 'input channels', int(1), DEFAULT_BENCH.channels)
    .option('--no-ds', 'without deep supervision')
    .option('--rounds <n>', 'rounds of inference, then training, alternating with the peer (part "rounds")', int(1), DEFAULT_BENCH.rounds)
    .option('--peer-processes <n>', 'peer processes the rounds go to in turn', int(1), DEFAULT_BENCH.peerProcesses)
    .option('--parts <list>', `comma-separated subset of ${PARTS.join(',')}`, (v: string) => v.split(',').map((s) => s.trim()), [...DEFAULT_BENCH.parts]);
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const bad = (opts.parts as string[]).find((p) => !(PARTS as readonly string[]).includes(p));
    if (bad) throw new CliError(`--parts: unknown part "${bad}" (expected ${PARTS.join(', ')})`);
    if (opts.backend === 'reference') throw new CliError('--backend reference: bench measures the native backend');
    const o: Partial<BenchOptions> = {
      batch: opts.batch, size: opts.size, steps: opts.steps, warmup: opts.warmup, channels: opts.channels,
      ds: opts.ds !== false, parts: opts.parts, rounds: opts.rounds, peerProcesses: opts.peerProcesses, threads: opts.threads, precision: opts.precision,
    };
    await runBench(o);
  }));
  return cmd;
}
