// Seeded nuclei-like images and masks for the demo and tests: blobby ellipses of varied size
// and brightness, touching neighbours, out-of-focus debris (not labelled), uneven background,
// blur and noise; fluorescence (bright on dark) or bright-field (stained, dark on light).
// Image i depends only on (seed, i), so a longer set starts with the same images.
import { gaussianBlur } from '../augmentation/augment.js';
import { writeFolder, type LoadedSample, type SplitName } from './folder.js';
import { hashSeed, Rng } from '../rng.js';

export interface SyntheticOptions {
  count: number;
  width?: number; // 96
  height?: number; // 96
  seed?: number; // 0
  channels?: 1 | 3; // 3
  style?: 'fluorescence' | 'brightfield' | 'mixed'; // mixed: 70% fluorescence
  nuclei?: [number, number]; // count range per image, [4, 16]
  radius?: [number, number]; // semi-axis range in pixels, [3, 9]
  touching?: number; // probability a nucleus is placed against the previous one, 0.35
  noise?: number; // Gaussian noise std (scaled by U(0.5, 1.5) per image), 0.05
  blur?: number; // blur sigma (scaled by U(0.6, 1.4) per image), 1
  splitFractions?: [number, number, number]; // [0.8, 0.1, 0.1]
}

interface Nucleus {
  x: number;
  y: number;
  a: number;
  b: number;
  cos: number;
  sin: number;
  harm: [number, number, number][]; // boundary wobble: amplitude, frequency, phase
}

export function syntheticNuclei(o: SyntheticOptions): LoadedSample[] {
  const seed = o.seed ?? 0;
  const out: LoadedSample[] = [];
  for (let i = 0; i < o.count; i++) out.push(oneImage(i, new Rng(hashSeed(seed, i)), o));
  const [ft, fv] = o.splitFractions ?? [0.8, 0.1, 0.1];
  const order = new Rng(hashSeed(seed, 0x5117)).shuffle(out.map((_, i) => i));
  const nt = Math.round(ft * o.count);
  const nv = Math.round(fv * o.count);
  order.forEach((idx, r) => (out[idx].split = (r < nt ? 'train' : r < nt + nv ? 'val' : 'test') as SplitName));
  return out;
}

/** Generates and writes DIR/images, DIR/masks and DIR/split.csv. */
export async function writeSynthetic(dir: string, o: SyntheticOptions): Promise<LoadedSample[]> {
  const s = syntheticNuclei(o);
  await writeFolder(dir, s);
  return s;
}

