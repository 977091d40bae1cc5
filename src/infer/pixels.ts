// Decoded RGBA pixels (a canvas's ImageData) to the CHW planes readImage gives in Node, so that
// the browser page feeds the network the same values: 8-bit / 255; a grey picture (R = G = B
// everywhere) stays one channel as in Node; RGB to one channel is ITU-R 601 luma as
// convertChannels. Browser-safe: imports no Node module.

export function rgbaToPlanes(rgba: ArrayLike<number>, width: number, height: number, channels: number): Float32Array {
  if (channels !== 1 && channels !== 3) throw new Error(`the model takes ${channels} channels; pictures give 1 or 3`);
  const plane = width * height;
  if (rgba.length !== 4 * plane) throw new Error(`expected ${4 * plane} RGBA values, got ${rgba.length}`);
  let grey = true;
  for (let i = 0; i < plane && grey; i++) grey = rgba[4 * i] === rgba[4 * i + 1] && rgba[4 * i] === rgba[4 * i + 2];
  const inv = 1 / 255;
  const out = new Float32Array(channels * plane);
  if (grey) {
    for (let i = 0; i < plane; i++) out[i] = rgba[4 * i] * inv;
    for (let c = 1; c < channels; c++) out.copyWithin(c * plane, 0, plane);
    return out;
  }
  const rgb = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) rgb[c * plane + i] = rgba[4 * i + c] * inv;
  if (channels === 3) return rgb;
  for (let i = 0; i < plane; i++) out[i] = 0.299 * rgb[i] + 0.587 * rgb[plane + i] + 0.114 * rgb[2 * plane + i];
  return out;
}
