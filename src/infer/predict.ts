// The prediction API: probabilities for an image of any size. Pads to the model's size rule
// (reflect) and crops back, slides overlapping windows with smooth blending over images
// larger than the tile, optionally averages flips (TTA), and compiles one Plan per
// window shape (cached, so a folder of same-sized images compiles once). A predictor runs a
// copy of the weights taken when it is created, so its plans can treat them as constant.
// Memory is bounded: unless a tile is given, each image runs whole if its plan fits the
// memory budget, else in the largest windows that do (plans are sized before they allocate).
import { Graph } from '../engine/graph.js';
import { Plan } from '../engine/plan.js';
import type { Backend } from '../engine/backend.js';
import { SegModel } from '../models/model.js';
import { copyParams } from '../engine/params.js';
import { levelOf } from '../models/config.js';
import { paddingFor, reflectPad, crop } from './pad.js';
import { tileLayout, Blender, type BlendKind } from './tiles.js';
import { FLIPS, IDENTITY, flipCHW } from './tta.js';
import { defaultMemoryBudget, gib } from './memory.js';

export interface PredictorOptions {
  backend: Backend;
  /** accurate: mean of the heads' probabilities; fast: one head (default the deepest). */
  mode?: 'accurate' | 'fast';
  /** Head read in fast mode (1..L). */
  head?: number;
  /** Run the pruned UNet++ L^level (model.prune); needs deep supervision. */
  level?: number;
  /** Window size in pixels (square, or [h, w]); multiples of 2^level. Default: the whole image. */
  tile?: number | [number, number];
  /** Fraction of a window shared with its neighbour, in [0, 1). Default 0.25. */
  overlap?: number;
  /** Blending weights of overlapping windows. Default gaussian. */
  blend?: BlendKind;
  /** Average over the four flips (identity, h, v, h+v). */
  tta?: boolean;
  /** Windows (times flips) per run, at most. Default 4. */
  batch?: number;
  /** Bytes inference may use (activations and the predictor's buffers); decides between whole
   *  image and sliding windows when no tile is given. Default: half the memory available when
   *  an image is predicted (defaultMemoryBudget). */
  maxMemory?: number;
  /** Told how an image will run, whenever that differs from the image before (CLI: one line). */
  onTiling?: (t: Tiling, height: number, width: number) => void;
}

/** How an image was run: whole, or in windows chosen to fit the memory budget, or as asked. */
export interface Tiling {
  reason: 'whole' | 'budget' | 'explicit';
  /** Window height and width (the padded image itself when whole). */
  tile: [number, number];
  windows: number;
  /** Windows (times flips) per run. */
  batch: number;
  /** Estimated peak bytes: the plan's activation arena plus the predictor's buffers. */
  estimatedBytes: number;
  budgetBytes: number;
}

/** One line for logs: "whole image 2048x2048 (est. 5.9 GiB of 11.0 GiB)". */
export function describeTiling(t: Tiling, height: number, width: number): string {
  const est = `est. ${gib(t.estimatedBytes)} of a ${gib(t.budgetBytes)} budget`;
  if (t.reason === 'whole') return `${width}x${height}: whole image, batch ${t.batch} (${est})`;
  return `${width}x${height}: ${t.windows} windows of ${t.tile[1]}x${t.tile[0]}, batch ${t.batch}` +
    ` (${t.reason === 'budget' ? 'to fit the memory budget' : 'as asked'}; ${est})`;
}

/** Input image: CHW planes, values as the model was trained on. */
export interface InputImage { data: ArrayLike<number>; channels: number; height: number; width: number }

/** Probabilities [classes, height, width]; tiling says how they were computed. */
export interface ProbMap { data: Float32Array; classes: number; height: number; width: number; tiling?: Tiling }

export interface Predictor {
  /** The model actually run (pruned when level is set), with the predictor's own copy of the
   *  weights: later changes to the model given to createPredictor are not seen. */
  readonly model: SegModel;
  readonly classes: number;
  predict(img: InputImage): ProbMap;
  /** Several images of one size through shared network runs (a service's micro-batch): one
   *  image gives exactly predict(img); n images run up to n times as many windows per run. */
  predictMany(imgs: InputImage[]): ProbMap[];
  /** Number of plans compiled so far (one per window batch shape). */
  readonly plansCompiled: number;
}

const optError = (opt: string, msg: string) => new Error(`predict option ${opt}: ${msg}`);

