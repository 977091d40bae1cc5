// Choosing post-processing on validation predictions, as nnU-Net: first keep the largest
// component of the whole foreground (all classes together), then per class keep the largest,
// then per class (where keeping the largest was not kept) drop components below a size; each
// rule is tried on top of the rules kept so far and kept only if it raises the mean validation
// Dice (per class over cases, then the mean of the classes; empty vs empty scores 1, as
// src/metrics) by more than epsilon. Pure: the cases come from whoever predicted them.
import type { PostprocessRule } from '../io/checkpoint-meta.js';
import { applyRule } from './postprocess.js';
import { connectedComponents, valueTable, type Connectivity } from './components.js';

export interface ValidationCase {
  /** Predicted and true label maps (dataset values), one grid; dims fastest axis first. */
  pred: Uint8Array;
  truth: Uint8Array;
  dims: readonly number[];
}

/** A scored class: its label values (a region's several; planeValues(spec) gives them). */
export interface ClassValues { name?: string; values: readonly number[] }

export interface ChoiceOptions {
  /** Also try minimum component sizes per class (default true). */
  minSize?: boolean;
  /** A rule must raise the mean Dice by more than this (default 1e-6: float noise is not a gain). */
  epsilon?: number;
  connectivity?: Connectivity;
}

export interface TriedRule { rule: PostprocessRule; kept: boolean }

export interface PostprocessChoice {
  /** The rules kept, in the order to apply them; diceBefore/diceAfter: the mean Dice without and with each. */
  rules: PostprocessRule[];
  /** Every candidate tried, kept or not, in order (for the table). */
  tried: TriedRule[];
  /** Mean validation Dice per class and over classes, without and with the kept rules. */
  before: { perClass: number[]; mean: number };
  after: { perClass: number[]; mean: number };
}

/** Per class, per case Dice, from a per-value bit mask of the classes a value belongs to. */
function caseDice(pred: Uint8Array, truth: Uint8Array, bits: Uint32Array, k: number): Float64Array {
  const tp = new Float64Array(k), fp = new Float64Array(k), fn = new Float64Array(k);
  for (let i = 0; i < pred.length; i++) {
    const pb = bits[pred[i]], tb = bits[truth[i]];
    if (!(pb | tb)) continue;
    for (let c = 0; c < k; c++) {
      const p = pb & (1 << c), t = tb & (1 << c);
      if (p && t) tp[c]++; else if (p) fp[c]++; else if (t) fn[c]++;
    }
  }
  return tp.map((x, c) => (x + fp[c] + fn[c] === 0 ? 1 : (2 * x) / (2 * x + fp[c] + fn[c])));
}

/** A case cut to the box of its predicted and true foreground: same Dice, same components, less memory. */
export function cropCase(c: ValidationCase): ValidationCase {
  const { pred, truth, dims } = c;
  const rank = dims.length;
  const lo = dims.map((d) => d), hi = dims.map(() => -1);
  const coord = new Int32Array(rank);
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] || truth[i]) {
      for (let a = 0; a < rank; a++) { if (coord[a] < lo[a]) lo[a] = coord[a]; if (coord[a] > hi[a]) hi[a] = coord[a]; }
    }
    for (let a = 0; a < rank && ++coord[a] === dims[a]; a++) coord[a] = 0;
  }
  if (hi[0] < 0) return { pred: new Uint8Array(0), truth: new Uint8Array(0), dims: dims.map(() => 0) };
  const out = hi.map((h, a) => h - lo[a] + 1);
  const n = out.reduce((a, b) => a * b, 1);
  const p = new Uint8Array(n), t = new Uint8Array(n);
  const strides = dims.map((_, a) => dims.slice(0, a).reduce((x, y) => x * y, 1));
  const at = new Int32Array(rank);
  for (let j = 0; j < n; j++) {
    let i = 0;
    for (let a = 0; a < rank; a++) i += (lo[a] + at[a]) * strides[a];
    p[j] = pred[i];
    t[j] = truth[i];
    for (let a = 0; a < rank && ++at[a] === out[a]; a++) at[a] = 0;
  }
  return { pred: p, truth: t, dims: out };
}

