// Padding, sliding windows and blending around any async network runner: the same steps as
// createPredictor (predict.ts) without TTA, for runtimes whose run is a promise (the browser
// page runs onnxruntime-web through it). Browser-safe: imports no Node module.
import { paddingFor, reflectPad, crop } from './pad.js';
import { tileLayout, Blender, type BlendKind } from './tiles.js';

/** CHW planes (predict.ts's InputImage) and probabilities [classes, H, W] (its ProbMap). */
export interface Planes { data: ArrayLike<number>; channels: number; height: number; width: number }
export interface TiledResult { data: Float32Array; classes: number; height: number; width: number; windows: number }

export interface TiledOptions {
  /** Classes the network outputs. */
  classes: number;
  /** Sizes fed to the network are multiples of this (2^level). */
  multiple: number;
  /** Window size [h, w] (multiples of `multiple`); default the whole (padded) image. */
  tile?: [number, number];
  overlap?: number; // 0.25
  blend?: BlendKind; // gaussian
  /** Windows per run (default 1); the last run may get fewer. */
  batch?: number;
}

/** Probabilities [n, classes, h, w] for windows [n, channels, h, w]. */
export type WindowRunner = (windows: Float32Array, n: number, h: number, w: number) => Promise<ArrayLike<number>>;

export async function predictTiled(img: Planes, o: TiledOptions, run: WindowRunner): Promise<TiledResult> {
  const { channels: C, height: H, width: W } = img;
  const K = o.classes;
  if (img.data.length !== C * H * W) throw new Error(`image data has ${img.data.length} values, expected ${C}x${H}x${W}`);
  const pad = paddingFor(H, W, o.multiple);
  const padded = pad.height === H && pad.width === W ? img.data : reflectPad(img.data, C, H, W, pad);
  const [Hp, Wp] = [pad.height, pad.width];
  const layout = tileLayout(Hp, Wp, o.tile?.[0] ?? Hp, o.tile?.[1] ?? Wp, o.overlap ?? 0.25, o.blend ?? 'gaussian');
  const { tileH: th, tileW: tw, windows } = layout;
  const blender = new Blender(K, Hp, Wp, layout);
  const batch = Math.max(1, o.batch ?? 1);
  const inSize = C * th * tw;
  const outSize = K * th * tw;
  for (let start = 0; start < windows.length; start += batch) {
    const chunk = windows.slice(start, start + batch);
    const feed = new Float32Array(chunk.length * inSize);
    chunk.forEach((win, i) => feed.set(crop(padded, C, Hp, Wp, win.top, win.left, th, tw), i * inSize));
    const got = await run(feed, chunk.length, th, tw);
    const out = got instanceof Float32Array ? got : Float32Array.from(got);
    if (out.length !== chunk.length * outSize) throw new Error(`network returned ${out.length} values, expected ${chunk.length}x${K}x${th}x${tw}`);
    chunk.forEach((win, i) => blender.add(win, out.subarray(i * outSize, (i + 1) * outSize)));
  }
  const full = blender.result();
  const data = Hp === H && Wp === W ? full : crop(full, K, Hp, Wp, pad.top, pad.left, H, W);
  return { data, classes: K, height: H, width: W, windows: windows.length };
}
