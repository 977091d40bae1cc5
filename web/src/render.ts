// Pixels in and out of the page: decoding a PNG/JPEG exactly (no colour management), the
// overlay of the mask on the picture, and the mask as a PNG file.

export interface Picture { name: string; width: number; height: number; rgba: Uint8ClampedArray; bitmap: ImageBitmap }

export async function decodePicture(file: File): Promise<Picture> {
  if (!/^image\/(png|jpeg)$/.test(file.type) && !/\.(png|jpe?g)$/i.test(file.name)) throw new Error(`${file.name}: not a PNG or JPEG`);
  // no colour-space conversion: the same 8-bit values as Node's decoder
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = document.createElement('canvas');
  [c.width, c.height] = [bitmap.width, bitmap.height];
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
  return { name: file.name, width: c.width, height: c.height, rgba, bitmap };
}

const COLOURS = [[255, 64, 64], [64, 200, 255], [255, 210, 0], [120, 255, 120], [255, 100, 255], [255, 150, 50]];

/** The picture with labelled pixels tinted (label k in colour k - 1), on `canvas`. */
export function drawOverlay(canvas: HTMLCanvasElement, pic: Picture, labels: Uint8Array | null, opacity: number): void {
  [canvas.width, canvas.height] = [pic.width, pic.height];
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(pic.bitmap, 0, 0);
  if (!labels) return;
  const img = ctx.getImageData(0, 0, pic.width, pic.height);
  const d = img.data;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    const col = COLOURS[(labels[i] - 1) % COLOURS.length];
    for (let c = 0; c < 3; c++) d[4 * i + c] = Math.round(d[4 * i + c] * (1 - opacity) + col[c] * opacity);
  }
  ctx.putImageData(img, 0, 0);
}

/** The mask as PNG: one class 0/255 (as `unetpp predict`), several classes their label values. */
export async function maskPng(labels: Uint8Array, width: number, height: number, classes: number): Promise<Blob> {
  const c = document.createElement('canvas');
  [c.width, c.height] = [width, height];
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  const scale = classes === 1 ? 255 : 1;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] * scale;
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return new Promise((ok, fail) => c.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'));
}