/** Smallest true component of a class over the cases (undefined: the class never occurs). */
function smallestTrueObject(cases: readonly ValidationCase[], values: readonly number[],
                            connectivity?: Connectivity): number | undefined {
  let min: number | undefined;
  for (const c of cases) {
    const cc = connectedComponents(c.truth, c.dims, { values, connectivity });
    for (let k = 1; k <= cc.count; k++) if (min === undefined || cc.sizes[k] < min) min = cc.sizes[k];
  }
  return min;
}

export function choosePostprocess(cases: readonly ValidationCase[], classes: readonly ClassValues[],
                                  o: ChoiceOptions = {}): PostprocessChoice {
  if (!cases.length) throw new Error('choosePostprocess: no validation cases');
  const k = classes.length;
  if (k < 1 || k > 32) throw new Error(`choosePostprocess: ${k} classes (1..32)`);
  const eps = o.epsilon ?? 1e-6;
  const bits = new Uint32Array(256);
  classes.forEach((cl, c) => { const t = valueTable(cl.values); for (let v = 1; v < 256; v++) if (t[v]) bits[v] |= 1 << c; });
  const score = (preds: Uint8Array[]) => {
    const per = new Float64Array(k);
    preds.forEach((p, i) => caseDice(p, cases[i].truth, bits, k).forEach((d, c) => { per[c] += d / cases.length; }));
    return { perClass: [...per], mean: per.reduce((a, b) => a + b, 0) / k };
  };
  let preds = cases.map((c) => c.pred);
  let current = score(preds);
  const before = current;
  const tried: TriedRule[] = [];
  // tries a rule on top of the kept ones; keeps it (and its predictions) if it raises the mean
  const attempt = (rule: PostprocessRule, keep = true) => {
    let changed = false;
    const next = preds.map((p, i) => {
      const q = p.slice();
      if (applyRule(q, cases[i].dims, rule, o.connectivity) === 0) return p;
      changed = true;
      return q;
    });
    const s = changed ? score(next) : current;
    const r = { ...rule, diceBefore: current.mean, diceAfter: s.mean };
    const gain = s.mean > current.mean + eps;
    const entry = { rule: r, kept: keep && gain };
    tried.push(entry);
    if (entry.kept) { preds = next; current = s; }
    return { entry, score: s, next };
  };
  const all = [...new Set(classes.flatMap((c) => [...c.values]))].sort((a, b) => a - b);
  if (k > 1) attempt({ values: all, keep: 'largest' });
  const largestKept = classes.map((cl) => attempt({ values: [...cl.values].sort((a, b) => a - b), keep: 'largest' }).entry.kept);
  if (o.minSize !== false) {
    classes.forEach((cl, c) => {
      if (largestKept[c]) return;
      const smallest = smallestTrueObject(cases, cl.values, o.connectivity);
      if (smallest === undefined) return;
      // fractions of the smallest real object: smaller predicted blobs are likely false positives
      const sizes = [...new Set([0.1, 0.25, 0.5, 1].map((f) => Math.round(f * smallest)).filter((s) => s >= 2))];
      let best: ReturnType<typeof attempt> | undefined;
      for (const minVoxels of sizes) {
        const t = attempt({ values: [...cl.values].sort((a, b) => a - b), keep: 'min-size', minVoxels }, false);
        if (!best || t.score.mean > best.score.mean) best = t;
      }
      if (best && best.score.mean > current.mean + eps) {
        best.entry.kept = true;
        preds = best.next;
        current = best.score;
      }
    });
  }
  return { rules: tried.filter((t) => t.kept).map((t) => t.rule), tried, before, after: current };
}
