// Reflect padding to the model's size rule (multiples of 2^level) and cropping back, so that
// any image size can be predicted. Mirroring (not zeros) keeps border statistics natural.

/** Index into [0, n) for any integer i, mirroring at the edges without repeating them (numpy 'reflect'). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  // repeated mirroring handles pads larger than the image (tiny inputs)
  let r = ((i % period) + period) % period;
  return r < n ? r : period - r;
}

export interface Padding { top: number; left: number; height: number; width: number }

/** Padded size (the next multiple of m) with the extra split evenly, the odd pixel at the end. */
export function paddingFor(h: number, w: number, m: number): Padding {
  const height = Math.ceil(h / m) * m;
  const width = Math.ceil(w / m) * m;
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height, width };
}

/** Reflect-pads a CHW image to pad.height x pad.width. */
export function reflectPad(data: ArrayLike<number>, c: number, h: number, w: number, pad: Padding): Float32Array {
  const { top, left, height, width } = pad;
  const out = new Float32Array(c * height * width);
  const cols = Int32Array.from({ length: width }, (_, x) => reflectIndex(x - left, w));
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < height; y++) {
      const src = ch * h * w + reflectIndex(y - top, h) * w;
      const dst = (ch * height + y) * width;
      for (let x = 0; x < width; x++) out[dst + x] = data[src + cols[x]];
    }
  }
  return out;
}

/** The h x w window at (top, left) of every channel of a CHW map. */
export function crop(data: ArrayLike<number>, c: number, H: number, W: number,
                     top: number, left: number, h: number, w: number): Float32Array {
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++) {
      const src = (ch * H + top + y) * W + left;
      const dst = (ch * h + y) * w;
      for (let x = 0; x < w; x++) out[dst + x] = data[src + x];
    }
  return out;
}