/** Bytes the estimate adds for what plans do not size: oneDNN's scratchpads and primitives. */
const SLACK_BYTES = 256 * 2 ** 20;

export function createPredictor(model: SegModel, opts: PredictorOptions): Predictor {
  // UNet++ L^d reads head d alone: at the full depth too, where there is nothing to prune.
  if (opts.level !== undefined) {
    if (opts.level !== levelOf(model.config)) model = model.prune(opts.level);
    else if (model.config.deepSupervision && model.config.level === undefined) opts = { ...opts, mode: 'fast', head: opts.level };
  }
  model = new SegModel(model.config, copyParams(model.params));
  const cfg = model.config;
  const m = 2 ** levelOf(cfg);
  const overlap = opts.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) throw optError('overlap', `must be in [0, 1), got ${opts.overlap}`);
  const batch = opts.batch ?? 4;
  if (!Number.isInteger(batch) || batch < 1) throw optError('batch', `must be a positive integer, got ${opts.batch}`);
  if (opts.maxMemory !== undefined && !(opts.maxMemory > 0)) throw optError('maxMemory', `must be a positive number of bytes, got ${opts.maxMemory}`);
  const tile = opts.tile === undefined ? undefined : Array.isArray(opts.tile) ? opts.tile : [opts.tile, opts.tile];
  for (const t of tile ?? [])
    if (!Number.isInteger(t) || t < m || t % m !== 0)
      throw optError('tile', `${t} is not a positive multiple of 2^${levelOf(cfg)} = ${m}: use ${Math.max(m, Math.floor(t / m) * m)} or ${Math.max(m, Math.ceil(t / m) * m)}`);
  const modeSpec = opts.mode === 'fast' ? { kind: 'fast' as const, head: opts.head } : { kind: 'accurate' as const };
  if (opts.mode === 'fast' && opts.head !== undefined) {
    const names = model.headNames();
    if (!names.includes(`final${opts.head}`)) throw optError('head', `${opts.head} does not exist; heads are ${names.join(', ')}`);
  }
  const flips = opts.tta ? FLIPS : IDENTITY;
  const K = cfg.classes;
  const C = cfg.inChannels;
  const plans = new Map<string, Plan>();

  const graphFor = (b: number, h: number, w: number) => {
    const g = new Graph();
    const x = g.input('x', [b, C, h, w]);
    return { g, probs: model.probabilities(g, model.forward(g, x, { training: false, fuseBn: true }), modeSpec) };
  };
  // Plans sized without memory (sizeOnly), by window batch shape.
  const arenas = new Map<string, number>();
  const arenaOf = (b: number, h: number, w: number): number => {
    const key = `${b}x${h}x${w}`;
    let bytes = arenas.get(key);
    if (bytes === undefined) {
      const { g, probs } = graphFor(b, h, w);
      bytes = new Plan(g, opts.backend, model.params, [probs], { frozenParams: true, sizeOnly: true }).arenaBytes;
      arenas.set(key, bytes);
    }
    return bytes;
  };
  const planFor = (b: number, h: number, w: number, budget: number): Plan => {
    const key = `${b}x${h}x${w}`;
    let plan = plans.get(key);
    if (!plan) {
      // Cached plans hold their memory: give it back when they would not fit beside the new one.
      const held = [...plans.values()].reduce((s, p) => s + p.arenaBytes, 0);
      if (held + arenaOf(b, h, w) > budget) { for (const p of plans.values()) p.dispose(); plans.clear(); }
      const { g, probs } = graphFor(b, h, w);
      plan = new Plan(g, opts.backend, model.params, [probs], { frozenParams: true });
      plans.set(key, plan);
    }
    return plan;
  };
  const paramBytes = [...model.params.map.values()].reduce((s, p) => s + 4 * p.data.length, 0);
  /** Peak bytes of one image: the arena, the predictor's host buffers, folded weights and slack. */
  const estimate = (b: number, th: number, tw: number, Hp: number, Wp: number) =>
    arenaOf(b, th, tw) + 4 * (C * Hp * Wp + 5 * K * Hp * Wp + 2 * Hp * Wp) +
    4 * (b + 1) * (C + K) * th * tw + paramBytes + SLACK_BYTES;

  const chooseTiling = (Hp: number, Wp: number, budget: number): Tiling => {
    const windowsOf = (th: number, tw: number) => tileLayout(Hp, Wp, th, tw, overlap, 'linear').windows.length;
    const batchFor = (n: number, th: number, tw: number) => {
      let b = Math.min(batch, n * flips.length);
      while (b > 1 && estimate(b, th, tw, Hp, Wp) > budget) b = Math.ceil(b / 2);
      return b;
    };
    const done = (reason: Tiling['reason'], th: number, tw: number): Tiling => {
      const windows = windowsOf(th, tw), b = batchFor(windows, th, tw);
      return { reason, tile: [th, tw], windows, batch: b, estimatedBytes: estimate(b, th, tw, Hp, Wp), budgetBytes: budget };
    };
    if (tile) return done('explicit', Math.min(tile[0], Hp), Math.min(tile[1], Wp));
    if (estimate(1, Hp, Wp, Hp, Wp) <= budget) return done('whole', Hp, Wp);
    // The largest square window (a multiple of m) whose run fits, found by bisection ...
    const fits = (t: number) => estimate(1, Math.min(t, Hp), Math.min(t, Wp), Hp, Wp) <= budget;
    let lo = 0, hi = Math.ceil(Math.max(Hp, Wp) / m);
    while (lo < hi) { const k = Math.ceil((lo + hi + 1) / 2); if (k <= hi && fits(k * m)) lo = k; else hi = k - 1; }
    if (lo === 0)
      throw optError('maxMemory', `${gib(budget)} is too small for this model: the smallest window (${m}x${m}) needs ` +
        `${gib(estimate(1, m, m, Hp, Wp))} with a ${Wp}x${Hp} image's buffers; give more (--max-memory) or free some`);
    // ... then shrunk while the number of windows stays the same (less overlap to recompute).
    let t = lo * m;
    const n = windowsOf(Math.min(t, Hp), Math.min(t, Wp));
    while (t > m && windowsOf(Math.min(t - m, Hp), Math.min(t - m, Wp)) === n) t -= m;
    return done('budget', Math.min(t, Hp), Math.min(t, Wp));
  };

  let lastTiling = '';
  const predict = (img: InputImage): ProbMap => {
    const { channels, height: H, width: W } = img;
    if (channels !== C) throw new Error(`image has ${channels} channels, the model expects ${C}`);
    if (img.data.length !== C * H * W) throw new Error(`image data has ${img.data.length} values, expected ${C}x${H}x${W}`);
    const pad = paddingFor(H, W, m);
    const [Hp, Wp] = [pad.height, pad.width];
    const tiling = chooseTiling(Hp, Wp, opts.maxMemory ?? defaultMemoryBudget());
    const said = `${tiling.reason} ${tiling.tile} ${tiling.batch} ${Hp}x${Wp}`;
    if (said !== lastTiling) { lastTiling = said; opts.onTiling?.(tiling, H, W); }
    const padded = pad.height === H && pad.width === W ? img.data : reflectPad(img.data, C, H, W, pad);
    const layout = tileLayout(Hp, Wp, tiling.tile[0], tiling.tile[1], overlap, opts.blend ?? 'gaussian');
    const { tileH: th, tileW: tw } = layout;
    const items = layout.windows.flatMap((win) => flips.map((flip) => ({ win, flip })));
    const b = tiling.batch;
    const plan = planFor(b, th, tw, tiling.budgetBytes);
    const inSize = C * th * tw;
    const outSize = K * th * tw;
    const feed = new Float32Array(b * inSize);
    const unflipped = new Float32Array(outSize);
    const blender = new Blender(K, Hp, Wp, layout);
    for (let start = 0; start < items.length; start += b) {
      const chunk = items.slice(start, start + b);
      feed.fill(0); // unused slots of a last, partial batch
      chunk.forEach(({ win, flip }, i) => {
        const window = crop(padded, C, Hp, Wp, win.top, win.left, th, tw);
        flipCHW(window, feed, i * inSize, C, th, tw, flip);
      });
      const out = plan.runToHost({ x: feed })[0];
      chunk.forEach(({ win, flip }, i) => {
        flipCHW(out.subarray(i * outSize, (i + 1) * outSize), unflipped, 0, K, th, tw, flip);
        blender.add(win, unflipped);
      });
    }
    const full = blender.result();
    const data = Hp === H && Wp === W ? full : crop(full, K, Hp, Wp, pad.top, pad.left, H, W);
    return { data, classes: K, height: H, width: W, tiling };
  };

  // predict over several same-sized images: the same steps with an image index on each item.
  const predictMany = (imgs: InputImage[]): ProbMap[] => {
    if (imgs.length <= 1) return imgs.map(predict);
    const { height: H, width: W } = imgs[0];
    for (const img of imgs) {
      if (img.height !== H || img.width !== W) throw new Error(`predictMany: images of one batch must share a size (${img.height}x${img.width} vs ${H}x${W})`);
      if (img.channels !== C || img.data.length !== C * H * W) throw new Error(`image data is not ${C}x${H}x${W}`);
    }
    const pad = paddingFor(H, W, m);
    const [Hp, Wp] = [pad.height, pad.width];
    const budget = opts.maxMemory ?? defaultMemoryBudget();
    const tiling = chooseTiling(Hp, Wp, budget);
    if (tiling.reason === 'budget') return imgs.map(predict); // one image fills the budget already
    const padded = imgs.map((img) => (Hp === H && Wp === W ? img.data : reflectPad(img.data, C, H, W, pad)));
    const layout = tileLayout(Hp, Wp, tiling.tile[0], tiling.tile[1], overlap, opts.blend ?? 'gaussian');
    const { tileH: th, tileW: tw } = layout;
    const items = imgs.flatMap((_, n) => layout.windows.flatMap((win) => flips.map((flip) => ({ n, win, flip }))));
    // runs are padded to a power of two (zero slots), so that batches of 2..n images compile
    // a handful of plans, not one per size; halved while they would not fit the budget
    let slots = 2 ** Math.ceil(Math.log2(Math.min(tiling.batch * imgs.length, items.length)));
    while (slots > tiling.batch && estimate(slots, th, tw, Hp, Wp) > budget) slots /= 2;
    const b = Math.min(slots, items.length);
    const plan = planFor(slots, th, tw, budget);
    const inSize = C * th * tw;
    const outSize = K * th * tw;
    const feed = new Float32Array(slots * inSize);
    const unflipped = new Float32Array(outSize);
    const blenders = imgs.map(() => new Blender(K, Hp, Wp, layout));
    for (let start = 0; start < items.length; start += b) {
      const chunk = items.slice(start, start + b);
      feed.fill(0);
      chunk.forEach(({ n, win, flip }, i) => flipCHW(crop(padded[n], C, Hp, Wp, win.top, win.left, th, tw), feed, i * inSize, C, th, tw, flip));
      const out = plan.runToHost({ x: feed })[0];
      chunk.forEach(({ n, win, flip }, i) => {
        flipCHW(out.subarray(i * outSize, (i + 1) * outSize), unflipped, 0, K, th, tw, flip);
        blenders[n].add(win, unflipped);
      });
    }
    return blenders.map((bl) => {
      const full = bl.result();
      return { data: Hp === H && Wp === W ? full : crop(full, K, Hp, Wp, pad.top, pad.left, H, W), classes: K, height: H, width: W, tiling };
    });
  };

  return { model, classes: K, predict, predictMany, get plansCompiled() { return plans.size; } };
}

