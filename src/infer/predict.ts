// The prediction API: probabilities for an image or volume of any size. Pads to the model's size rule
// (reflect) and crops back (a volume axis shorter than a given window: zero-padded to the window,
// as training pads its patches), slides overlapping windows with smooth blending over images
// larger than the tile, optionally averages flips (TTA), and compiles one Plan per
// window shape (cached, so a folder of same-sized images compiles once). A predictor runs a
// copy of the weights taken when it is created, so its plans can treat them as constant.
// Memory is bounded: unless a tile is given, each image runs whole if its plan fits the
// memory budget, else in the largest windows that do (plans are sized before they allocate).
// On onnxruntime (onnx-runtime.ts) the same windows run through an ONNX export of the model made
// in memory, one session per predictor.
import { Graph } from '../engine/graph.js';
import { Plan } from '../engine/plan.js';
import type { Backend } from '../engine/backend.js';
import { SegModel } from '../models/model.js';
import { copyParams } from '../engine/params.js';
import { levelOf, sizeMultiple } from '../models/config.js';
import { paddingFor } from './pad.js';
import { tileLayout, type BlendKind } from './tiles.js';
import { allFlips } from './tta.js';
import { slideAsync, slideSync, type SlideOptions } from './sliding.js';
import { ReferenceBackend } from '../engine/backends/reference.js';
import { toOnnx } from '../io/onnx.js';
import { isOnnxRuntime, type OnnxRuntimeBackend, type OrtSession } from './onnx-runtime.js';
import { volumeOf, type Field } from './grid.js';
import { defaultMemoryBudget, gib } from './memory.js';
import type { StopSignal } from '../util/stop.js';

/** What a predictor runs on: an engine backend (compiled plans) or onnxruntime-node. */
export type PredictBackend = Backend | OnnxRuntimeBackend;

export interface PredictorOptions {
  backend: PredictBackend;
  /** accurate: mean of the heads' probabilities; fast: one head (default the deepest). */
  mode?: 'accurate' | 'fast';
  /** Head read in fast mode (1..L). */
  head?: number;
  /** Run the pruned UNet++ L^level (model.prune); needs deep supervision. */
  level?: number;
  /** Window size in pixels or voxels (one size for every axis, or one per axis: [h, w] or
   *  [d, h, w]); multiples of 2^level. Default: the whole image, memory permitting. */
  tile?: number | number[];
  /** Fraction of a window shared with its neighbour, in [0, 1). Default 0.25. */
  overlap?: number;
  /** Blending weights of overlapping windows. Default gaussian. */
  blend?: BlendKind;
  /** Average over the flips of every subset of the axes (4 for images, 8 for volumes). */
  tta?: boolean;
  /** Windows (times flips) per run, at most. Default 4. */
  batch?: number;
  /** Bytes inference may use (activations and the predictor's buffers); decides between whole
   *  image and sliding windows when no tile is given. Default: half the memory available when
   *  an image is predicted (defaultMemoryBudget). */
  maxMemory?: number;
  /** Told how an image will run, whenever that differs from the image before (CLI: one line);
   *  sizes are the input's spatial sizes ([height, width] or [depth, height, width]). */
  onTiling?: (t: Tiling, sizes: number[]) => void;
}

/** How an image was run: whole, or in windows chosen to fit the memory budget, or as asked. */
export interface Tiling {
  reason: 'whole' | 'budget' | 'explicit';
  /** Window size per spatial axis (the padded image itself when whole). */
  tile: number[];
  windows: number;
  /** Windows (times flips) per run. */
  batch: number;
  /** Estimated peak bytes: the plan's activation arena plus the predictor's buffers. */
  estimatedBytes: number;
  budgetBytes: number;
}

/** One line for logs: "2048x2048: whole image, batch 1 (est. 5.9 GiB of a 11.0 GiB budget)";
 *  sizes as given (images: height, width; written width x height as image tools do). */
