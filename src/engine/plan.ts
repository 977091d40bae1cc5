// A plan runs part of a graph (what the requested outputs need) on one backend, for the
// graph's fixed input shapes. Buffers are assigned once by liveness and reused on every run.
import type { Backend, BTensor, RunContext, TensorData } from './backend.js';
import { Graph, Node, OpNode, Value, Layout, Shape, numel, fmt } from './graph.js';
import { ParamStore, type Param } from './params.js';
import { concatRows } from './concat-views.js';
import { planOffsets, type Lifetime } from './memory-plan.js';
import type { StopSignal } from '../util/stop.js';

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
  /** Size the plan without allocating anything (`plan.arenaBytes`); such a plan cannot run.
   *  Predictors use it to choose whole-image or sliding-window inference within a budget. */
  sizeOnly?: boolean;
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
  /** Buffers this plan allocated (views of them are shared between values). */
  private owned: TensorData[] = [];
  private disposed = false;
  /** Bytes of activation memory the plan allocates (all its buffers; params not included). */
  arenaBytes = 0;
  /** Bytes of its largest single buffer. */
  largestBufferBytes = 0;
  /** Kernel milliseconds and calls per op, when profiling. */
  readonly profile = new Map<string, { ms: number; calls: number }>();

  private readonly profiling: boolean;
  private readonly paramNodes: OpNode<'param'>[];
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
    this.paramNodes = this.schedule.filter((n): n is OpNode<'param'> => n.op === 'param');
    for (const n of this.schedule) {
      if (n.op === 'input' || n.op === 'param') continue;
      if (!backend.kernel(n.op)) throw new Error(`backend '${backend.name}' has no kernel for op '${n.op}' (node ${n.name})`);
    }
    this.assignBuffers();
  }

  /**
   * Liveness-based memory: every value gets a lifetime (from the step that writes it to its
   * last reader; inputs from the start, outputs to the end) and an offset in one arena where
   * no two values alive at the same step overlap (memory-plan.ts). Values of an in-place
   * concatenation row (concat-views.ts) share the row's buffer, alive as long as any of them.
   */
  private assignBuffers() {
    const last = this.schedule.length;
    const lastUse = new Map<string, number>();
    this.schedule.forEach((n, t) => n.inputs.forEach((v) => lastUse.set(key(v), t)));
    const pinned = new Set(this.outputs.map(key));
    const inPlace = (this.options.concatInPlace ?? process.env.UNETPP_CONCAT_VIEWS !== '0') && this.backend.views;
    const rows = inPlace ? concatRows(this.schedule, pinned, this.backend.views!) : [];
    const rowOf = new Map<string, number>();
    rows.forEach((r, i) => { for (const k of r.members.keys()) rowOf.set(k, i); });

    interface Buf extends Lifetime { shape: Shape; layout: Layout; keys: string[] }
    const bufs: Buf[] = rows.map((r) => ({ bytes: 0, birth: last, death: 0, shape: r.shape, layout: 'act' as Layout, keys: [] }));
    this.schedule.forEach((n, t) => {
      if (n.op === 'param') return;
      n.shapes.forEach((s, i) => {
        const k = `${n.id}:${i}`;
        const birth = n.op === 'input' ? 0 : t;  // inputs are uploaded before any kernel runs
        const death = pinned.has(k) ? last : Math.max(lastUse.get(k) ?? t, birth);
        const r = rowOf.get(k);
        if (r === undefined) { bufs.push({ bytes: 0, birth, death, shape: s, layout: n.layouts[i], keys: [k] }); return; }
        const row = bufs[r];
        row.birth = Math.min(row.birth, birth);
        row.death = Math.max(row.death, death);
      });
    });
    for (const b of bufs) b.bytes = numel(b.shape) * this.backend.bytesPerValue(b.shape, b.layout);
    const { offsets, total } = planOffsets(bufs);
    this.arenaBytes = total;
    this.largestBufferBytes = Math.max(0, ...bufs.map((b) => b.bytes));
    if (this.options.sizeOnly) return;

    const arena = this.allocArena(total);
    this.owned.push(arena);
    const view = (b: Buf, off: number): TensorData => {
      const count = numel(b.shape), at = arena.byteOffset + off;
      switch (this.backend.bytesPerValue(b.shape, b.layout)) {
        case 2: return new Uint16Array(arena.buffer, at, count);
        case 8: return new Float64Array(arena.buffer, at, count);
        default: return new Float32Array(arena.buffer, at, count);
      }
    };
    bufs.forEach((b, i) => {
      const data = view(b, offsets[i]);
      for (const k of b.keys) this.tensors.set(k, { shape: b.shape, data });
      if (i >= rows.length) return;
      const [, c, h, w] = rows[i].shape;
      for (const [k, off] of rows[i].members) {
        const [id, index] = k.split(':').map(Number);
        const s = this.graph.nodes[id].shapes[index];
        const stride = c * h * w, per = numel(s) / s[0], begin = off * h * w;
        this.tensors.set(k, { shape: s, data: data.subarray(begin, begin + (s[0] - 1) * stride + per), imageStride: stride });
      }
    });
  }

  /** The arena, or an Error naming its size and the plan's largest tensor. */
  private allocArena(bytes: number): TensorData {
    const per = this.backend.bytesPerValue([1], 'plain');
    try {
      return this.backend.alloc([Math.ceil(bytes / per)], 'plain').data;
    } catch (e) {
      const big = this.schedule.flatMap((n) => n.shapes.map((s) => ({ n, s }))).filter(({ n }) => n.op !== 'param')
        .sort((a, b) => numel(b.s) - numel(a.s))[0];
      throw new Error(`plan: activation memory of ${(bytes / 2 ** 30).toFixed(2)} GiB` +
        (big ? ` (largest tensor ${fmt(big.s)}, node ${big.n.name})` : '') + `: ${(e as Error).message}`);
    }
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

  /** Runs the plan; returns the output tensors (backend layout), valid until the next run. `signal`
   *  is checked before every kernel: once aborted, the run throws its reason (the outputs are then garbage). */
  run(feeds: Record<string, Float32Array | Float64Array>, signal?: StopSignal): BTensor[] {
    if (this.disposed) throw new Error('this plan has been disposed');
    if (this.options.sizeOnly) throw new Error('this plan was built with sizeOnly: it has no memory to run in');
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
      signal?.throwIfAborted();
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
  runToHost(feeds: Record<string, Float32Array | Float64Array>, signal?: StopSignal): (Float32Array | Float64Array)[] {
    const outs = this.run(feeds, signal);
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
