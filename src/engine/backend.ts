// What a backend provides to the executor (plan.ts): storage for tensors in its own layout
// and one kernel per op. Kernels write into output tensors the plan allocated beforehand.
import type { Layout, Node, OpNode, Shape } from './graph.js';
import type { KernelOp } from './ops.js';
import type { ViewSupport } from './concat-views.js';

export type Float = Float32Array | Float64Array;
/** Storage of a tensor: float32/float64, or bf16 bits in a Uint16Array (native bf16 activations). */
export type TensorData = Float | Uint16Array;
export type Precision = 'fp32' | 'bf16';

export interface BTensor {
  readonly shape: Shape;
  /** Backend-owned data; layout is the backend's (native: NHWC for 4D activations, bf16 in bf16 mode). */
  readonly data: TensorData;
  /** Set when the tensor is a channel range of a wider buffer (in-place concatenation,
   *  concat-views.ts): values between consecutive images; data starts at image 0 and ends
   *  with the last image. Absent: dense. */
  readonly imageStride?: number;
}

export interface RunContext {
  /** Counter of runs of this plan, used to vary dropout masks from step to step. */
  readonly step: number;
  /** Per-node scratch kept across the forward and backward kernels of one plan (saved tensors, workspaces). */
  saved(node: Node | number): Record<string, any>;
  /** The backend tensor bound to a named param (running statistics are updated through it). */
  param(name: string): BTensor;
  /** The plan's params do not change while it lives (PlanOptions.frozenParams): kernels may
   *  keep data derived from them without checking them again. */
  readonly frozenParams?: boolean;
}

/** The kernel of op K: it sees K's attributes typed. */
export type OpKernel<K extends KernelOp> = (ins: BTensor[], outs: BTensor[], node: OpNode<K>, rt: RunContext) => void;
/** A kernel as the plan calls it, on any node (of the op it was looked up for). */
export type Kernel = (ins: BTensor[], outs: BTensor[], node: Node, rt: RunContext) => void;
/** One kernel per op: a backend's table of this type fails to compile when an op lacks one. */
export type KernelTable = { readonly [K in KernelOp]: OpKernel<K> };
/** The kernel of op from a table (the table's type already ties each op to its node type). */
export const kernelOf = (table: KernelTable, op: KernelOp): Kernel => table[op] as Kernel;

export interface Backend {
  readonly name: string;
  readonly dtype: 'float32' | 'float64';
  /** 'bf16': activations are stored and computed in bf16 (params, gradients of params, statistics and loss stay float32). */
  readonly precision: Precision;
  alloc(shape: Shape, layout: Layout): BTensor;
  /** Bytes per value of what alloc(shape, layout) returns (plans size their arena with it). */
  bytesPerValue(shape: Shape, layout: Layout): number;
  /** Copies host data (NCHW for 'act', as-is for 'plain') into t. */
  upload(host: Float32Array | Float64Array, t: BTensor, layout: Layout): void;
  /** A tensor over the param's host array: shared memory where the dtype allows, else a copy. */
  bindParam(host: Float32Array, shape: Shape): BTensor;
  /** Host copy, NCHW for 'act'. */
  download(t: BTensor, layout: Layout): Float32Array | Float64Array;
  kernel(op: KernelOp): Kernel;
  /** Present when some kernels take per-image strided views (plans then concatenate in place). */
  readonly views?: ViewSupport;
  /** Gives memory from alloc() back now (it must not be used again); backends without it leave it to the GC. */
  release?(data: TensorData): void;
}
