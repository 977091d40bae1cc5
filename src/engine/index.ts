// The engine's public API: build a graph, differentiate it, run it on a backend.
export { Graph, ShapeError, numel, fmt, paramName } from './graph.js';
export type { Shape, Layout, Value, Node, OpNode } from './graph.js';
export { KERNEL_OPS } from './ops.js';
export type { OpAttrs, OpName, KernelOp, ConvAttrs, BatchNormAttrs, InstanceNormAttrs, UpsampleMode, LossKind,
  DiceOptions } from './ops.js';
export { gradients, hasGradRule } from './autodiff.js';
export { Plan, NonFiniteError } from './plan.js';
export type { PlanOptions } from './plan.js';
export { ParamStore } from './params.js';
export type { Param } from './params.js';
export type { Backend, BTensor, Kernel, OpKernel, KernelTable, RunContext, Float, TensorData, Precision } from './backend.js';
export { dropoutStream, dropoutUniform } from './dropout-hash.js';
export { ReferenceBackend } from './backends/reference.js';
export type { ReferenceOptions } from './backends/reference.js';
export { NativeBackend, nativeAvailable, bf16Support, setThreads, getThreads, type NativeOptions } from './backends/native.js';
export { getBackend } from './backends/select.js';
export type { BackendName } from './backends/select.js';
export type { NoAttrs, ConvBnAttrs, PoolAttrs, UpsampleAttrs, LossAttrs, Pad } from './ops.js';
export type { ViewSupport } from './concat-views.js';
export type { BackendUse } from './backends/native.js';
export type { ActLayout } from './backends/native/addon.js';