function oneImage(index: number, rng: Rng, o: SyntheticOptions): LoadedSample {
  const W = o.width ?? 96;
  const H = o.height ?? 96;
  const plane = W * H;
  const style = o.style ?? 'mixed';
  const bright = style === 'fluorescence' || (style === 'mixed' && rng.bool(0.7));
  const [rmin, rmax] = o.radius ?? [3, 9];
  const [nmin, nmax] = o.nuclei ?? [4, 16];

  // density: 0 = empty background, ~1 = a bright (or dark-stained) nucleus
  const density = unevenBackground(W, H, rng);
  const mask = new Float32Array(plane);
  const nuclei: Nucleus[] = [];
  const n = nmin + rng.int(nmax - nmin + 1);
  for (let t = 0; t < n; t++) {
    const a = rng.uniform(rmin, rmax);
    const b = a * rng.uniform(0.6, 1);
    const prev = nuclei[nuclei.length - 1];
    let x: number;
    let y: number;
    if (prev && rng.bool(o.touching ?? 0.35)) {
      const ang = rng.uniform(0, 2 * Math.PI);
      const d = (Math.max(prev.a, prev.b) * 0.8 + a) * rng.uniform(0.8, 1.0);
      x = prev.x + d * Math.cos(ang);
      y = prev.y + d * Math.sin(ang);
    } else {
      x = rng.uniform(0, W);
      y = rng.uniform(0, H);
    }
    const th = rng.uniform(0, Math.PI);
    const harm: [number, number, number][] = [2, 3, 4].map((f) => [rng.uniform(0, 0.12), f, rng.uniform(0, 2 * Math.PI)]);
    const nu: Nucleus = { x, y, a, b, cos: Math.cos(th), sin: Math.sin(th), harm };
    nuclei.push(nu);
    const level = rng.uniform(0.3, 0.9);
    const texture = rng.uniform(0.05, 0.25);
    paint(nu, W, H, (i, edge) => {
      mask[i] = 1;
      const grain = 1 + texture * (rng.next() - 0.5) - 0.15 * edge; // darker rim, grainy chromatin
      density[i] = Math.max(density[i], level * grain);
    });
  }
  // out-of-focus debris: blurry, dim, unlabelled (a threshold alone cannot reject it)
  const debris = rng.int(3);
  for (let t = 0; t < debris; t++) {
    const blob = new Float32Array(plane);
    const nu: Nucleus = { x: rng.uniform(0, W), y: rng.uniform(0, H), a: rng.uniform(4, 12), b: rng.uniform(4, 12), cos: 1, sin: 0, harm: [] };
    paint(nu, W, H, (i) => (blob[i] = rng.uniform(0.2, 0.4)));
    gaussianBlur(blob, H, W, rng.uniform(3, 5));
    for (let i = 0; i < plane; i++) density[i] += blob[i];
  }
  gaussianBlur(density, H, W, (o.blur ?? 1) * rng.uniform(0.6, 1.4));
  const sd = (o.noise ?? 0.05) * rng.uniform(0.5, 1.5);
  for (let i = 0; i < plane; i++) density[i] += sd * rng.normal();

  const channels = o.channels ?? 3;
  const data = new Float32Array(channels * plane);
  // colour: fluorescence is grey or tinted; bright-field subtracts a purple stain from white
  const tint = bright ? (rng.bool(0.6) ? [1, 1, 1] : [rng.uniform(0.3, 1), rng.uniform(0.3, 1), 1]) : [0.55, 0.75, 0.35].map((v) => v * rng.uniform(0.8, 1.2));
  const white = bright ? 0 : rng.uniform(0.8, 0.95);
  for (let c = 0; c < channels; c++) {
    const g = channels === 1 ? (bright ? 1 : 0.6) : tint[c];
    for (let i = 0; i < plane; i++) {
      const v = bright ? density[i] * g : white - density[i] * g;
      data[c * plane + i] = Math.min(1, Math.max(0, v));
    }
  }
  return {
    id: `syn_${String(index).padStart(4, '0')}`,
    image: { width: W, height: H, channels, data },
    mask: { width: W, height: H, channels: 1, data: mask },
  };
}

function unevenBackground(W: number, H: number, rng: Rng): Float32Array {
  const f = new Float32Array(W * H);
  const base = rng.uniform(0.02, 0.15);
  const slope = rng.uniform(0, 0.12);
  const phi = rng.uniform(0, 2 * Math.PI);
  const lumps = new Float32Array(W * H);
  for (let i = 0; i < lumps.length; i++) lumps[i] = rng.normal();
  gaussianBlur(lumps, H, W, Math.max(W, H) / 8);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const g = ((x - W / 2) * Math.cos(phi) + (y - H / 2) * Math.sin(phi)) / Math.max(W, H);
      f[y * W + x] = base + slope * (g + 0.5) + 0.5 * lumps[y * W + x];
    }
  }
  return f;
}

/** Calls fn(pixel, edge) for pixels inside a wobbly ellipse; edge in [0,1] rises towards the rim. */
function paint(nu: Nucleus, W: number, H: number, fn: (i: number, edge: number) => void): void {
  const r = Math.max(nu.a, nu.b) * 1.4;
  for (let y = Math.max(0, Math.floor(nu.y - r)); y <= Math.min(H - 1, Math.ceil(nu.y + r)); y++) {
    for (let x = Math.max(0, Math.floor(nu.x - r)); x <= Math.min(W - 1, Math.ceil(nu.x + r)); x++) {
      const dx = x - nu.x;
      const dy = y - nu.y;
      const u = (dx * nu.cos + dy * nu.sin) / nu.a;
      const v = (-dx * nu.sin + dy * nu.cos) / nu.b;
      const rho = Math.hypot(u, v);
      let lim = 1;
      if (nu.harm.length) {
        const phi = Math.atan2(v, u);
        for (const [amp, f, ph] of nu.harm) lim += amp * Math.sin(f * phi + ph);
      }
      if (rho < lim) fn(y * W + x, rho / lim);
    }
  }
}
