// Batches for training and evaluation from samples decoded once (LoadedSample, at working size).
// Every random draw derives from (seed, epoch, batch, slot), so a batch is a pure function of
// its position: resuming from {epoch, batch} reproduces the run exactly, and prefetching
// cannot change the stream.
import { augmentPair, type AugmentOptions } from '../augmentation/augment.js';
import type { LoadedSample } from '../images/folder.js';
import { hashSeed, Rng } from '../rng.js';
import { normalize, randomCrop, type Normalize } from '../images/transforms.js';

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default true). Evaluation loaders set false. */
  shuffle?: boolean;
  seed?: number;
  /** Augmentation (training only); null or absent: none. */
  augment?: AugmentOptions | null;
  /** Random window of this size from each sample (e.g. ISBI 512 -> 256). */
  crop?: { width: number; height: number };
  /** Applied last, to the image only. Default none (values stay in [0, 1]). */
  normalize?: Normalize;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Build batch b+1 while the caller awaits on batch b (default true). */
  prefetch?: boolean;
  /**
   * Draws per epoch (default: the number of samples). Small sets of large images (DRIVE's 20,
   * ISBI's 30) train on many random crops: each epoch walks through reshuffled passes over the
   * samples until it has this many, so every image is drawn as evenly as possible.
   */
  samplesPerEpoch?: number;
}

export interface Batch {
  x: Float32Array; // [N, C, H, W]
  y: Float32Array; // [N, K, H, W]
  ids: string[];
  n: number;
  c: number;
  k: number;
  h: number;
  w: number;
}

/** Where a loader stands; save it with a checkpoint, restore it to resume exactly. */
export interface LoaderState {
  seed: number;
  epoch: number;
  batch: number; // next batch to produce in this epoch
}

/**
 * Indices drawn in an epoch: `draws` long, made of passes over the `count` items, each pass
 * reshuffled (so items are drawn as evenly as possible). Shared by the 2D and 3D loaders.
 */
export function epochOrder(count: number, draws: number, seed: number, epoch: number, shuffle = true): number[] {
  const out: number[] = [];
  for (let pass = 0; out.length < draws; pass++) {
    const idx = Array.from({ length: count }, (_, i) => i);
    // pass 0 keeps the seed of the plain one-pass order, so runs without samplesPerEpoch are unchanged
    const s = pass === 0 ? hashSeed(seed, epoch) : hashSeed(seed, epoch, pass);
    out.push(...(shuffle ? new Rng(s).shuffle(idx) : idx));
  }
  return out.slice(0, draws);
}

export class BatchLoader {
  readonly c: number;
  readonly k: number;
  readonly h: number;
  readonly w: number;
  private pos: LoaderState;

  constructor(private readonly samples: LoadedSample[], private readonly opts: LoaderOptions) {
    if (!samples.length) throw new Error('BatchLoader: no samples');
    if (!(opts.batchSize >= 1)) throw new Error('BatchLoader: batchSize must be >= 1');
    const s0 = samples[0];
    this.c = s0.image.channels;
    this.k = s0.mask.channels;
    this.h = opts.crop?.height ?? s0.image.height;
    this.w = opts.crop?.width ?? s0.image.width;
    for (const s of samples) {
      if (s.image.channels !== this.c || s.mask.channels !== this.k) throw new Error(`BatchLoader: sample ${s.id} has ${s.image.channels} channels / ${s.mask.channels} classes, expected ${this.c} / ${this.k}`);
      if (s.mask.width !== s.image.width || s.mask.height !== s.image.height) throw new Error(`BatchLoader: sample ${s.id}: image and mask sizes differ`);
      if (!opts.crop && (s.image.width !== this.w || s.image.height !== this.h)) throw new Error(`BatchLoader: sample ${s.id} is ${s.image.width}x${s.image.height}, expected ${this.w}x${this.h} (resize when loading, or set crop)`);
    }
    if (opts.samplesPerEpoch !== undefined && !(Number.isInteger(opts.samplesPerEpoch) && opts.samplesPerEpoch >= 1))
      throw new Error(`BatchLoader: samplesPerEpoch must be a positive integer, got ${opts.samplesPerEpoch}`);
    this.pos = { seed: opts.seed ?? 0, epoch: 0, batch: 0 };
  }

