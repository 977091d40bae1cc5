// Finite-difference gradient checks on the float64 reference backend, plus seeded random data.
//
// The function under test is any graph value y; the check contracts it with a fixed random
// cotangent r (L = sum(y * r)), so one scalar exercises every output element, then compares
// the analytic gradients of L (gradients() + Plan) with central differences, element by element.
// Each evaluation uses a fresh Plan so that step-dependent ops (dropout) see the same step 0.
import assert from 'node:assert/strict';
import { Graph, Value, fmt } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import type { Backend } from '../../src/engine/backend.js';

// ---- seeded random data ----

/** A small deterministic PRNG (mulberry32): uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi). */
export function uniform(n: number, rand: () => number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/** n values uniform in +-[minAbs, maxAbs): away from kinks at 0 (ReLU, leaky ReLU). */
export function awayFromZero(n: number, rand: () => number, minAbs = 0.1, maxAbs = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (rand() < 0.5 ? -1 : 1) * (minAbs + (maxAbs - minAbs) * rand()));
}

/** n distinct values at least `gap` apart, shuffled: no ties for max-pool, even after a small nudge. */
export function distinct(n: number, rand: () => number, gap = 0.01): Float64Array {
  const v = Float64Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

/** A float32 array (for ParamStore) of uniform values. */
export function uniform32(n: number, rand: () => number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from(uniform(n, rand, lo, hi));
}

// ---- the check ----

export interface GradCheckSpec {
  /** Builds the function under test in g and returns its output (any shape). */
  build(g: Graph): Value;
  /** Input data by name (float64 keeps the differences exact). */
  feeds: Record<string, Float64Array>;
  params?: ParamStore;
  /** Inputs to differentiate; default: every fed input. */
  wrtInputs?: string[];
  /** Params to differentiate; default: every trainable param the graph uses. */
  wrtParams?: string[];
  /** Finite-difference step (default 1e-5). */
  h?: number;
  /** Pass when |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|). Defaults 1e-6, 1e-4. */
  atol?: number;
  rtol?: number;
  /** At most this many elements per tensor are checked, chosen at random (default 100). */
  maxPerTensor?: number;
  /** Seed of the cotangent and of the element sampling. */
  seed?: number;
  /** Backend to check (default: reference, float64). A float32 one needs a larger h and tolerances. */
  backend?: Backend;
  /** Fail if more than this fraction of the compared elements had to be excused as kinks (default 0.05). */
  maxKinkFraction?: number;
}

export interface GradCheckReport {
  /** Elements compared. */
  checked: number;
  /** Mismatches excused because f is not smooth there (one-sided differences disagree). */
  kinks: number;
  /** Largest |analytic - numeric| over the compared elements. */
  maxAbsErr: number;
  /** Tensors for which gradients() gave no gradient (null): not checked. */
  noGradient: string[];
  failures: string[];
}

const COTANGENT = '__gradcheck_cotangent';

export class GradCheckError extends Error {
  constructor(readonly report: GradCheckReport) {
    super(`gradient check failed on ${report.failures.length} of ${report.checked} elements:\n  ${report.failures.slice(0, 12).join('\n  ')}`);
  }
}

/** Runs the check; throws a GradCheckError listing the worst mismatches if any element fails. */
export function gradcheck(spec: GradCheckSpec): GradCheckReport {
  const h = spec.h ?? 1e-5, atol = spec.atol ?? 1e-6, rtol = spec.rtol ?? 1e-4;
  const maxPer = spec.maxPerTensor ?? 100;
  const rand = rng(spec.seed ?? 1234);
  const params = spec.params ?? new ParamStore();
  const backend = spec.backend ?? new ReferenceBackend({ dtype: 'float64' });

  const g = new Graph();
  const y = spec.build(g);
  const r = g.input(COTANGENT, y.shape);
  // A sum, not a mean, keeps the derivatives O(1) whatever the size of y.
  const L = g.scale(g.meanAll(g.mul(y, r)), y.shape.reduce((a, b) => a * b, 1));
  const feeds: Record<string, Float64Array> = { ...spec.feeds, [COTANGENT]: uniform(y.node.shapes[y.index].reduce((a, b) => a * b, 1), rand, 0.5, 1.5) };

  const inputNames = spec.wrtInputs ?? Object.keys(spec.feeds);
  const paramNames = spec.wrtParams ?? [...g.params.keys()].filter((n) => params.get(n).trainable);
  const targets: { name: string; value: Value; data: Float64Array | Float32Array; isParam: boolean }[] = [];
  for (const name of inputNames) {
    const v = g.inputs.get(name);
    if (!v) throw new Error(`gradcheck: the graph has no input '${name}'`);
    if (!spec.feeds[name]) throw new Error(`gradcheck: no feed for input '${name}'`);
    targets.push({ name, value: v, data: spec.feeds[name], isParam: false });
  }
  for (const name of paramNames) {
    const v = g.params.get(name);
    if (!v) throw new Error(`gradcheck: the graph has no param '${name}'`);
    targets.push({ name, value: v, data: params.get(name).data, isParam: true });
  }
  const grads = gradients(g, L, targets.map((t) => t.value));

  const evalLoss = (): number => {
    const plan = new Plan(g, backend, params, [L]);
    return plan.runToHost(feeds)[0][0];
  };
  const report: GradCheckReport = { checked: 0, kinks: 0, maxAbsErr: 0, noGradient: [], failures: [] };
  const withGrad = targets.map((t, i) => ({ ...t, grad: grads[i] })).filter((t) => {
    if (!t.grad) report.noGradient.push(t.name);
    return !!t.grad;
  });
  if (!withGrad.length) return report;
  const analytic = new Plan(g, backend, params, withGrad.map((t) => t.grad!)).runToHost(feeds).map((a) => Float64Array.from(a));

  const f0 = evalLoss();
  withGrad.forEach((t, ti) => {
    const n = t.data.length;
    const idx = n <= maxPer ? [...Array(n).keys()] : sample(n, maxPer, rand);
    for (const i of idx) {
      const orig = t.data[i];
      // Params are float32 in the store: divide by the step actually stored, not the nominal one.
      t.data[i] = orig + h; const xp = t.data[i]; const fp = evalLoss();
      t.data[i] = orig - h; const xm = t.data[i]; const fm = evalLoss();
      t.data[i] = orig;
      const numeric = (fp - fm) / (xp - xm);
      const a = analytic[ti][i];
      const err = Math.abs(a - numeric);
      report.checked++;
      if (err <= atol + rtol * Math.max(Math.abs(a), Math.abs(numeric))) { report.maxAbsErr = Math.max(report.maxAbsErr, err); continue; }
      // Excuse a point where f itself has a kink within the step (ReLU at 0, max-pool ties):
      // there the one-sided slopes differ by the jump, and the central difference is off by at
      // most that much. At a smooth point they differ by only h f'', which excuses no real bug.
      const right = (fp - f0) / (xp - orig), left = (f0 - fm) / (orig - xm);
      const jump = Math.abs(right - left);
      if (jump > 10 * (atol + rtol * Math.max(Math.abs(right), Math.abs(left))) && err <= jump) { report.kinks++; continue; }
      report.maxAbsErr = Math.max(report.maxAbsErr, err);
      report.failures.push(`${t.isParam ? 'param' : 'input'} '${t.name}' ${fmt(t.value.shape)} [${i}]: analytic ${a.toPrecision(8)}, numeric ${numeric.toPrecision(8)}`);
    }
  });
  if (report.kinks > (spec.maxKinkFraction ?? 0.05) * report.checked)
    report.failures.push(`${report.kinks} of ${report.checked} elements sit on kinks: move the inputs away from them (a real bug can hide there)`);
  if (report.failures.length) throw new GradCheckError(report);
  return report;
}

function sample(n: number, k: number, rand: () => number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < k) chosen.add(Math.floor(rand() * n));
  return [...chosen].sort((a, b) => a - b);
}

/** Checks spec and asserts that something was actually compared (and which tensors get no gradient). */
export function check(spec: GradCheckSpec, expectNoGradient: string[] = []): GradCheckReport {
  const r = gradcheck(spec);
  if (process.env.GC_LOG) console.log(JSON.stringify({ checked: r.checked, kinks: r.kinks, maxAbsErr: r.maxAbsErr }));
  assert.ok(r.checked > 0, 'nothing was checked');
  assert.deepEqual(r.noGradient.sort(), expectNoGradient.sort(), 'tensors without a gradient');
  return r;
}

/** A ParamStore with the given (trainable) params filled with uniform values. */
export function paramsOf(seed: number, shapes: Record<string, number[]>, lo = -1, hi = 1): ParamStore {
  const ps = new ParamStore();
  const rand = rng(seed);
  for (const [name, shape] of Object.entries(shapes)) ps.set(name, shape, uniform32(shape.reduce((a, b) => a * b, 1), rand, lo, hi));
  return ps;
}
