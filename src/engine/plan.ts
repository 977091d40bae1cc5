// A plan runs part of a graph (what the requested outputs need) on one backend, for the
// graph's fixed input shapes. Buffers are assigned once by liveness and reused on every run.
import type { Backend, BTensor, RunContext, TensorData } from './backend.js';
import { Graph, Node, Value, Layout, Shape, numel, fmt } from './graph.js';
import { ParamStore, type Param } from './params.js';
import { concatRows } from './concat-views.js';

export interface PlanOptions {
  /** Check every output for NaN/Inf and name the first node that produced one. */
  checkFinite?: boolean;
  /** Accumulate kernel time per op into `plan.profile` (ms); also set by UNETPP_PROFILE=1. */
  profile?: boolean;
  /** The params will not change while this plan lives (a predictor's private copy of the
   *  weights): weight-derived data (native: batch norm folded into the conv weights, reordered
   *  to bf16) is computed on the first run and not checked again. Default false: every run
   *  checks the params (native: a fingerprint of the weights, ~1 ms a UNet++ batch). */
  frozenParams?: boolean;
  /** What `plan.profile` is keyed by (default: the node's op). */
  profileKey?: (n: Node) => string;
  /** Concatenate in place where the backend allows (concat-views.ts; default true, also
   *  turned off by UNETPP_CONCAT_VIEWS=0). */
  concatInPlace?: boolean;
}

export class NonFiniteError extends Error {
  constructor(readonly node: Node) {
    super(`non-finite value (NaN or Inf) first produced by node ${node.name} (op ${node.op})`);
  }
}

const key = (v: Value) => `${v.node.id}:${v.index}`;

export class Plan {
  readonly schedule: Node[];
  private tensors = new Map<string, BTensor>();
  private savedState = new Map<number, Record<string, any>>();
  private paramTensors = new Map<string, BTensor>();
  private step = 0;
  private releaseAfter = new Map<number, string[]>();
  /** Buffers this plan allocated (views of them are shared between values). */
  private owned: TensorData[] = [];
  private disposed = false;
  /** Kernel milliseconds and calls per op, when profiling. */
  readonly profile = new Map<string, { ms: number; calls: number }>();

  private readonly profiling: boolean;
  private readonly paramNodes: Node[];
  /** The Param each param node was last bound to. */
  private boundFrom = new Map<number, Param>();

  constructor(readonly graph: Graph, readonly backend: Backend, readonly params: ParamStore,
              readonly outputs: Value[], readonly options: PlanOptions = {}) {
    // Schedule: the nodes the outputs depend on, in creation order (a topological order).
    const need = new Set<number>();
    const stack = outputs.map((v) => v.node);
    while (stack.length) {
      const n = stack.pop()!;
      if (need.has(n.id)) continue;
      need.add(n.id);
      for (const i of n.inputs) stack.push(i.node);
    }
    this.profiling = !!(options.profile ?? process.env.UNETPP_PROFILE);
    this.schedule = graph.nodes.filter((n) => need.has(n.id));
    this.paramNodes = this.schedule.filter((n) => n.op === 'param');
    for (const n of this.schedule) {
      if (n.op === 'input' || n.op === 'param') continue;
      if (!backend.kernel(n.op)) throw new Error(`backend '${backend.name}' has no kernel for op '${n.op}' (node ${n.name})`);
    }
    this.assignBuffers();
  }

  /**
   * Liveness-based buffer sharing: a value's buffer returns to a free list after its last reader
   * runs, and a later value takes the smallest free buffer of its storage type that holds it
   * (as a view of its first values), if that buffer is at most 4x too big; else a new one.
   */
  private assignBuffers() {
    const lastUse = new Map<string, number>();
    this.schedule.forEach((n, t) => n.inputs.forEach((v) => lastUse.set(key(v), t)));
    const pinned = new Set(this.outputs.map(key));
    // bf16 activations are Uint16Arrays next to float32 params and statistics: never mixed.
    const storageOf = (s: Shape, l: Layout) => this.backend.precision === 'bf16' && l === 'act' && (s.length === 4 || s.length === 5) ? 'bf16' : 'f';
    // Values stored in shared row buffers (in-place concatenation) are views, never freed alone.
    const views = new Map<string, { data: TensorData; offset: number; stride: number }>();
    const inPlace = (this.options.concatInPlace ?? process.env.UNETPP_CONCAT_VIEWS !== '0') && this.backend.views;
    for (const row of inPlace ? concatRows(this.schedule, pinned, this.backend.views!) : []) {
      const data = this.backend.alloc(row.shape, 'act').data;
      this.owned.push(data);
      const [, c, h, w] = row.shape;
      for (const [k, off] of row.members) views.set(k, { data, offset: off * h * w, stride: c * h * w });
    }
    const free = new Map<string, BTensor['data'][]>();
    const backing = new Map<string, { data: BTensor['data']; storage: string }>();
    const take = (storage: string, n: number) => {
      const list = free.get(storage) ?? [];
      let best = -1;
      for (let i = 0; i < list.length; i++)
        if (list[i].length >= n && list[i].length <= 4 * n && (best < 0 || list[i].length < list[best].length)) best = i;
      return best < 0 ? undefined : list.splice(best, 1)[0];
    };
    this.schedule.forEach((n, t) => {
      if (n.op === 'param') return;
      n.shapes.forEach((s, i) => {
        const v = views.get(`${n.id}:${i}`);
        if (v) {
          const per = numel(s) / s[0];
          this.tensors.set(`${n.id}:${i}`, { shape: s, data: v.data.subarray(v.offset, v.offset + (s[0] - 1) * v.stride + per), imageStride: v.stride });
          return;
        }
        const storage = storageOf(s, n.layouts[i]), count = numel(s);
        // Inputs are uploaded before any kernel runs, so they must not take a buffer that an
        // earlier node still writes (an input created after part of the model, e.g. a target).
        const reuse = n.op === 'input' ? undefined : take(storage, count);
        const fresh = reuse ? undefined : this.backend.alloc(s, n.layouts[i]).data;
        if (fresh) this.owned.push(fresh);
        const data = reuse ? reuse.subarray(0, count) : fresh!;
        this.tensors.set(`${n.id}:${i}`, { shape: s, data });
        backing.set(`${n.id}:${i}`, { data: reuse ?? data, storage });
      });
      const released: string[] = [];
      for (const v of n.inputs) {
        const k = key(v);
        if (lastUse.get(k) !== t || pinned.has(k) || v.node.op === 'param' || released.includes(k)) continue;
        released.push(k);
      }
      // Outputs nobody reads (e.g. an unused bias gradient) free at once.
      n.shapes.forEach((_, i) => { const k = `${n.id}:${i}`; if (!lastUse.has(k) && !pinned.has(k)) released.push(k); });
      for (const k of released) {
        const b = backing.get(k);
        if (!b) continue;  // a view
        if (!free.has(b.storage)) free.set(b.storage, []);
        free.get(b.storage)!.push(b.data);
      }
      this.releaseAfter.set(n.id, released);
    });
  }

