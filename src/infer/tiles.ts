// Sliding-window layout and blending weights. Windows overlap; each pixel's prediction is
// the weighted mean over the windows covering it, with weights falling off towards a
// window's border (where the network sees the least context) so that seams vanish. Any
// spatial rank (images, volumes).
import { forEachRow, rowOffset, volumeOf } from './grid.js';
import type { BlendKind } from '../io/web-manifest.js';

export type { BlendKind };

/** Window starts along one axis of length size for windows of length tile (tile < size). */
export function windowStarts(size: number, tile: number, overlap: number): number[] {
  if (tile >= size) return [0];
  const stride = Math.max(1, Math.floor(tile * (1 - overlap)));
  const n = Math.ceil((size - tile) / stride) + 1;
  // spread evenly so that the last window ends exactly at the border
  return Array.from({ length: n }, (_, i) => Math.round((i * (size - tile)) / (n - 1)));
}

/** 1D weights of a window of length n. Never zero, so every covered pixel gets a value. */
export function blendProfile(n: number, kind: BlendKind): Float32Array {
  const w = new Float32Array(n);
  const mid = (n - 1) / 2;
  for (let i = 0; i < n; i++) {
    if (kind === 'gaussian') {
      const sigma = n / 8; // as nnU-Net: the centre dominates, the border still counts
      w[i] = Math.exp(-((i - mid) ** 2) / (2 * sigma * sigma));
    } else {
      w[i] = 1 - Math.abs(i - mid) / (mid + 1);
    }
  }
  const floor = 1e-3 * Math.max(...w);
  for (let i = 0; i < n; i++) w[i] = Math.max(w[i], floor);
  return w;
}

/** A window's first index along every spatial axis. */
export type Start = readonly number[];

export interface TileLayout {
  windows: Start[];
  /** Window size per axis (at most the map's). */
  tile: number[];
  /** Per-axis weights; all ones along an axis that a single window covers (exact untiled result). */
  weights: Float32Array[];
}

/** Windows (every combination of the per-axis starts) of a map of the given sizes. */
export function tileLayout(sizes: readonly number[], tile: readonly number[], overlap: number, kind: BlendKind): TileLayout {
  const t = sizes.map((s, k) => Math.min(tile[k], s));
  const starts = sizes.map((s, k) => windowStarts(s, t[k], overlap));
  let windows: number[][] = [[]];
  for (const axis of starts) windows = windows.flatMap((w) => axis.map((a) => [...w, a]));
  return { windows, tile: t, weights: starts.map((st, k) => (st.length > 1 ? blendProfile(t[k], kind) : new Float32Array(t[k]).fill(1))) };
}

/**
 * A window's weights along one axis: where its side lies on the map's border it saw the same
 * context as a whole-map run, so that half keeps the full weight instead of fading out (a
 * fading side let a neighbour, which sees less of the border, dominate there).
 */
function borderAware(w: Float32Array, atStart: boolean, atEnd: boolean): Float32Array {
  if (!atStart && !atEnd) return w;
  const out = w.slice();
  const top = Math.max(...w), mid = (w.length - 1) / 2;
  for (let i = 0; i < w.length; i++) if ((atStart && i <= mid) || (atEnd && i >= mid)) out[i] = top;
  return out;
}

/** Accumulates weighted window predictions ([K, ...tile]) into a [K, ...sizes] map. */
export class Blender {
  private sum: Float64Array;
  private weight: Float64Array;
  private readonly volume: number;

  constructor(readonly k: number, readonly sizes: readonly number[], readonly layout: TileLayout) {
    this.volume = volumeOf(sizes);
    this.sum = new Float64Array(k * this.volume);
    this.weight = new Float64Array(this.volume);
  }

  add(start: Start, pred: ArrayLike<number>): void {
    const { tile } = this.layout, { sizes } = this, n = sizes.length;
    const w = this.layout.weights.map((wk, k) => borderAware(wk, start[k] === 0, start[k] + tile[k] === sizes[k]));
    const last = w[n - 1], len = tile[n - 1], tileVolume = volumeOf(tile);
    // Rows of one channel of the window: the outer weight is the product over the outer axes.
    forEachRow(1, tile, (src, idx) => {
      let outer = 1;
      for (let k = 0; k < n - 1; k++) outer *= w[k][idx[k + 1]];
      const dst = rowOffset(idx, sizes, (k, i) => i + start[k]) + start[n - 1];
      for (let x = 0; x < len; x++) this.weight[dst + x] += outer * last[x];
      for (let c = 0; c < this.k; c++) {
        const d = c * this.volume + dst, s = c * tileVolume + src;
        for (let x = 0; x < len; x++) this.sum[d + x] += outer * last[x] * pred[s + x];
      }
    });
  }

  result(): Float32Array {
    const out = new Float32Array(this.sum.length);
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i] / this.weight[i % this.volume];
    return out;
  }
}
