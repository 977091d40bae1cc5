// `unetpp bench`: JSON lines from src/bench (engine vs the oneDNN kernel floor vs the PyTorch peer
// and, for inference, onnxruntime-node).
import { Command, InvalidArgumentError } from 'commander';
import { addCommon, action, CliError } from '../common.js';
import { int } from '../parse.js';
import { runBench, DEFAULT_BENCH, VOLUME_BENCH, type BenchOptions } from '../../bench/index.js';
import { DEFAULT_PEAKS, PEAK_ENV, parsePeaks } from '../../bench/peak.js';

const PARTS = ['ops', 'floor', 'model', 'peer', 'ort', 'rounds'] as const;

function peakList(v: string) {
  try { return parsePeaks(v); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
}

export function benchCommand(): Command {
  const cmd = new Command('bench')
    .description('benchmark training and inference against the oneDNN kernel floor, the PyTorch peer and onnxruntime-node (JSON lines)')
    .option('--dims <n>', '2: images; 3: volumes (defaults then: batch 2, size 64, 1 channel, filters 16..256, instance norm, 4 steps, 4 rounds)', int(2), 2)
    .option('--norm <kind>', 'volumes: instance or batch norm (default instance)')
    .option('--filters <list>', 'filters per level, comma-separated (default 32..512 for images, 16..256 for volumes)', (v: string) => v.split(',').map(Number))
    .option('--batch <n>', `images per step (default ${DEFAULT_BENCH.batch}; volumes ${VOLUME_BENCH.batch})`, int(1))
    .option('--size <n>', `image side, or volume side with --dims 3 (default ${DEFAULT_BENCH.size}; volumes ${VOLUME_BENCH.size}: try 32 and 96 too)`, int(1))
    .option('--steps <n>', `timed steps (medians; default ${DEFAULT_BENCH.steps}, volumes ${VOLUME_BENCH.steps})`, int(1))
    .option('--warmup <n>', `untimed steps first (default ${DEFAULT_BENCH.warmup}, volumes ${VOLUME_BENCH.warmup})`, int(0))
    .option('--channels <n>', `input channels (default ${DEFAULT_BENCH.channels}, volumes ${VOLUME_BENCH.channels})`, int(1))
    .option('--no-ds', 'without deep supervision')
    .option('--rounds <n>', `rounds of inference, then training, alternating with the peer (part "rounds"; default ${DEFAULT_BENCH.rounds}, volumes ${VOLUME_BENCH.rounds})`, int(1))
    .option('--peer-processes <n>', `peer processes the rounds go to in turn (default ${DEFAULT_BENCH.peerProcesses}, volumes ${VOLUME_BENCH.peerProcesses})`, int(1))
    .option('--parts <list>', `comma-separated subset of ${PARTS.join(',')} (default all; volumes without ops)`, (v: string) => v.split(',').map((s) => s.trim()))
    .option('--no-ort', 'without the onnxruntime-node part (our ONNX export timed in onnxruntime, float32)')
    .option('--peak-gflops <list>', 'the machine\'s peak GFLOP/s the summary sets model throughput against, e.g. ' +
      `fp32=${DEFAULT_PEAKS.fp32},bf16=${DEFAULT_PEAKS.bf16} (default: ${PEAK_ENV}, else those: the 2-core EPYC's)`, peakList);
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const bad = ((opts.parts ?? []) as string[]).find((p) => !(PARTS as readonly string[]).includes(p));
    if (bad) throw new CliError(`--parts: unknown part "${bad}" (expected ${PARTS.join(', ')})`);
    if (opts.backend === 'reference') throw new CliError('--backend reference: bench measures the native backend');
    if (opts.dims !== 2 && opts.dims !== 3) throw new CliError(`--dims: 2 or 3, got ${opts.dims}`);
    if (opts.norm !== undefined && opts.norm !== 'batch' && opts.norm !== 'instance') throw new CliError(`--norm: batch or instance, got "${opts.norm}"`);
    if (opts.norm !== undefined && opts.dims !== 3) throw new CliError('--norm applies to volumes (--dims 3); images run the bn preset');
    if (opts.filters && (opts.filters as number[]).some((f) => !Number.isInteger(f) || f < 1)) throw new CliError('--filters: positive integers, e.g. 16,32,64,128,256');
    // --no-ort: the parts asked for (or the chosen dims' default ones) but 'ort'
    const parts = opts.ort === false ? (opts.parts ?? (opts.dims === 3 ? VOLUME_BENCH : DEFAULT_BENCH).parts).filter((p: string) => p !== 'ort') : opts.parts;
    // undefined options keep the defaults of the chosen dims (runBench)
    const o: Partial<BenchOptions> = {
      dims: opts.dims, norm: opts.norm, filters: opts.filters,
      batch: opts.batch, size: opts.size, steps: opts.steps, warmup: opts.warmup, channels: opts.channels,
      ds: opts.ds !== false, parts, rounds: opts.rounds, peerProcesses: opts.peerProcesses, threads: opts.threads, precision: opts.precision,
      peakGflops: opts.peakGflops,
    };
    await runBench(o);
  }));
  return cmd;
}
