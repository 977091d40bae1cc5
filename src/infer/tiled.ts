// Padding, sliding windows and blending around any async network runner: the same steps as
// createPredictor (predict.ts) without TTA, for runtimes whose run is a promise (the browser
// page runs onnxruntime-web through it, in a worker for volumes). Any spatial rank: images
// [C, H, W] and volumes [C, D, H, W]. Browser-safe: imports no Node module.
import { paddingForN, reflectPadN, cropN } from './pad.js';
import { tileLayoutN, BlenderN, type BlendKind } from './tiles.js';
import { volumeOf } from './grid.js';

/** CHW planes (predict.ts's InputImage) and probabilities [classes, H, W] (its ProbMap). */
export interface Planes { data: ArrayLike<number>; channels: number; height: number; width: number }
export interface TiledResult { data: Float32Array; classes: number; height: number; width: number; windows: number }

/** A map of any spatial rank: data [channels, ...sizes]. */
export interface MapN { data: ArrayLike<number>; channels: number; sizes: number[] }
export interface TiledResultN { data: Float32Array; classes: number; sizes: number[]; windows: number }

export interface TiledOptions {
  /** Classes the network outputs. */
  classes: number;
  /** Sizes fed to the network are multiples of this (2^level). */
  multiple: number;
  /** Window size per axis (multiples of `multiple`); default the whole (padded) map. */
  tile?: number[];
  overlap?: number; // 0.25
  blend?: BlendKind; // gaussian
  /** Windows per run (default 1); the last run may get fewer. */
  batch?: number;
  /** Called after every run with the windows done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Checked before every run: when aborted, rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Probabilities [n, classes, ...size] for windows [n, channels, ...size]. */
export type WindowRunnerN = (windows: Float32Array, n: number, size: number[]) => Promise<ArrayLike<number>>;
/** The 2D form: probabilities [n, classes, h, w] for windows [n, channels, h, w]. */
export type WindowRunner = (windows: Float32Array, n: number, h: number, w: number) => Promise<ArrayLike<number>>;

export async function predictTiledN(map: MapN, o: TiledOptions, run: WindowRunnerN): Promise<TiledResultN> {
  const { channels: C, sizes } = map;
  const K = o.classes;
  if (map.data.length !== C * volumeOf(sizes)) throw new Error(`input data has ${map.data.length} values, expected ${[C, ...sizes].join('x')}`);
  if (o.tile && o.tile.length !== sizes.length) throw new Error(`tile ${o.tile.join('x')} has ${o.tile.length} sizes for a ${sizes.length}D input`);
  // as createPredictor: a volume axis shorter than the window is zero-padded to it
  const pad = paddingForN(sizes, o.multiple, sizes.length === 3 ? o.tile : undefined);
  const P = pad.size;
  const same = P.every((s, k) => s === sizes[k]);
  const padded = same ? map.data : reflectPadN(map.data, C, sizes, pad);
  const layout = tileLayoutN(P, o.tile ?? P, o.overlap ?? 0.25, o.blend ?? 'gaussian');
  const { windows, tile } = layout;
  const blender = new BlenderN(K, P, layout);
  const batch = Math.max(1, o.batch ?? 1);
  const inSize = C * volumeOf(tile), outSize = K * volumeOf(tile);
  for (let start = 0; start < windows.length; start += batch) {
    o.signal?.throwIfAborted();
    const chunk = windows.slice(start, start + batch);
    const feed = new Float32Array(chunk.length * inSize);
    chunk.forEach((at, i) => feed.set(cropN(padded, C, P, at, tile), i * inSize));
    const got = await run(feed, chunk.length, [...tile]);
    const out = got instanceof Float32Array ? got : Float32Array.from(got);
    if (out.length !== chunk.length * outSize) throw new Error(`network returned ${out.length} values, expected ${[chunk.length, K, ...tile].join('x')}`);
    chunk.forEach((at, i) => blender.add(at, out.subarray(i * outSize, (i + 1) * outSize)));
    o.onProgress?.(start + chunk.length, windows.length);
  }
  const full = blender.result();
  const data = same ? full : cropN(full, K, P, pad.start, sizes);
  return { data, classes: K, sizes: [...sizes], windows: windows.length };
}

/** Images: the 2D form of predictTiledN. */
export async function predictTiled(img: Planes, o: TiledOptions, run: WindowRunner): Promise<TiledResult> {
  const { height: H, width: W } = img;
  if (img.data.length !== img.channels * H * W) throw new Error(`image data has ${img.data.length} values, expected ${img.channels}x${H}x${W}`);
  const r = await predictTiledN({ data: img.data, channels: img.channels, sizes: [H, W] }, o, (x, n, [h, w]) => run(x, n, h, w));
  return { data: r.data, classes: r.classes, height: H, width: W, windows: r.windows };
}
