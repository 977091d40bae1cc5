// Whole-model benchmark: a UNet++ training step (forward, backward, Adam) and inference, timed
// as medians, against the kernel floor (oneDNN's own conv primitives summed over the
// network's real conv shapes).
import { Graph } from '../engine/graph.js';
import { gradients } from '../engine/autodiff.js';
import { Plan } from '../engine/plan.js';
import type { Backend, Precision } from '../engine/backend.js';
import { SegModel } from '../models/model.js';
import { describeModel } from '../models/info.js';
import type { ModelConfig } from '../models/config.js';
import { Adam } from '../optim/index.js';
import { benchConvRaw, winogradOn } from '../engine/backends/native.js';
import type { Grad } from '../optim/index.js';
import type { Value } from '../engine/graph.js';
import type { ParamStore } from '../engine/params.js';

export interface ModelBenchOptions {
  batch: number; size: number; steps: number; warmup: number; ds: boolean; channels: number; filters?: number[]; precision?: Precision;
  /** 2: images (size x size), 3: volumes (size^3). */
  dims?: 2 | 3;
  /** Volumes only (images: the bn preset's batch norm). */
  norm?: 'batch' | 'instance';
}

/** What the bench needs of a model (a SegModel). */
export interface BenchNet {
  readonly params: ParamStore;
  readonly config: { inChannels: number; classes: number };
  forward(g: Graph, x: Value, opts: { training: boolean; fuseBn?: boolean }): Value[];
  probabilities(g: Graph, heads: Value[]): Value;
}

/** The spatial sides of the bench's input. */
export const spatial = (o: ModelBenchOptions) => Array(o.dims === 3 ? 3 : 2).fill(o.size) as number[];
/** The volume bench's default filters (issue 16). */
export const VOLUME_FILTERS = [16, 32, 64, 128, 256];

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function timeMs(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Deterministic, non-denormal fill (uninitialised or tiny values slow fp32 kernels down). */
function fill(a: Float32Array, seed: number, binary = false) {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = binary ? (s >>> 31) : s / 2 ** 31 - 1;
  }
}

/** sides: the input's spatial sizes (a number: a square image). */
export function trainGraph(model: BenchNet, batch: number, size: number | number[]) {
  const sides = typeof size === 'number' ? [size, size] : size;
  const g = new Graph();
  const cin = model.config.inChannels;
  const x = g.input('x', [batch, cin, ...sides]);
  const t = g.input('t', [batch, model.config.classes, ...sides]);
  const heads = model.forward(g, x, { training: true });
  const loss = g.scale(g.addN(heads.map((h) => g.loss(h, t, 'bce_dice', 0.5))), 1 / heads.length);
  const names = model.params.trainableNames();
  const grads = gradients(g, loss, names.map((n) => g.params.get(n)!));
  return { g, loss, names, grads };
}

/** A training step (forward, backward, Adam) of `model` on one fixed batch, and its plan's disposal. */
export function trainStepper(backend: Backend, model: BenchNet, o: ModelBenchOptions, profile = false) {
  const { x, t } = batchOf(o);
  const { g, loss, names, grads } = trainGraph(model, o.batch, spatial(o));
  const withGrad = names.map((n, i) => [n, grads[i]] as const).filter(([, v]) => v !== null);
  const plan = new Plan(g, backend, model.params, [loss, ...withGrad.map(([, v]) => v!)], { profile });
  const opt = new Adam({ lr: 3e-4 });
  const step = () => {
    const outs = plan.run({ x, t });
    const gm = new Map<string, Grad>(withGrad.map(([n], i) => [n, outs[i + 1].data as Float32Array]));
    opt.step(model.params, gm);
  };
  return { step, plan, dispose: () => plan.dispose() };
}

function batchOf(o: ModelBenchOptions) {
  const px = spatial(o).reduce((a, b) => a * b, 1);
  const x = new Float32Array(o.batch * o.channels * px);
  const t = new Float32Array(o.batch * px);
  fill(x, 1); fill(t, 2, true);
  return { x, t };
}

/** The bn preset's UNet++ (volumes: filters 16..256 and instance norm by default, as the peer runs them). */
export const benchModelConfig = (o: ModelBenchOptions): Partial<ModelConfig> => o.dims === 3
  ? { preset: 'bn', inChannels: o.channels, deepSupervision: o.ds, dims: 3,
    filters: o.filters ?? VOLUME_FILTERS, norm: o.norm ?? 'instance' }
  : { preset: 'bn', inChannels: o.channels, deepSupervision: o.ds, filters: o.filters };
export const benchSegModel = (o: ModelBenchOptions): SegModel => new SegModel(benchModelConfig(o));

/** GFLOP per image (volume) of the bench's model, from `unetpp info`'s count (describeModel): conv and
 *  transposed-conv multiply-adds x 2, forward, at `size` on every side (norms, pooling, up-sampling,
 *  loss and Adam not counted). A training step counts 3x the forward (forward, data gradient, weight
 *  gradient, each as many multiply-adds); the first conv's data gradient, which no plan computes, is
 *  included (< 0.2% of the step for the bench's models). */
export function benchGflop(o: ModelBenchOptions): { infer: number; train: number } {
  const info = describeModel(benchModelConfig(o), { size: o.size });
  return { infer: info.gflops, train: info.trainGflops };
}

/** inferBackend: the inference plan's backend (its faster layout may differ from training's).
 *  The inference plan stays alive for more timing (`runInfer`, one batch) until `dispose`. */
