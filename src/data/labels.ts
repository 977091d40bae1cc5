// Label volumes -> training targets. A label map keeps the file's integer values (0..255, one
// byte a voxel, so that a cached dataset stays small); a LabelSpec says how values become
// target planes: one plane per class value (softmax adds a background plane first), or named
// regions of several values that may overlap (BraTS: whole tumour / tumour core / enhancing,
// trained as sigmoid channels). Values the spec does not name are an error unless `other` maps
// them to background or makes them ignored (nnU-Net's ignore label: no target plane, left out
// of the loss and the metrics). Planes are expanded per patch, never for a whole dataset.
import { fileError } from './file-error.js';

/** What becomes of label values a spec does not name (0 is always background). */
export type OtherLabels = 'background' | 'ignore';

export type LabelSpec =
  /** Any non-zero value is foreground: one plane. */
  | { kind: 'binary' }
  /** One plane per value; background: a plane for "none of them" first (softmax models). */
  | { kind: 'classes'; values: number[]; names?: string[]; background?: boolean; other?: OtherLabels }
  /** Named sets of values, one sigmoid plane each; they may overlap. */
  | { kind: 'regions'; regions: { name: string; values: number[] }[]; other?: OtherLabels };

/** Whether the spec makes some label values ignored voxels. */
export const hasIgnore = (spec: LabelSpec): boolean => spec.kind !== 'binary' && spec.other === 'ignore';

/** BraTS's nested tumour regions from labels 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing. */
export const BRATS_REGIONS: LabelSpec = {
  kind: 'regions',
  regions: [
    { name: 'whole tumour', values: [1, 2, 3, 4] },
    { name: 'tumour core', values: [1, 3, 4] },
    { name: 'enhancing tumour', values: [4] },
  ],
};

/** What a model without a dataset's spec writes: softmax K -> background + values 1..K-1; one sigmoid plane -> binary; K sigmoid planes -> 1..K. */
export function defaultLabelSpec(classes: number, softmax: boolean): LabelSpec {
  if (softmax) return { kind: 'classes', values: Array.from({ length: classes - 1 }, (_, k) => k + 1), background: true };
  return classes === 1 ? { kind: 'binary' } : { kind: 'classes', values: Array.from({ length: classes }, (_, k) => k + 1) };
}

/** Target plane names, in order. */
export function planeNames(spec: LabelSpec): string[] {
  if (spec.kind === 'binary') return ['foreground'];
  if (spec.kind === 'regions') return spec.regions.map((r) => r.name);
  const names = spec.values.map((v, i) => spec.names?.[i] ?? `label ${v}`);
  return spec.background ? ['background', ...names] : names;
}

export const planeCount = (spec: LabelSpec) => planeNames(spec).length;

/**
 * For each byte value, a bit mask of the planes it belongs to (bit p = plane p); whether the
 * value is known at all (values outside the spec are an error unless `other` says), declared
 * by the spec itself (0 included), and ignored (`other: 'ignore'`: no plane, no loss, no score).
 */
export function planeTable(spec: LabelSpec): {
  bits: Uint32Array; known: Uint8Array; declared: Uint8Array; ignored: Uint8Array;
} {
  const bits = new Uint32Array(256);
  const declared = new Uint8Array(256);
  declared[0] = 1;
  const mark = (v: number, p: number) => {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`label value ${v}: labels must be integers 0..255`);
    bits[v] |= 1 << p;
    declared[v] = 1;
  };
  if (spec.kind === 'binary') for (let v = 1; v < 256; v++) mark(v, 0);
  else if (spec.kind === 'regions') spec.regions.forEach((r, p) => r.values.forEach((v) => mark(v, p)));
  else {
    const off = spec.background ? 1 : 0;
    spec.values.forEach((v, p) => mark(v, p + off));
    if (spec.background) bits[0] = 1;
  }
  if (planeCount(spec) > 32) throw new Error('at most 32 target planes');
  const other = spec.kind === 'binary' ? undefined : spec.other;
  const known = other ? new Uint8Array(256).fill(1) : declared.slice();
  const ignored = new Uint8Array(256);
  for (let v = 1; v < 256; v++) {
    if (declared[v]) continue;
    if (other === 'ignore') ignored[v] = 1;
    else if (other === 'background') bits[v] = bits[0];
  }
  return { bits, known, declared, ignored };
}

/**
 * A label volume's float values -> bytes, checked: integer-valued floats (BraTS stores labels as
 * float32) are fine; fractions, negatives, values above 255 or outside the spec name the file.
 */
export function toLabelMap(values: Float32Array, path: string, dims: readonly number[], spec?: LabelSpec): Uint8Array {
  const out = new Uint8Array(values.length);
  const known = spec ? planeTable(spec).known : null;
  const where = (i: number) => {
    const [X, Y] = dims;
    return `(${i % X},${Math.floor(i / X) % Y},${Math.floor(i / (X * Y))})`;
  };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === 0) continue;
    if (!Number.isInteger(v) || v < 0 || v > 255)
      throw fileError(path, `label value ${v} at voxel ${where(i)} is not an integer 0..255: labels must be class ids (a probability map or an interpolated label is not a label volume)`);
    if (known && !known[v])
      throw fileError(path, `label value ${v} at voxel ${where(i)} is not in the labels given (${describe(spec!)}): ` +
        'add it to --labels, or map the values not listed with --other background (or --other ignore: left out ' +
        'of the loss and the metrics)');
    out[i] = v;
  }
  return out;
}