  /** Draws per epoch. */
  get draws(): number {
    return this.opts.samplesPerEpoch ?? this.samples.length;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.draws / this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  getState(): LoaderState {
    return { ...this.pos };
  }

  setState(s: LoaderState): void {
    this.pos = { ...s };
  }

  /** Sample order of an epoch. */
  order(epoch: number): number[] {
    return epochOrder(this.samples.length, this.draws, this.pos.seed, epoch, this.opts.shuffle !== false);
  }

  /** Builds batch b of an epoch (synchronously; a pure function of seed, epoch, b). */
  makeBatch(epoch: number, b: number, order = this.order(epoch)): Batch {
    const { batchSize, augment, crop } = this.opts;
    const picks = order.slice(b * batchSize, (b + 1) * batchSize);
    const { c, k, h, w } = this;
    const n = picks.length;
    const x = new Float32Array(n * c * h * w);
    const y = new Float32Array(n * k * h * w);
    picks.forEach((si, slot) => {
      const s = this.samples[si];
      const rng = new Rng(hashSeed(this.pos.seed, epoch, b, slot));
      let img = s.image.data;
      let msk = s.mask.data;
      if (crop) ({ image: img, mask: msk } = randomCrop(img, c, msk, k, s.image.height, s.image.width, h, w, rng));
      if (augment) ({ image: img, mask: msk } = augmentPair(img, c, msk, k, h, w, rng, augment));
      if (this.opts.normalize && this.opts.normalize.kind !== 'none') {
        if (img === s.image.data) img = img.slice(); // never normalise the cache
        normalize(img, c, h * w, this.opts.normalize);
      }
      x.set(img, slot * c * h * w);
      y.set(msk, slot * k * h * w);
    });
    return { x, y, ids: picks.map((i) => this.samples[i].id), n, c, k, h, w };
  }

  /**
   * The rest of the current epoch, from the saved position; the position advances as batches
   * are taken, and moves to the next epoch at the end.
   */
  epoch(): AsyncGenerator<Batch> {
    const order = this.order(this.pos.epoch);
    const epoch = this.pos.epoch;
    return prefetchedEpoch(this.length, { get: () => this.pos, set: (s) => { this.pos = s; } }, (b) => this.makeBatch(epoch, b, order), this.opts.prefetch !== false);
  }
}

/**
 * Batches from the saved position to the end of its epoch, batch b+1 built while the caller
 * awaits on batch b (setImmediate: the work runs while e.g. a native training step runs) unless
 * prefetch is false; the position advances as batches are taken, to the next epoch at the end.
 * Shared by the image and the volume-patch loaders.
 */
export async function* prefetchedEpoch<B>(length: number, pos: { get(): LoaderState; set(s: LoaderState): void },
                                         make: (b: number) => B | Promise<B>, prefetch: boolean): AsyncGenerator<B> {
  const { epoch, seed } = pos.get();
  const build = (b: number): Promise<B> => {
    const p = prefetch ? new Promise<B>((res, rej) => setImmediate(() => { try { Promise.resolve(make(b)).then(res, rej); } catch (e) { rej(e); } }))
      : Promise.resolve().then(() => make(b));
    p.catch(() => {}); // surfaced by the await below, not as an unhandled rejection
    return p;
  };
  let b = pos.get().batch;
  let pending = b < length ? build(b) : null;
  while (pending !== null) {
    const batch = await pending;
    pending = b + 1 < length ? build(b + 1) : null;
    pos.set({ ...pos.get(), batch: b + 1 });
    yield batch;
    b++;
  }
  pos.set({ seed, epoch: epoch + 1, batch: 0 });
}

/** Samples grouped by image size (first-seen order), e.g. one evaluation loader per size. */
export function groupBySize(samples: LoadedSample[]): LoadedSample[][] {
  const groups = new Map<string, LoadedSample[]>();
  for (const s of samples) {
    const key = `${s.image.width}x${s.image.height}`;
    const g = groups.get(key);
    if (g) g.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.values()];
}
