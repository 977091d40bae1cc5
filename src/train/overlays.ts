// A grid of validation overlays: each image in grey with the prediction tinted red (outline
// opaque) and the ground truth outlined in green, enlarged x2 (nearest) so outlines show.
import type { LoadedSample } from '../data/images/folder.js';
import { writeImagePng } from '../data/images/read-image.js';
import { makeOverlay } from '../infer/overlay.js';

export async function writeOverlayGrid(path: string, samples: LoadedSample[], probs: Float32Array[], cols = 4, zoom = 2): Promise<void> {
  const { width: w, height: h } = samples[0].image;
  const rows = Math.ceil(samples.length / cols);
  const gap = 4;
  const W = cols * (w * zoom + gap) + gap, H = rows * (h * zoom + gap) + gap;
  const out = new Float32Array(3 * W * H).fill(1);
  samples.forEach((s, n) => {
    const plane = w * h;
    const pred = new Uint8Array(plane), truth = new Uint8Array(2 * plane);
    for (let i = 0; i < plane; i++) { pred[i] = probs[n][i] > 0.5 ? 1 : 0; truth[plane + i] = s.mask.data[i] > 0.5 ? 1 : 0; }
    const tinted = makeOverlay(s.image, pred, 1, 0.35);
    const img = makeOverlay(tinted, truth, 2, 0); // class 1 is green; alpha 0 draws the outline only
    const ox = gap + (n % cols) * (w * zoom + gap), oy = gap + Math.floor(n / cols) * (h * zoom + gap);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h * zoom; y++)
        for (let x = 0; x < w * zoom; x++)
          out[c * W * H + (oy + y) * W + ox + x] = img.data[c * plane + Math.floor(y / zoom) * w + Math.floor(x / zoom)];
  });
  await writeImagePng(path, { width: W, height: H, channels: 3, data: out });
}
