// Sliding-window layout and blending weights. Windows overlap; each pixel's prediction is
// the weighted mean over the windows covering it, with weights falling off towards a
// window's border (where the network sees the least context) so that seams vanish.

export type BlendKind = 'gaussian' | 'linear';

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

export interface Window { top: number; left: number }

export interface TileLayout {
  windows: Window[];
  tileH: number;
  tileW: number;
  /** Per-axis weights; all ones along an axis that a single window covers (exact untiled result). */
  rowWeights: Float32Array;
  colWeights: Float32Array;
}

export function tileLayout(H: number, W: number, tileH: number, tileW: number, overlap: number, kind: BlendKind): TileLayout {
  const th = Math.min(tileH, H);
  const tw = Math.min(tileW, W);
  const rows = windowStarts(H, th, overlap);
  const cols = windowStarts(W, tw, overlap);
  const windows = rows.flatMap((top) => cols.map((left) => ({ top, left })));
  const ones = (n: number) => new Float32Array(n).fill(1);
  return {
    windows, tileH: th, tileW: tw,
    rowWeights: rows.length > 1 ? blendProfile(th, kind) : ones(th),
    colWeights: cols.length > 1 ? blendProfile(tw, kind) : ones(tw),
  };
}

/**
 * A window's weights along one axis: where its side lies on the image border it saw the same
 * context as a whole-image run, so that half keeps the full weight instead of fading out (a
 * fading side let a neighbour, which sees less of the border, dominate there).
 */
function borderAware(w: Float32Array, atStart: boolean, atEnd: boolean): Float32Array {
  if (!atStart && !atEnd) return w;
  const out = w.slice();
  const top = Math.max(...w), mid = (w.length - 1) / 2;
  for (let i = 0; i < w.length; i++) if ((atStart && i <= mid) || (atEnd && i >= mid)) out[i] = top;
  return out;
}

/** Accumulates weighted window predictions ([K, th, tw]) into a [K, H, W] map. */
export class Blender {
  private sum: Float64Array;
  private weight: Float64Array;

  constructor(readonly k: number, readonly H: number, readonly W: number, readonly layout: TileLayout) {
    this.sum = new Float64Array(k * H * W);
    this.weight = new Float64Array(H * W);
  }

  add(win: Window, pred: ArrayLike<number>): void {
    const { tileH: th, tileW: tw } = this.layout;
    const { H, W } = this;
    const rowWeights = borderAware(this.layout.rowWeights, win.top === 0, win.top + th === H);
    const colWeights = borderAware(this.layout.colWeights, win.left === 0, win.left + tw === W);
    for (let y = 0; y < th; y++) {
      const ry = rowWeights[y];
      const row = (win.top + y) * W + win.left;
      for (let x = 0; x < tw; x++) this.weight[row + x] += ry * colWeights[x];
      for (let c = 0; c < this.k; c++) {
        const dst = c * H * W + row;
        const src = (c * th + y) * tw;
        for (let x = 0; x < tw; x++) this.sum[dst + x] += ry * colWeights[x] * pred[src + x];
      }
    }
  }

  result(): Float32Array {
    const out = new Float32Array(this.sum.length);
    const plane = this.H * this.W;
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i] / this.weight[i % plane];
    return out;
  }
}