export function describeTiling(t: Tiling, ...sizes: number[]): string {
  const est = `est. ${gib(t.estimatedBytes)} of a ${gib(t.budgetBytes)} budget`;
  const xy = (s: readonly number[]) => (s.length === 2 ? [s[1], s[0]] : s).join('x');
  if (t.reason === 'whole') return `${xy(sizes)}: whole ${sizes.length === 2 ? 'image' : 'volume'}, batch ${t.batch} (${est})`;
  return `${xy(sizes)}: ${t.windows} windows of ${xy(t.tile)}, batch ${t.batch}` +
    ` (${t.reason === 'budget' ? 'to fit the memory budget' : 'as asked'}; ${est})`;
}

/** Probabilities: a field of the model's classes (channels), [classes, ...sizes] at the input's sizes;
 *  tiling says how they were computed. */
export interface ProbMap extends Field { data: Float32Array; tiling?: Tiling }

/** Per call: `signal` is checked between windows and between the network's layers; once it is
 *  aborted the call throws its reason (a service's timeout, a client gone), and its buffers are dropped. */
export interface RunOptions { signal?: StopSignal }

export interface Predictor {
  /** The model actually run (pruned when level is set), with the predictor's own copy of the
   *  weights: later changes to the model given to createPredictor are not seen. */
  readonly model: SegModel;
  readonly classes: number;
  /** 'plan': compiled plans on an engine backend, synchronous; 'onnx': onnxruntime-node, whose runs are
   *  promises (predict and predictMany throw; use predictAsync and predictManyAsync, as predictInput does). */
  readonly runtime: 'plan' | 'onnx';
  /** Probabilities for a field of the model's rank: sizes [height, width] of an image or [depth,
   *  height, width] of a volume, its channels the model's input channels, values as it was trained on. */
  predict(input: Field, run?: RunOptions): ProbMap;
  /** predict on any runtime. */
  predictAsync(input: Field, run?: RunOptions): Promise<ProbMap>;
  /** predictMany on any runtime. */
  predictManyAsync(inputs: Field[], run?: RunOptions): Promise<ProbMap[]>;
  /** Several inputs of one size through shared network runs (a service's micro-batch): one
   *  input gives exactly predict(input); n inputs run up to n times as many windows per run. */
  predictMany(inputs: Field[], run?: RunOptions): ProbMap[];
  /** Number of plans compiled so far (one per window batch shape). */
  readonly plansCompiled: number;
  /** Bytes the plans held now take (their activation arenas). */
  readonly planBytes: number;
  /** Frees the plans held (a service's bounded cache); later runs compile them again. */
  releasePlans(): void;
}

const optError = (opt: string, msg: string) => new Error(`predict option ${opt}: ${msg}`);

/** Bytes the estimate adds for what plans do not size: oneDNN's scratchpads and primitives. */
const SLACK_BYTES = 256 * 2 ** 20;

/**
 * A predictor for `model`: probabilities for images and volumes of any size, padded to the model's size rule,
 * whole or in blended windows that fit the memory budget, with optional flips (TTA) and pruning (`level`).
 * It runs its own copy of the weights. On an engine backend `predict` is synchronous; on onnxruntime-node
 * (`backend: await loadOnnxRuntime(...)`) call `predictAsync`.
 *
 * @example
 * ```ts
 * const predictor = createPredictor(model, { backend: getBackend() });
 * const probs = predictor.predict({ data, channels: 3, sizes: [96, 96] });   // probs.data [classes, 96, 96]
 * ```
 */
