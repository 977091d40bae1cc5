// Counter-based dropout randomness: the mask is a pure function of (seed, step, index), so the
// backward pass recomputes it and every backend draws the same mask. Mirrored in native/kernels.
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Stream key for one dropout node at one run step. */
export function dropoutStream(seed: number, step: number): number {
  return mix((seed ^ mix((step + 0x9e3779b9) >>> 0)) >>> 0);
}

/** Uniform in [0, 1) for logical (NCHW) element index i. */
export function dropoutUniform(stream: number, i: number): number {
  return mix((Math.imul(i, 0x9e3779b1) + stream) >>> 0) / 4294967296;
}
