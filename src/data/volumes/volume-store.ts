// Lazy access to the cases of a volume dataset: a case is decoded (loadCase) when first asked
// for and kept in a cache bounded in bytes, least recently used out first, so a dataset larger
// than memory still trains (at the cost of decoding again). Concurrent requests for one case
// share one decode.
import { loadCase, type LoadedVolume, type VolumeLoadOptions } from './volume-load.js';
import type { VolumeCase } from './volume-layout.js';
import type { LabelSpec } from '../labels.js';

/** What patch sampling needs from a set of volumes: files on disk (VolumeStore) or in memory (MemoryVolumes). */
export interface VolumeSource {
  readonly length: number;
  get(i: number): Promise<LoadedVolume>;
  /** What an error about case i should name (its first image file). */
  nameOf(i: number): string;
  /** The label spec the volumes were loaded with. */
  readonly labels?: LabelSpec;
}

/** Volumes already in memory (synthetic data, tests). */
export class MemoryVolumes implements VolumeSource {
  constructor(readonly volumes: LoadedVolume[], readonly labels?: LabelSpec) {
    if (!volumes.length) throw new Error('MemoryVolumes: no volumes');
  }
  get length(): number { return this.volumes.length; }
  async get(i: number): Promise<LoadedVolume> { return this.volumes[i]; }
  nameOf(i: number): string { return `volume ${this.volumes[i].id}`; }
}

export interface VolumeStoreOptions extends VolumeLoadOptions {
  /** Cache budget in bytes (images + labels). Default 2 GiB; 0 keeps nothing. */
  cacheBytes?: number;
}

const bytesOf = (v: LoadedVolume) => v.image.byteLength + (v.labels?.byteLength ?? 0) + v.foreground.reduce((s, f) => s + f.byteLength, 0);

export class VolumeStore implements VolumeSource {
  private cache = new Map<number, LoadedVolume>(); // insertion order = recency
  private pending = new Map<number, Promise<LoadedVolume>>();
  private bytes = 0;
  /** Decodes so far (cache misses), for tests and progress. */
  loads = 0;

  constructor(readonly cases: VolumeCase[], readonly opts: VolumeStoreOptions = {}) {
    if (!cases.length) throw new Error('VolumeStore: no cases');
  }

  get length(): number {
    return this.cases.length;
  }

  get labels(): LabelSpec | undefined {
    return this.opts.labels;
  }

  nameOf(i: number): string {
    return this.cases[i].images[0];
  }

  get cachedBytes(): number {
    return this.bytes;
  }

  async get(i: number): Promise<LoadedVolume> {
    if (!(i >= 0 && i < this.cases.length)) throw new RangeError(`VolumeStore: case ${i} out of 0..${this.cases.length - 1}`);
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    let p = this.pending.get(i);
    if (!p) {
      this.loads++;
      // cached before it leaves pending, so a request in between never decodes twice
      p = loadCase(this.cases[i], this.opts).then((v) => { this.keep(i, v); return v; }).finally(() => this.pending.delete(i));
      this.pending.set(i, p);
    }
    return p;
  }

  private keep(i: number, v: LoadedVolume): void {
    const budget = this.opts.cacheBytes ?? 2 ** 31;
    const size = bytesOf(v);
    if (size > budget || this.cache.has(i)) return;
    while (this.bytes + size > budget && this.cache.size) {
      const [old, ov] = this.cache.entries().next().value as [number, LoadedVolume];
      this.cache.delete(old);
      this.bytes -= bytesOf(ov);
    }
    this.cache.set(i, v);
    this.bytes += size;
  }
}
