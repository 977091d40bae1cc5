// One convolution through our graph (Plan on the native backend) against oneDNN's own
// primitives with their preferred layouts (benchConvRaw, the "kernel floor"), same shape,
// same process. Returns JSON-able medians in ms and GFLOP/s.
import { performance } from 'node:perf_hooks';
import { Graph } from '../engine/graph.js';
import { Plan } from '../engine/plan.js';
import { ParamStore } from '../engine/params.js';
import { NativeBackend, benchConvRaw, getThreads, winogradOn } from '../engine/backends/native.js';
import type { Precision } from '../engine/backend.js';

export interface ConvOpOptions { n: number; c: number; o: number; h: number; w: number; k: number; pad: number; iters: number; precision: Precision }

const median = (t: number[]) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)];
const r3 = (v: number) => +v.toFixed(3);

/** Median of what f returns, after 3 warm-up calls. */
function medianOf(iters: number, f: () => number): number {
  for (let i = 0; i < 3; i++) f();
  return median(Array.from({ length: iters }, f));
}

function time(iters: number, f: () => void): number {
  for (let i = 0; i < 3; i++) f();  // warm-up: primitive creation, JIT, first touch
  const t: number[] = [];
  for (let i = 0; i < iters; i++) {
    const a = performance.now();
    f();
    t.push(performance.now() - a);
  }
  return median(t);
}

/** Values in [-1, 1): filled buffers, never denormal. */
function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2147483648 - 1; }
  return a;
}

export function benchConvOp(opts: Partial<ConvOpOptions> = {}) {
  const o: ConvOpOptions = { n: 16, c: 32, o: 32, h: 96, w: 96, k: 3, pad: 1, iters: 20, precision: 'fp32', ...opts };
  const be = new NativeBackend({ precision: o.precision });
  const g = new Graph();
  const x = g.input('x', [o.n, o.c, o.h, o.w]);
  const w = g.param('w', [o.o, o.c, o.k, o.k]), b = g.param('b', [o.o]);
  const y = g.conv(x, w, b, { pad: o.pad });
  // The backward nodes autodiff emits for a conv, fed with an upstream gradient dy.
  const dy = g.input('dy', y.shape);
  const a = { stride: 1, pad: o.pad };
  const dx = g.out(g.addNode('conv_grad_input', [dy, w], { ...a, xShape: x.shape }, [x.shape]));
  const gw = g.addNode('conv_grad_weight', [x, dy], { ...a, wShape: w.shape, bias: true }, [w.shape, b.shape], ['plain', 'plain']);
  const ps = new ParamStore();
  ps.set('w', w.shape, filled(o.o * o.c * o.k * o.k, 1));
  ps.set('b', b.shape, filled(o.o, 2));
  const feeds = { x: filled(o.n * o.c * o.h * o.w, 3), dy: filled(o.n * o.o * y.shape[2] * y.shape[3], 4) };

  // Kernel time from the plans' own per-op profile (what the conv kernels take inside a
  // network), not Plan.run wall time: that also uploads the feeds (NCHW -> NHWC, and to bf16),
  // which a network does once per step, not per conv.
  const fwd = new Plan(g, be, ps, [y], { profile: true });
  const train = new Plan(g, be, ps, [y, dx, g.out(gw, 0), g.out(gw, 1)], { profile: true });
  const kernelMs = (plan: Plan, feed: Record<string, Float32Array>) => medianOf(o.iters, () => {
    plan.profile.clear();
    plan.run(feed);
    let ms = 0;
    for (const [op, e] of plan.profile) if (op.startsWith('conv')) ms += e.ms;
    return ms;
  });
  const fwdRun = time(o.iters, () => fwd.run({ x: feeds.x }));
  const trainRun = time(o.iters, () => train.run(feeds));
  const fwdKernel = kernelMs(fwd, { x: feeds.x });
  const trainKernel = kernelMs(train, feeds);
  const raw = benchConvRaw({ n: o.n, c: o.c, o: o.o, h: o.h, w: o.w, k: o.k, pad: o.pad, iters: o.iters, bias: true, bf16: o.precision === 'bf16',
    winograd: o.precision !== 'bf16' && winogradOn() });  // what the plan's float32 conv runs

  const gf = raw.gflop;
  const ours = { fwdMs: fwdKernel, fwdBwdMs: trainKernel };
  const rawFwdBwd = raw.fwdMs + raw.bwdDataMs + raw.bwdWeightsMs;
  return {
    op: 'conv', shape: { ...o, bias: true }, threads: getThreads(),
    ours: {
      fwd_ms: r3(ours.fwdMs), fwd_bwd_ms: r3(ours.fwdBwdMs),
      fwd_gflops: r3(gf / ours.fwdMs * 1e3), fwd_bwd_gflops: r3(3 * gf / ours.fwdBwdMs * 1e3),
      plan_run_fwd_ms: r3(fwdRun), plan_run_fwd_bwd_ms: r3(trainRun),
    },
    onednn: {
      fwd_ms: r3(raw.fwdMs), bwd_data_ms: r3(raw.bwdDataMs), bwd_weights_ms: r3(raw.bwdWeightsMs), fwd_bwd_ms: r3(rawFwdBwd),
      fwd_gflops: r3(gf / raw.fwdMs * 1e3), fwd_bwd_gflops: r3(3 * gf / rawFwdBwd * 1e3), impl: raw.impl,
    },
    /** Fraction of the kernel floor's speed we reach (1 = as fast as oneDNN alone). */
    vs_floor: { fwd: r3(raw.fwdMs / ours.fwdMs), fwd_bwd: r3(rawFwdBwd / ours.fwdBwdMs) },
    gflop_per_pass: r3(gf),
  };
}
