// Batches of random 3D patches for training: x [N, C, D, H, W] and one-hot targets
// y [N, K, D, H, W] (K planes of the LabelSpec). As the 2D BatchLoader, every random draw derives
// from (seed, epoch, batch, slot), so a batch is a pure function of its position and --resume is
// exact. Foreground oversampling as nnU-Net: a fixed fraction of the draws (default a third) is
// centred on a voxel of a foreground class chosen uniformly among those the case has. Cases
// smaller than the patch are padded (patches.ts). With an ignore label (LabelSpec other:
// 'ignore'), batches carry a per-voxel ignore mask, and ignored voxels have no target plane.
import { augmentIntensity3d, drawTransform3d, IDENTITY_3D, type Augment3dOptions } from '../augmentation/augment3d.js';
import { expandPlanes, hasIgnore, ignoreMask, planeCount, type LabelSpec } from '../labels.js';
import { epochOrder, prefetchedEpoch, type LoaderState } from './loader.js';
import { patchStart, readPatch, shapeOf } from './patches.js';
import { hashSeed, Rng } from '../rng.js';
import type { VolumeSource } from '../volumes/volume-store.js';

export interface PatchLoaderOptions {
  /** Patch size [D, H, W] (z, y, x). */
  patch: [number, number, number];
  batchSize: number;
  /** Draws per epoch; default the number of cases (nnU-Net uses 250 batches an epoch). */
  samplesPerEpoch?: number;
  seed?: number;
  /** Fraction of draws centred on foreground. Default 1/3. */
  foregroundFraction?: number;
  augment?: Augment3dOptions | null;
  /** Target planes; default the store's labels option, else binary. */
  labels?: LabelSpec;
  /** Drop the last incomplete batch (default true: one batch shape, one plan). */
  dropLast?: boolean;
  /** Build batch b+1 while the caller awaits on batch b (default true). */
  prefetch?: boolean;
}

export interface PatchBatch {
  x: Float32Array; // [N, C, D, H, W]
  y: Float32Array; // [N, K, D, H, W]
  /** `[N, D, H, W]`: 1 where a voxel is ignored (left out of the loss); only with an ignore label. */
  ignore?: Uint8Array;
  ids: string[];
  /** Whether each patch was forced onto foreground. */
  foreground: boolean[];
  n: number;
  c: number;
  k: number;
  d: number;
  h: number;
  w: number;
}

/** Draw g of an epoch is a foreground draw: exactly `fraction` of the draws, spread evenly. */
export const isForegroundDraw = (g: number, fraction: number) => Math.floor((g + 1) * fraction) > Math.floor(g * fraction);

export class PatchLoader {
  readonly k: number;
  private pos: LoaderState;
  private readonly spec: LabelSpec;

  constructor(private readonly store: VolumeSource, private readonly opts: PatchLoaderOptions) {
    if (!(opts.batchSize >= 1)) throw new Error('PatchLoader: batchSize must be >= 1');
    if (opts.patch.length !== 3 || opts.patch.some((p) => !Number.isInteger(p) || p < 1)) throw new Error(`PatchLoader: patch must be three positive integers [D, H, W], got ${opts.patch}`);
    const f = opts.foregroundFraction ?? 1 / 3;
    if (!(f >= 0 && f <= 1)) throw new Error(`PatchLoader: foregroundFraction must be in [0, 1], got ${f}`);
    this.spec = opts.labels ?? store.labels ?? { kind: 'binary' };
    this.k = planeCount(this.spec);
    if (opts.samplesPerEpoch !== undefined && !(Number.isInteger(opts.samplesPerEpoch) && opts.samplesPerEpoch >= 1))
      throw new Error(`PatchLoader: samplesPerEpoch must be a positive integer, got ${opts.samplesPerEpoch}`);
    this.pos = { seed: opts.seed ?? 0, epoch: 0, batch: 0 };
    if (this.length === 0) throw new Error(`PatchLoader: ${this.draws} draws per epoch make no full batch of ${opts.batchSize} (raise samplesPerEpoch or set dropLast: false)`);
  }

  get draws(): number {
    return this.opts.samplesPerEpoch ?? this.store.length;
  }

  get length(): number {
    const n = this.draws / this.opts.batchSize;
    return this.opts.dropLast === false ? Math.ceil(n) : Math.floor(n);
  }

  getState(): LoaderState {
    return { ...this.pos };
  }

  setState(s: LoaderState): void {
    this.pos = { ...s };
  }

  order(epoch: number): number[] {
    return epochOrder(this.store.length, this.draws, this.pos.seed, epoch);
  }

  /** Batch b of an epoch: a pure function of (seed, epoch, b) and the data. */
  async makeBatch(epoch: number, b: number, order = this.order(epoch)): Promise<PatchBatch> {
    const { batchSize, patch, augment } = this.opts;
    const fraction = this.opts.foregroundFraction ?? 1 / 3;
    const picks = order.slice(b * batchSize, (b + 1) * batchSize);
    const vols = await Promise.all(picks.map((i) => this.store.get(i)));
    const c = vols[0].channels;
    const [d, h, w] = patch;
    const n = picks.length, k = this.k, size = d * h * w;
    const x = new Float32Array(n * c * size);
    const y = new Float32Array(n * k * size);
    const ignore = hasIgnore(this.spec) ? new Uint8Array(n * size) : undefined;
    const fg: boolean[] = [];
    vols.forEach((v, slot) => {
      const file = this.store.nameOf(picks[slot]);
      if (v.channels !== c) throw new Error(`${file}: ${v.channels} channels, but ${vols[0].id} has ${c}`);
      if (!v.labels) throw new Error(`${file}: case ${v.id} has no label volume to train on`);
      const rng = new Rng(hashSeed(this.pos.seed, epoch, b, slot));
      const classes = v.foreground.filter((f) => f.length);
      const wantFg = isForegroundDraw(b * batchSize + slot, fraction) && classes.length > 0;
      const voxel = wantFg ? (() => { const cls = classes[rng.int(classes.length)]; return cls[rng.int(cls.length)]; })() : undefined;
      const start = patchStart(shapeOf(v), patch, rng, voxel);
      const anisotropic = Math.max(...v.spacing) > 3 * Math.min(...v.spacing);
      const t = augment ? drawTransform3d(patch, rng, augment, anisotropic) : IDENTITY_3D;
      const p = readPatch(v, start, patch, t);
      if (augment) augmentIntensity3d(p.image, c, size, rng, augment);
      x.set(p.image, slot * c * size);
      expandPlanes(p.labels!, this.spec, y.subarray(slot * k * size, (slot + 1) * k * size));
      if (ignore) ignoreMask(p.labels!, this.spec, ignore.subarray(slot * size, (slot + 1) * size));
      fg.push(wantFg);
    });
    return { x, y, ...(ignore ? { ignore } : {}), ids: vols.map((v) => v.id), foreground: fg, n, c, k, d, h, w };
  }

  /** The rest of the current epoch, from the saved position (as BatchLoader.epoch). */
  epoch(): AsyncGenerator<PatchBatch> {
    const epoch = this.pos.epoch, order = this.order(epoch);
    return prefetchedEpoch(this.length, { get: () => this.pos, set: (s) => { this.pos = s; } }, (b) => this.makeBatch(epoch, b, order), this.opts.prefetch !== false);
  }
}