  private bindParams() {
    for (const n of this.paramNodes) {
      const p = this.params.get(n.attrs.name);
      // Bound to this very Param (immutable shape and data) and sharing its storage (native):
      // nothing to redo. Backends that copy (reference, float64) copy again on every run.
      if (this.boundFrom.get(n.id) === p && this.tensors.get(`${n.id}:0`)!.data === p.data) continue;
      if (fmt(p.shape) !== fmt(n.shapes[0])) throw new Error(`param '${n.attrs.name}' has shape ${fmt(p.shape)}, graph expects ${fmt(n.shapes[0])}`);
      const t = this.backend.bindParam(p.data, p.shape);
      this.paramTensors.set(n.attrs.name, t);
      this.tensors.set(`${n.id}:0`, t);
      this.boundFrom.set(n.id, p);
    }
  }

  /** Runs so far: the `rt.step` of the next run (dropout masks vary with it; resume restores it). */
  get runCount(): number { return this.step; }
  set runCount(n: number) { this.step = n; }

  /**
   * Gives the plan's activation memory back to the backend now (native: freed at once instead
   * of at the GC's leisure); params are untouched. The plan and its outputs are unusable after.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.owned) this.backend.release?.(d);
    this.owned = [];
    this.tensors.clear();
    this.savedState.clear();
  }

  /** Runs the plan; returns the output tensors (backend layout), valid until the next run. */
  run(feeds: Record<string, Float32Array | Float64Array>): BTensor[] {
    if (this.disposed) throw new Error('this plan has been disposed');
    this.bindParams();
    for (const [name, v] of this.graph.inputs) {
      if (!this.schedule.includes(v.node)) continue;
      const data = feeds[name];
      if (!data) throw new Error(`missing input '${name}' ${fmt(v.shape)}`);
      if (data.length !== numel(v.shape)) throw new Error(`input '${name}': ${data.length} values, expected ${fmt(v.shape)} = ${numel(v.shape)}`);
      this.backend.upload(data, this.tensors.get(key(v))!, 'act');
    }
    const rt: RunContext = {
      step: this.step,
      frozenParams: !!this.options.frozenParams,
      saved: (n) => {
        const id = typeof n === 'number' ? n : n.id;
        let s = this.savedState.get(id);
        if (!s) this.savedState.set(id, (s = {}));
        return s;
      },
      param: (name) => {
        const t = this.paramTensors.get(name);
        if (!t) throw new Error(`param '${name}' is not bound in this plan`);
        return t;
      },
    };
    for (const n of this.schedule) {
      if (n.op === 'input' || n.op === 'param') continue;
      const ins = n.inputs.map((v) => this.tensors.get(key(v))!);
      const outs = n.shapes.map((_, i) => this.tensors.get(`${n.id}:${i}`)!);
      if (this.profiling) {
        const t0 = performance.now();
        this.backend.kernel(n.op)!(ins, outs, n, rt);
        const k = this.options.profileKey?.(n) ?? n.op;
        const e = this.profile.get(k) ?? { ms: 0, calls: 0 };
        e.ms += performance.now() - t0;
        e.calls++;
        this.profile.set(k, e);
      } else this.backend.kernel(n.op)!(ins, outs, n, rt);
      if (this.options.checkFinite) for (const o of outs) if (!allFinite(o.data)) throw new NonFiniteError(n);
    }
    this.writeBackParams();
    this.step++;
    return this.outputs.map((v) => this.tensors.get(key(v))!);
  }

  /** Runs and copies outputs to host (NCHW for activations). */
  runToHost(feeds: Record<string, Float32Array | Float64Array>): (Float32Array | Float64Array)[] {
    const outs = this.run(feeds);
    return outs.map((t, i) => this.backend.download(t, this.outputs[i].node.layouts[this.outputs[i].index]));
  }

  /** Backends that copy params (float64 reference) write mutated state back to the store. */
  private writeBackParams() {
    for (const [name, t] of this.paramTensors) {
      const p = this.params.get(name);
      if (p.trainable || t.data === p.data) continue;
      p.data.set(t.data);
    }
  }
}

function allFinite(a: TensorData): boolean {
  if (a instanceof Uint16Array) {  // bf16 bits: all-ones exponent is Inf or NaN
    for (let i = 0; i < a.length; i++) if ((a[i] & 0x7f80) === 0x7f80) return false;
    return true;
  }
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
