// Overlays for eyeballing predictions: the input in grey (or colour) with each class tinted
// in its own colour and its outline drawn opaque, so that thin structures stay visible.
import type { Image } from '../data/images/read-image.js';

const PALETTE: [number, number, number][] = [
  [1, 0.1, 0.1], [0.1, 0.9, 0.1], [0.2, 0.4, 1], [1, 0.85, 0], [1, 0, 1], [0, 1, 1],
];

/** `masks` is [K, H, W] of 0/1; `image` is the input in [0, 1] (1 or 3 channels). */
export function makeOverlay(image: Image, masks: Uint8Array, k: number, alpha = 0.4): Image {
  const { width: W, height: H } = image;
  const plane = W * H;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const src = image.channels === 3 ? c : 0;
    for (let i = 0; i < plane; i++) out[c * plane + i] = Math.max(0, Math.min(1, image.data[src * plane + i]));
  }
  for (let cls = 0; cls < k; cls++) {
    const m = masks.subarray(cls * plane, (cls + 1) * plane);
    const col = PALETTE[cls % PALETTE.length];
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!m[i]) continue;
        const edge = x === 0 || y === 0 || x === W - 1 || y === H - 1 || !m[i - 1] || !m[i + 1] || !m[i - W] || !m[i + W];
        const a = edge ? 1 : alpha;
        for (let c = 0; c < 3; c++) out[c * plane + i] = (1 - a) * out[c * plane + i] + a * col[c];
      }
  }
  return { width: W, height: H, channels: 3, data: out };
}