/** Binary masks per channel: 1 where p > threshold (the metrics' convention). */
export function threshold(p: ProbMap, t = 0.5): Uint8Array {
  const out = new Uint8Array(p.data.length);
  for (let i = 0; i < out.length; i++) out[i] = p.data[i] > t ? 1 : 0;
  return out;
}

/**
 * One label per pixel [H, W]: for one class, 1 where p > t; for softmax classes, the argmax
 * (0 = background); for per-class sigmoids, the most probable class above t, else 0 and
 * class k is label k + 1.
 */
export function labelMap(p: ProbMap, multiclass: 'softmax' | 'sigmoid' = 'softmax', t = 0.5): Uint8Array {
  const plane = p.height * p.width;
  const out = new Uint8Array(plane);
  if (p.classes === 1) {
    for (let i = 0; i < plane; i++) out[i] = p.data[i] > t ? 1 : 0;
    return out;
  }
  for (let i = 0; i < plane; i++) {
    let best = 0;
    let bestP = -Infinity;
    for (let c = 0; c < p.classes; c++) {
      const v = p.data[c * plane + i];
      if (v > bestP) { bestP = v; best = c; }
    }
    out[i] = multiclass === 'softmax' ? best : bestP > t ? best + 1 : 0;
  }
  return out;
}
