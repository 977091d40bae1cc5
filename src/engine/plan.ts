// A plan runs part of a graph (what the requested outputs need) on one backend, for the
// graph's fixed input shapes. Buffers are assigned once by liveness and reused on every run.
import type { Backend, BTensor, RunContext, TensorData } from './backend.js';
import { Graph, Node, Value, Layout, Shape, numel, fmt } from './graph.js';
import { ParamStore } from './params.js';

export interface PlanOptions {
  /** Check every output for NaN/Inf and name the first node that produced one. */
  checkFinite?: boolean;
  /** Accumulate kernel time per op into `plan.profile` (ms); also set by UNETPP_PROFILE=1. */
  profile?: boolean;
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
  /** Kernel milliseconds and calls per op, when profiling. */
  readonly profile = new Map<string, { ms: number; calls: number }>();

  private readonly profiling: boolean;

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
    for (const n of this.schedule) {
      if (n.op === 'input' || n.op === 'param') continue;
      if (!backend.kernel(n.op)) throw new Error(`backend '${backend.name}' has no kernel for op '${n.op}' (node ${n.name})`);
    }
    this.assignBuffers();
  }

  /** Liveness-based buffer sharing: a value's buffer returns to a pool after its last reader runs. */
  private assignBuffers() {
    const lastUse = new Map<string, number>();
    this.schedule.forEach((n, t) => n.inputs.forEach((v) => lastUse.set(key(v), t)));
    const pinned = new Set(this.outputs.map(key));
    const pool = new Map<string, BTensor[]>();
    // Buffers are shared only between values of the same layout, size and storage type (bf16
    // activations are Uint16Arrays next to float32 params and statistics).
    const poolKey = (n: number, l: Layout, storage: string) => `${l}:${n}:${storage}`;
    const storageOf = (s: Shape, l: Layout) => this.backend.precision === 'bf16' && l === 'act' && s.length === 4 ? 'bf16' : 'f';
    this.schedule.forEach((n, t) => {
      if (n.op === 'param') return;
      n.shapes.forEach((s, i) => {
        const pk = poolKey(numel(s), n.layouts[i], storageOf(s, n.layouts[i]));
        // Inputs are uploaded before any kernel runs, so they must not take a buffer that an
        // earlier node still writes (an input created after part of the model, e.g. a target).
        const reuse = n.op === 'input' ? undefined : pool.get(pk)?.pop();
        const tensor = reuse ? { shape: s, data: reuse.data } : this.backend.alloc(s, n.layouts[i]);
        this.tensors.set(`${n.id}:${i}`, tensor);
      });
      const free: string[] = [];
      for (const v of n.inputs) {
        const k = key(v);
        if (lastUse.get(k) !== t || pinned.has(k) || v.node.op === 'param' || free.includes(k)) continue;
        free.push(k);
      }
      // Outputs nobody reads (e.g. an unused bias gradient) free at once.
      n.shapes.forEach((_, i) => { const k = `${n.id}:${i}`; if (!lastUse.has(k) && !pinned.has(k)) free.push(k); });
      for (const k of free) {
        const tn = this.tensors.get(k)!;
        const nodeId = Number(k.split(':')[0]);
        const idx = Number(k.split(':')[1]);
        const node = this.graph.nodes[nodeId];
        const pk = poolKey(tn.data.length, node.layouts[idx], storageOf(node.shapes[idx], node.layouts[idx]));
        if (!pool.has(pk)) pool.set(pk, []);
        pool.get(pk)!.push(tn);
      }
      this.releaseAfter.set(n.id, free);
    });
  }

  private bindParams() {
    for (const n of this.schedule) {
      if (n.op !== 'param') continue;
      const p = this.params.get(n.attrs.name);
      if (fmt(p.shape) !== fmt(n.shapes[0])) throw new Error(`param '${n.attrs.name}' has shape ${fmt(p.shape)}, graph expects ${fmt(n.shapes[0])}`);
      const t = this.backend.bindParam(p.data, p.shape);
      this.paramTensors.set(n.attrs.name, t);
      this.tensors.set(`${n.id}:0`, t);
    }
  }

  /** Runs so far: the `rt.step` of the next run (dropout masks vary with it; resume restores it). */
  get runCount(): number { return this.step; }
  set runCount(n: number) { this.step = n; }

  /** Runs the plan; returns the output tensors (backend layout), valid until the next run. */
  run(feeds: Record<string, Float32Array | Float64Array>): BTensor[] {
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
        const e = this.profile.get(n.op) ?? { ms: 0, calls: 0 };
        e.ms += performance.now() - t0;
        e.calls++;
        this.profile.set(n.op, e);
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