function describe(spec: LabelSpec): string {
  if (spec.kind === 'classes') return spec.values.join(',');
  if (spec.kind === 'regions') return spec.regions.map((r) => `${r.name}=${r.values.join('+')}`).join(', ');
  return 'any';
}

/** 1 where a label map's voxel is ignored (the spec's `other: 'ignore'`), else 0. */
export function ignoreMask(labels: ArrayLike<number>, spec: LabelSpec, out?: Uint8Array): Uint8Array {
  const { ignored } = planeTable(spec);
  const m = out ?? new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) m[i] = ignored[labels[i]];
  return m;
}

/** Expands a label map (or a window of one, as indices) into K 0/1 planes: [K, n]; ignored voxels have none. */
export function expandPlanes(labels: ArrayLike<number>, spec: LabelSpec, out?: Float32Array): Float32Array {
  const { bits } = planeTable(spec);
  const k = planeCount(spec);
  const n = labels.length;
  const y = out ?? new Float32Array(k * n);
  for (let i = 0; i < n; i++) {
    const b = bits[labels[i]];
    if (!b) continue;
    for (let p = 0; p < k; p++) if (b & (1 << p)) y[p * n + i] = 1;
  }
  return y;
}

/**
 * Up to `max` voxel indices per foreground class (the spec's values or regions; binary: any
 * non-zero), drawn evenly, for sampling patches centred on foreground. Seed-free: a stride
 * through the voxels, so the same volume always gives the same lists.
 */
export function foregroundLocations(labels: Uint8Array, spec: LabelSpec, max = 10000): Int32Array[] {
  const groups = spec.kind === 'binary' ? [null] : spec.kind === 'regions' ? spec.regions.map((r) => r.values) : spec.values.map((v) => [v]);
  return groups.map((vals) => {
    const inSet = new Uint8Array(256);
    if (vals) for (const v of vals) inSet[v] = 1;
    else inSet.fill(1, 1);
    let count = 0;
    for (let i = 0; i < labels.length; i++) count += inSet[labels[i]];
    const stride = Math.max(1, count / max);
    const out = new Int32Array(Math.min(count, max));
    let seen = 0, j = 0;
    for (let i = 0; i < labels.length && j < out.length; i++) {
      if (!inSet[labels[i]]) continue;
      if (seen >= j * stride) out[j++] = i;
      seen++;
    }
    return out;
  });
}

/**
 * One label per voxel in the dataset's own values, so that the file scores and reads as the
 * training labels did: softmax classes -> the argmax's value (0 = background); sigmoid classes
 * -> the value of the most probable plane above the threshold (as labelMap below); regions, which may
 * overlap (BraTS's) -> the value whose planes are exactly the planes above the threshold
 * (BraTS: enhancing + core + whole -> 4), else the closest one. p: the planes (a probability
 * field's channels, [channels, ...sizes]).
 */
export function labelsFromPlanes(p: { data: ArrayLike<number>; channels: number }, spec: LabelSpec,
                                 threshold = 0.5): Uint8Array {
  const n = p.data.length / p.channels, out = new Uint8Array(n);
  if (spec.kind === 'classes') {
    const off = spec.background ? 1 : 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < p.channels; k++) if (p.data[k * n + i] > p.data[best * n + i]) best = k;
      out[i] = spec.background ? (best === 0 ? 0 : spec.values[best - 1]) : p.data[best * n + i] > threshold ? spec.values[best - off] : 0;
    }
    return out;
  }
  const { bits, declared } = planeTable(spec);
  const valueFor = new Map<number, number>();  // plane set -> label value
  const pick = (set: number) => {
    let best = 0, score = -Infinity;
    for (let v = 0; v < 256; v++) {
      if (!declared[v]) continue;
      const s = popcount(bits[v] & set) - popcount(bits[v] & ~set);
      if (s > score) { score = s; best = v; }
    }
    return best;
  };
  for (let i = 0; i < n; i++) {
    let set = 0;
    for (let k = 0; k < p.channels; k++) if (p.data[k * n + i] > threshold) set |= 1 << k;
    let v = valueFor.get(set);
    if (v === undefined) valueFor.set(set, (v = set === 0 ? 0 : pick(set)));
    out[i] = v;
  }
  return out;
}

/**
 * One label per pixel or voxel for a model without a dataset's spec (defaultLabelSpec): one
 * class, 1 where p > t; softmax classes, the argmax (0 = background); per-class sigmoids, the
 * most probable class above t, else 0 (class k is label k + 1).
 */
export function labelMap(p: { data: ArrayLike<number>; channels: number }, multiclass: 'softmax' | 'sigmoid' = 'softmax',
                         t = 0.5): Uint8Array {
  return labelsFromPlanes(p, defaultLabelSpec(p.channels, multiclass === 'softmax' && p.channels > 1), t);
}

const popcount = (x: number) => { let c = 0; for (; x; x &= x - 1) c++; return c; };

/**
 * Per target plane (softmax's background plane left out), its name and the label values that
 * belong to it: what a label map written by labelsFromPlanes holds of each class or region
 * (regions overlap: BraTS's whole tumour is 1, 2, 3 and 4).
 */
export function planeValues(spec: LabelSpec): { name: string; values: number[] }[] {
  const { bits, declared } = planeTable(spec);
  const names = planeNames(spec);
  const first = spec.kind === 'classes' && spec.background ? 1 : 0;
  const out: { name: string; values: number[] }[] = [];
  for (let p = first; p < names.length; p++) {
    const values: number[] = [];
    for (let v = 1; v < 256; v++) if (declared[v] && bits[v] & (1 << p)) values.push(v);
    out.push({ name: names[p], values });
  }
  return out;
}