export function benchModel(backend: Backend, o: ModelBenchOptions, inferBackend: Backend = backend) {
  const model = benchSegModel(o);
  const { x } = batchOf(o);
  // The training plan's memory is given back before the inference plan allocates, as the peer
  // frees its training memory before inference.
  const { trainMs, trainPeakMb, trainProfile } = (() => {
    const trainer = trainStepper(backend, model, o, true);
    for (let i = 0; i < o.warmup; i++) trainer.step();
    const trainMs = Array.from({ length: o.steps }, () => timeMs(trainer.step));
    // Peak RSS of the process so far: training alone.
    const trainPeakMb = process.resourceUsage().maxRSS / 1024;
    const trainProfile = perStep(trainer.plan.profile, o.warmup + o.steps);
    trainer.dispose();
    return { trainMs, trainPeakMb, trainProfile };
  })();

  const inferPlan = inferencePlan(inferBackend, model, o, true);
  for (let i = 0; i < o.warmup; i++) inferPlan.run({ x });
  const inferMs = Array.from({ length: o.steps }, () => timeMs(() => inferPlan.run({ x })));
  const trainS = median(trainMs) / 1e3, inferS = median(inferMs) / 1e3;
  const inferProfile = perStep(inferPlan.profile, o.warmup + o.steps);
  const stats = {
    /** Kernel ms per step by op (UNETPP_PROFILE's numbers; warm-up steps included in the mean). */
    train_profile_ms: trainProfile, infer_profile_ms: inferProfile,
    params: model.params.count(),
    train_step_s: trainS, train_img_per_s: o.batch / trainS,
    infer_batch_s: inferS, infer_img_per_s: o.batch / inferS,
    train_peak_rss_mb: +trainPeakMb.toFixed(1),
    train_ms: trainMs.map((v) => +v.toFixed(1)), infer_ms: inferMs.map((v) => +v.toFixed(1)),
  };
  return {
    stats, model, x, runInfer: () => { inferPlan.run({ x }); },
    /** One inference batch's probabilities on the host (float32, NCHW / NCDHW). */
    probabilities: () => inferPlan.runToHost({ x })[0],
    dispose: () => inferPlan.dispose(),
  };
}

/** The probabilities (accurate mode) of one batch of the bench's shape, as a predictor runs it
 *  (createPredictor: conv + batch norm fused, its own copy of the weights, frozen). */
export function inferencePlan(backend: Backend, model: BenchNet, o: ModelBenchOptions, profile = false): Plan {
  const g = new Graph();
  const x = g.input('x', [o.batch, o.channels, ...spatial(o)]);
  const probs = model.probabilities(g, model.forward(g, x, { training: false, fuseBn: true }));
  return new Plan(g, backend, model.params, [probs], { frozenParams: true, profile });
}

/** A plan's profile as mean ms per run, largest first. */
function perStep(profile: Map<string, { ms: number }>, runs: number): Record<string, number> {
  return Object.fromEntries([...profile].sort((a, b) => b[1].ms - a[1].ms).map(([k, e]) => [k, +(e.ms / runs).toFixed(1)]));
}

/** Sum of oneDNN's own conv primitive times over the model's conv layers (median of iters each). */
export function kernelFloor(o: ModelBenchOptions, iters: number) {
  const bf16 = o.precision === 'bf16';
  const model = benchSegModel(o);
  const g = new Graph();
  model.forward(g, g.input('x', [o.batch, o.channels, ...spatial(o)]), { training: false });
  const shapes = new Map<string, { n: number; c: number; o: number; d: number; h: number; w: number; k: number; pad: number; count: number }>();
  for (const n of g.nodes) {
    if (n.op !== 'conv') continue;
    const s5 = n.inputs[0].shape, K = n.inputs[1].shape[2], pad = n.attrs.pad;
    // the bench's models have cubic kernels (one pad on every axis), what benchConvRaw times
    if (typeof pad !== 'number') throw new Error(`kernel floor: per-axis kernels are not benchmarked (${n.name})`);
    // volumes: 3D convs, except 1x1x1 ones, which the engine runs as 1x1 convs over [N,C,D*H,W]
    const [N, C, D, H, W] = s5.length === 5 ? (K === 1 ? [s5[0], s5[1], 0, s5[2] * s5[3], s5[4]] : s5) : [s5[0], s5[1], 0, s5[2], s5[3]];
    const O = n.inputs[1].shape[0];
    const key = [N, C, O, D, H, W, K].join('x');
    const s = shapes.get(key);
    if (s) s.count++; else shapes.set(key, { n: N, c: C, o: O, d: D, h: H, w: W, k: K, pad, count: 1 });
  }
  let fwd = 0, bwd = 0, layers = 0, gflop = 0;
  for (const s of shapes.values()) {
    // float32: the algorithms the engine runs (Winograd where it takes the shape); bf16: oneDNN's
    // direct convs (bf16 inference's Winograd is ours, not oneDNN's: it runs below this floor).
    const r = benchConvRaw({ ...s, iters, bf16, winograd: !bf16 && winogradOn() });
    fwd += s.count * r.fwdMs;
    bwd += s.count * (r.bwdDataMs + r.bwdWeightsMs);
    layers += s.count;
    gflop += s.count * r.gflop;
  }
  const trainS = (fwd + bwd) / 1e3, inferS = fwd / 1e3;
  return {
    conv_layers: layers, distinct_shapes: shapes.size,
    /** GFLOP of the forward convs (each backward pass, data or weights, costs as much). */
    conv_gflop_fwd: +gflop.toFixed(2), floor_fwd_gflop_per_s: +(gflop / (fwd / 1e3)).toFixed(1),
    floor_train_step_s: trainS, floor_train_img_per_s: o.batch / trainS,
    floor_infer_batch_s: inferS, floor_infer_img_per_s: o.batch / inferS,
  };
}
