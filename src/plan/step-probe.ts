// Child process of measure.ts: times training steps (forward, loss, backward, Adam) of one network
// on synthetic batches, then a validation run of windows, and prints one JSON line. Run alone so
// that its peak RSS is the step's and its memory is given back when it exits.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SegModel } from '../models/model.js';
import type { ModelConfig } from '../models/config.js';
import { getBackend } from '../engine/backends/select.js';
import { getThreads } from '../engine/backends/native.js';
import { Graph } from '../engine/graph.js';
import { Plan } from '../engine/plan.js';
import { makeOptimizer } from '../optim/make.js';
import { PlanCache, type LossSpec } from '../train/plans.js';
import type { Grad } from '../optim/types.js';

export interface ProbeSpec {
  config: Partial<ModelConfig>;
  batch: number;
  patch: number[];
  loss: LossSpec;
  backend: 'auto' | 'native' | 'reference';
  /** bf16 activations and convolutions (native, AVX512_BF16/AMX); absent: float32 (the keys of older caches). */
  precision?: 'bf16';
  /** Timed steps after one warm-up step: at least minSteps, then until maxSeconds have passed or maxSteps. */
  minSteps: number;
  maxSteps: number;
  maxSeconds: number;
  /** Windows per validation run (0: no validation timing). */
  validationWindows: number;
}

export interface ProbeResult {
  stepMs: number;
  /** Median CPU time of a step (all threads): what the wall time would be on an idle machine, times the threads. */
  cpuMs: number;
  stepTimes: number[];
  /** Peak RSS after the training steps (before the validation run). */
  peakRssBytes: number;
  arenaBytes: number;
  /** Cores other processes kept busy while the steps were timed (Linux; absent elsewhere): above ~0.3 the
   *  timing shared the CPU and measured slow steps. */
  otherCores?: number;
  /** Median ms of one validation run of validationWindows windows. */
  validationMs: number;
  backend: string;
  threads: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** CPU milliseconds every process of the machine has spent busy since boot (Linux /proc/stat), or null. */
function machineBusyMs(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / 100; // USER_HZ: 100 on Linux
  } catch { return null; }
}

/** This process's peak RSS. Linux: VmHWM, which is the exec'd process's own (getrusage's maxRSS
 *  also counts the parent's pages at fork time: a 400 MB planner made every probe read >= 400 MB). */
export function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS * 1024;
}

function run(spec: ProbeSpec): ProbeResult {
  const dims = spec.patch.length as 2 | 3;
  const backend = getBackend(spec.backend, spec.precision ?? 'fp32', 'train', dims);
  const model = new SegModel(spec.config);
  const { inChannels: C, classes: K } = model.config;
  const x = [spec.batch, C, ...spec.patch], t = [spec.batch, K, ...spec.patch];
  const n = x.reduce((a, b) => a * b, 1), plane = n / (spec.batch * C);
  // smooth random images and a target that is never all one class (as real patches)
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) xs[i] = Math.sin(i * 0.37) + 0.3 * Math.sin(i * 0.011);
  const ys = new Float32Array(spec.batch * K * plane);
  for (let b = 0; b < spec.batch; b++)
    for (let i = 0; i < plane; i++) {
      const k = K === 1 ? (i % 7 < 2 ? 0 : -1) : (i >> 5) % K;
      if (k >= 0) ys[(b * K + k) * plane + i] = 1;
    }
  const plans = new PlanCache(model, backend, spec.loss, false);
  const tp = plans.trainPlan(x, t);
  const opt = makeOptimizer({ kind: 'adam', lr: 1e-4 });
  const step = () => {
    const outs = tp.plan.run({ x: xs, target: ys });
    const grads = new Map<string, Grad>();
    tp.gradNames.forEach((name, i) => grads.set(name, backend.download(outs[i + 1], 'plain')));
    opt.step(model.params, grads);
  };
  step(); // warm-up: primitives are created on the first run
  const times: number[] = [], cpu: number[] = [];
  const t0 = performance.now(), busy0 = machineBusyMs(), own0 = process.cpuUsage();
  while (times.length < spec.maxSteps && (times.length < spec.minSteps || performance.now() - t0 < spec.maxSeconds * 1000)) {
    const s = performance.now(), c = process.cpuUsage();
    step();
    times.push(performance.now() - s);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  const busy1 = machineBusyMs(), own = process.cpuUsage(own0), wall = performance.now() - t0;
  // the machine's busy time less this process's own: what others took from the cores meanwhile
  const otherCores = busy0 === null || busy1 === null ? undefined
    : Math.max(0, +((busy1 - busy0 - (own.user + own.system) / 1000) / wall).toFixed(2));
  const peak = peakRss();
  let validationMs = 0;
  if (spec.validationWindows > 0) {
    const g = new Graph();
    const w = g.input('x', [spec.validationWindows, C, ...spec.patch]);
    const probs = model.probabilities(g, model.forward(g, w, { training: false, fuseBn: true }), { kind: 'accurate' });
    const p = new Plan(g, backend, model.params, [probs], { frozenParams: true });
    const input = xs.subarray(0, Math.min(n, spec.validationWindows * C * plane));
    const full = new Float32Array(spec.validationWindows * C * plane);
    full.set(input);
    p.run({ x: full });
    const v: number[] = [];
    for (let i = 0; i < 2; i++) { const s = performance.now(); p.run({ x: full }); v.push(performance.now() - s); }
    validationMs = median(v);
  }
  const threads = backend.name === 'native' ? getThreads() : 1;
  return {
    stepMs: median(times), cpuMs: median(cpu), stepTimes: times.map((v) => Math.round(v)), peakRssBytes: peak,
    arenaBytes: tp.plan.arenaBytes, validationMs, backend: backend.name, threads, otherCores,
  };
}

// Run as a script: argv[2] the spec as JSON; the result on stdout as one JSON line.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.stdout.write(JSON.stringify(run(JSON.parse(process.argv[2]) as ProbeSpec)) + '\n');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