export function createPredictor(model: SegModel, opts: PredictorOptions): Predictor {
  // UNet++ L^d reads head d alone: at the full depth too, where there is nothing to prune.
  if (opts.level !== undefined) {
    if (opts.level !== levelOf(model.config)) model = model.prune(opts.level);
    else if (model.config.deepSupervision && model.config.level === undefined) opts = { ...opts, mode: 'fast', head: opts.level };
  }
  model = new SegModel(model.config, copyParams(model.params));
  const cfg = model.config;
  const ms = sizeMultiple(cfg), m = Math.max(...ms); // m: a multiple of every axis's (powers of 2)
  const overlap = opts.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) throw optError('overlap', `must be in [0, 1), got ${opts.overlap}`);
  const batch = opts.batch ?? 4;
  if (!Number.isInteger(batch) || batch < 1) throw optError('batch', `must be a positive integer, got ${opts.batch}`);
  if (opts.maxMemory !== undefined && !(opts.maxMemory > 0)) throw optError('maxMemory', `must be a positive number of bytes, got ${opts.maxMemory}`);
  const rank = cfg.dims;
  const tile = opts.tile === undefined ? undefined : Array.isArray(opts.tile) ? opts.tile : new Array<number>(rank).fill(opts.tile);
  if (tile && tile.length !== rank) throw optError('tile', `${tile.length} sizes for a ${rank}D model: give one size, or ${rank}`);
  for (const [k, t] of (tile ?? []).entries()) {
    const mk = ms[k], rule = cfg.pools ? `the product of the pooling factors along axis ${k}, ${mk}` : `2^${levelOf(cfg)} = ${mk}`;
    if (!Number.isInteger(t) || t < mk || t % mk !== 0)
      throw optError('tile', `${t} is not a positive multiple of ${rule}: use ${Math.max(mk, Math.floor(t / mk) * mk)} or ${Math.max(mk, Math.ceil(t / mk) * mk)}`);
  }
  const modeSpec = opts.mode === 'fast' ? { kind: 'fast' as const, head: opts.head } : { kind: 'accurate' as const };
  if (opts.mode === 'fast' && opts.head !== undefined) {
    const names = model.headNames();
    if (!names.includes(`final${opts.head}`)) throw optError('head', `${opts.head} does not exist; heads are ${names.join(', ')}`);
  }
  const flips = opts.tta ? allFlips(rank) : allFlips(rank).slice(0, 1);
  const K = cfg.classes;
  const C = cfg.inChannels;
  const plans = new Map<string, Plan>();
  const onnx = isOnnxRuntime(opts.backend) ? opts.backend : null;
  // on onnxruntime, plans are only sized (the memory estimate that chooses the windows), never compiled
  const engine: Backend = isOnnxRuntime(opts.backend) ? new ReferenceBackend({ dtype: 'float32' }) : opts.backend;

  const graphFor = (b: number, size: readonly number[]) => {
    const g = new Graph();
    const x = g.input('x', [b, C, ...size]);
    return { g, probs: model.probabilities(g, model.forward(g, x, { training: false, fuseBn: true }), modeSpec) };
  };
  // Plans sized without memory (sizeOnly), by window batch shape.
  const arenas = new Map<string, number>();
  const arenaOf = (b: number, size: readonly number[]): number => {
    const key = [b, ...size].join('x');
    let bytes = arenas.get(key);
    if (bytes === undefined) {
      const { g, probs } = graphFor(b, size);
      bytes = new Plan(g, engine, model.params, [probs], { frozenParams: true, sizeOnly: true }).arenaBytes;
      arenas.set(key, bytes);
    }
    return bytes;
  };
  const planFor = (b: number, size: readonly number[], budget: number): Plan => {
    const key = [b, ...size].join('x');
    let plan = plans.get(key);
    if (!plan) {
      // Cached plans hold their memory: give it back when they would not fit beside the new one.
      const held = [...plans.values()].reduce((s, p) => s + p.arenaBytes, 0);
      if (held + arenaOf(b, size) > budget) { for (const p of plans.values()) p.dispose(); plans.clear(); }
      const { g, probs } = graphFor(b, size);
      plan = new Plan(g, engine, model.params, [probs], { frozenParams: true });
      plans.set(key, plan);
    }
    return plan;
  };
  const paramBytes = [...model.params.map.values()].reduce((s, p) => s + 4 * p.data.length, 0);
  /** Peak bytes of one input: the arena, the predictor's host buffers, folded weights and slack. */
  const estimate = (b: number, win: readonly number[], padded: readonly number[]) =>
    arenaOf(b, win) + 4 * (C + 5 * K + 2) * volumeOf(padded) + 4 * (b + 1) * (C + K) * volumeOf(win) + paramBytes + SLACK_BYTES;

  const chooseTiling = (padded: number[], budget: number): Tiling => {
    const clamp = (t: number) => padded.map((s) => Math.min(t, s));
    const windowsOf = (win: readonly number[]) => tileLayout(padded, win, overlap, 'linear').windows.length;
    const batchFor = (n: number, win: readonly number[]) => {
      let b = Math.min(batch, n * flips.length);
      while (b > 1 && estimate(b, win, padded) > budget) b = Math.ceil(b / 2);
      return b;
    };
    const done = (reason: Tiling['reason'], win: number[]): Tiling => {
      const windows = windowsOf(win), b = batchFor(windows, win);
      return { reason, tile: win, windows, batch: b, estimatedBytes: estimate(b, win, padded), budgetBytes: budget };
    };
    if (tile) return done('explicit', padded.map((s, k) => Math.min(tile[k], s)));
    if (estimate(1, padded, padded) <= budget) return done('whole', padded);
    // The largest cubic window (a multiple of m, so of every axis's multiple) whose run fits, found by bisection ...
    const fits = (t: number) => estimate(1, clamp(t), padded) <= budget;
    let lo = 0, hi = Math.ceil(Math.max(...padded) / m);
    while (lo < hi) { const k = Math.ceil((lo + hi + 1) / 2); if (k <= hi && fits(k * m)) lo = k; else hi = k - 1; }
    if (lo === 0)
      throw optError('maxMemory', `${gib(budget)} is too small for this model: the smallest window (${clamp(m).join('x')}) needs ` +
        `${gib(estimate(1, clamp(m), padded))} with a ${padded.join('x')} input's buffers; give more (--max-memory) or free some`);
    // ... then shrunk while the number of windows stays the same (less overlap to recompute).
    let t = lo * m;
    const n = windowsOf(clamp(t));
    while (t > m && windowsOf(clamp(t - m)) === n) t -= m;
    return done('budget', clamp(t));
  };

  let lastTiling = '';
  interface Run { tiling: Tiling; slide: SlideOptions; budget: number }
  /** How inputs of one size run: the tiling (told once per change) and the sliding windows' options;
   *  null when several inputs would not share runs (one fills the memory budget already). */
  const setup = (imgs: Field[], signal?: StopSignal): Run | null => {
    const { channels } = imgs[0];
    const sizes = [...imgs[0].sizes];
    if (sizes.length !== rank)
      throw new Error(rank === 2 ? 'the model is 2D and the input is a volume: predict it slice by slice (predictVolume, or --dims 2 in the CLI)'
        : 'the model is 3D and the input is an image: give a volume (sizes [depth, height, width])');
    if (channels !== C) throw new Error(`${rank === 2 ? 'image' : 'volume'} has ${channels} channels, the model expects ${C}`);
    for (const img of imgs) {
      const s = img.sizes;
      if (s.join('x') !== sizes.join('x')) throw new Error(`predictMany: inputs of one batch must share a size (${s.join('x')} vs ${sizes.join('x')})`);
      if (img.channels !== C || img.data.length !== C * volumeOf(sizes)) throw new Error(`input data has ${img.data.length} values, expected ${[C, ...sizes].join('x')}`);
    }
    const pad = paddingFor(sizes, ms, rank === 3 ? tile : undefined);
    const P = pad.size;
    const budget = opts.maxMemory ?? defaultMemoryBudget();
    const tiling = chooseTiling(P, budget);
    if (imgs.length > 1 && tiling.reason === 'budget') return null;
    const said = `${tiling.reason} ${tiling.tile} ${tiling.batch} ${P}`;
    if (said !== lastTiling) { lastTiling = said; opts.onTiling?.(tiling, sizes); }
    const layout = tileLayout(P, tiling.tile, overlap, opts.blend ?? 'gaussian');
    const win = layout.tile;
    const items = imgs.length * layout.windows.length * flips.length;
    // Several inputs: runs padded to a power of two (zero slots), so that batches of 2..n inputs
    // compile a handful of plans, not one per count; halved while they would not fit the budget.
    let slots = tiling.batch;
    if (imgs.length > 1) {
      slots = 2 ** Math.ceil(Math.log2(Math.min(tiling.batch * imgs.length, items)));
      while (slots > tiling.batch && estimate(slots, win, P) > budget) slots /= 2;
    }
    return { tiling, budget, slide: { channels: C, classes: K, sizes, pad, layout, flips, batch: slots, slots, signal } };
  };
  const probMaps = (maps: Float32Array[], sizes: readonly number[], tiling: Tiling): ProbMap[] =>
    maps.map((data) => ({ data, channels: K, sizes: [...sizes], tiling }));
  /** Images (or volumes) of one size through shared network runs: a service's micro-batch.
   *  One input is exactly predict(input); n inputs run up to n times as many windows a run. */
  const run = (imgs: Field[], signal?: StopSignal): ProbMap[] => {
    if (onnx) throw new Error('this predictor runs on onnxruntime-node, whose runs are asynchronous: call predictAsync or predictManyAsync (predictInput does)');
    const r = setup(imgs, signal);
    if (!r) return imgs.map((img) => run([img], signal)[0]);
    const plan = planFor(r.slide.batch, r.slide.layout.tile, r.budget);
    const maps = slideSync(imgs.map((img) => img.data), r.slide, ({ feed }) => plan.runToHost({ x: feed }, signal)[0]);
    return probMaps(maps, r.slide.sizes, r.tiling);
  };

  // onnxruntime: one session on the model exported with dynamic sizes, made on first use
  let session: Promise<OrtSession> | null = null;
  const sessionOf = (b: OnnxRuntimeBackend) =>
    (session ??= b.ort.InferenceSession.create(toOnnx(model, { mode: modeSpec }), b.sessionOptions));
  const runAsync = async (imgs: Field[], signal?: StopSignal): Promise<ProbMap[]> => {
    if (!onnx) return run(imgs, signal);
    const r = setup(imgs, signal);
    if (!r) {
      const out: ProbMap[] = [];
      for (const img of imgs) out.push((await runAsync([img], signal))[0]);
      return out;
    }
    const s = await sessionOf(onnx);
    const win = r.slide.layout.tile;
    // no zero slots: a session takes any batch size
    const maps = await slideAsync(imgs.map((img) => img.data), { ...r.slide, slots: undefined }, async ({ feed, count }) =>
      (await s.run({ input: new onnx.ort.Tensor('float32', feed, [count, C, ...win]) })).output.data as Float32Array);
    return probMaps(maps, r.slide.sizes, r.tiling);
  };
  const predict = (input: Field, o?: RunOptions): ProbMap => run([input], o?.signal)[0];
  const predictMany = (inputs: Field[], o?: RunOptions): ProbMap[] => (inputs.length ? run(inputs, o?.signal) : []);
  const predictAsync = async (input: Field, o?: RunOptions): Promise<ProbMap> => (await runAsync([input], o?.signal))[0];
  const predictManyAsync = async (inputs: Field[], o?: RunOptions): Promise<ProbMap[]> =>
    (inputs.length ? runAsync(inputs, o?.signal) : []);

  const releasePlans = () => {
    for (const p of plans.values()) p.dispose();
    plans.clear();
    void session?.then((x) => x.release()).catch(() => {});
    session = null;
  };
  return {
    model, classes: K, runtime: onnx ? 'onnx' : 'plan', predict, predictMany, predictAsync, predictManyAsync, releasePlans,
    get plansCompiled() { return onnx ? Number(session !== null) : plans.size; },
    get planBytes() { return [...plans.values()].reduce((s, p) => s + p.arenaBytes, 0); },
  };
}

/** Binary masks per channel: 1 where p > threshold (the metrics' convention). */
export function threshold(p: ProbMap, t = 0.5): Uint8Array {
  const out = new Uint8Array(p.data.length);
  for (let i = 0; i < out.length; i++) out[i] = p.data[i] > t ? 1 : 0;
  return out;
}
