// Memory of a training step, estimated from the engine's own plan sizing: the training graph
// (forward, loss, backward) of the candidate is built and sized without allocating (Plan
// sizeOnly), then what lives outside the arena is added by rule:
// - native backend, blocked layout, CPU without AVX-512: oneDNN's AVX2 kernels want 8-channel
//   blocks, so every conv primitive (one per distinct shape) keeps staging copies of its
//   activations in its cache entry; measured on this project's UNet++ (2D and 3D) to match the
//   sum of those tensors within 1% (e.g. +768 MB on a 406 MB arena);
// - every conv primitive's own copy of its weights in its layout (what made deep 2D networks,
//   9M params at 160x128, read 14% low without it);
// - 2D float32 blocked on AVX-512: oneDNN's Winograd forward convs (native/conv.cc) keep their
//   transformed tiles in the shared scratchpad: the largest conv's, 2.25x (6x6 per 4x4 tile) its input
//   and output, plus its weights 4x (36 per 9 taps); measured +46 MB for a 54 MB estimate (UNet++
//   16..128 at 128x128, batch 4; the concatenating convs run image by image, so it is an upper bound);
// - the addon's up-sampling scratch (3D: 6x, 2D: 2x the largest low-resolution input);
// - weights, their gradients and Adam's two moments (4x the params; 8x with the checkpoint writes), the batch on the host
//   (twice: the loader prepares the next one), and the process itself (FIXED_BYTES).
import { Graph, numel, type Node, type Pad } from '../engine/graph.js';
import { Plan } from '../engine/plan.js';
import type { Backend } from '../engine/backend.js';
import { NativeBackend, winogradOn } from '../engine/backends/native.js';
import type { SegModel } from '../models/model.js';
import { trainGraph, type LossSpec } from '../train/plans.js';
import type { MemoryBreakdown } from '../io/dataset-plan.js';

/** RSS of a training process before any model: Node, the trainer's modules, the addon (measured: 78 MB). */
export const FIXED_BYTES = 80 * 2 ** 20;

const CONV_OPS = new Set(['conv', 'conv_bn', 'conv_grad_input', 'conv_grad_weight', 'conv_transpose',
  'conv_transpose_grad_input', 'conv_transpose_grad_weight']);

/** oneDNN's ISA code has these bits set from avx512_core up (dnnl_cpu_isa_t). */
const AVX512_CORE = 0x27;

/** Whether conv primitives keep staged copies of their activations (see the top of the file). */
export function stagesConvs(backend: Backend): boolean {
  if (!(backend instanceof NativeBackend) || backend.layout !== 'blocked') return false;
  return (backend.addon.info().isa & AVX512_CORE) !== AVX512_CORE;
}

/** Whether 3x3 forward convs run oneDNN's float32 Winograd (native/conv.cc: fp32WinogradTakes). */
function runsFp32Winograd(backend: NativeBackend, dims: number): boolean {
  return dims === 2 && backend.precision === 'fp32' && backend.layout === 'blocked' && winogradOn() &&
    (backend.addon.info().isa & AVX512_CORE) === AVX512_CORE;
}

/** Winograd's scratchpad for a forward conv node (0 where the conv runs direct); see the top of the file. */
const WINOGRAD_MAX_SCRATCH = 160 * 2 ** 20; // above it the addon runs the conv direct
function winogradScratch(n: Node): number {
  const w = n.inputs.find((v) => v.node.op === 'param' && v.shape.length === 4)?.shape;
  if (!w || (n.op !== 'conv' && n.op !== 'conv_bn')) return 0;
  const [N, C, H, W] = n.inputs[0].shape, O = n.shapes[0][1];
  const { stride, pad } = n.attrs as { stride: number; pad: Pad };
  if (C % 16 || O % 16 || w[2] !== 3 || w[3] !== 3 || stride !== 1 || pad !== 1 || H < 12 || W < 12) return 0;
  const bytes = 4 * (2.25 * N * H * W * (C + O) + 4 * numel(w));
  return bytes <= WINOGRAD_MAX_SCRATCH ? bytes : 0;
}

/** A conv primitive's weights (its weight gradient for backward-weights): each primitive keeps them
 *  reordered into its own layout. */
function weightBytes(n: Node): number {
  if (n.op.endsWith('grad_weight')) return 4 * numel(n.shapes[0]);
  const w = n.inputs.find((v) => v.node.op === 'param' && v.shape.length >= 4);
  return w ? 4 * numel(w.shape) : 0;
}

/** Bytes outside the arena that the native backend keeps for this graph's nodes. */
function nativeBytes(nodes: Node[], backend: Backend, dims: number): number {
  if (!(backend instanceof NativeBackend)) return 0;
  const act = (n: Node, i: number) =>
    n.layouts[i] === 'act' ? numel(n.shapes[i]) * backend.bytesPerValue(n.shapes[i], 'act') : 0;
  let staged = 0, weights = 0, low = 0, wino = 0;
  const seen = new Set<string>();
  const staging = stagesConvs(backend), winograd = runsFp32Winograd(backend, dims);
  for (const n of nodes) {
    // the low-resolution input: concat_up's last input, concat_up_grad's last output
    if (n.op === 'concat_up') low = Math.max(low, numel(n.inputs[n.inputs.length - 1].shape));
    if (n.op === 'concat_up_grad') low = Math.max(low, numel(n.shapes[n.shapes.length - 1]));
    if (!CONV_OPS.has(n.op)) continue;
    const key = `${n.op}:${n.inputs.map((v) => v.shape.join('x')).join(',')}:${n.shapes.map((s) => s.join('x')).join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    weights += weightBytes(n);
    if (winograd) wino = Math.max(wino, winogradScratch(n));
    if (staging) staged += n.inputs.reduce((s, v) => s + act(v.node, v.index), 0) + n.shapes.reduce((s, _, i) => s + act(n, i), 0);
  }
  return staged + weights + wino + (dims === 3 ? 6 : 2) * 4 * low;
}

const paramBytes = (model: SegModel) => 4 * model.params.count();

/** Bytes of one training step of `model` on batches [batch, C, ...patch]. */
export function estimateStepMemory(model: SegModel, batch: number, patch: readonly number[], loss: LossSpec,
  backend: Backend): MemoryBreakdown {
  const { inChannels: C, classes: K, dims } = model.config;
  const { g, outs } = trainGraph(model, [batch, C, ...patch], [batch, K, ...patch], loss);
  const plan = new Plan(g, backend, model.params, outs, { sizeOnly: true });
  const arena = plan.arenaBytes;
  const native = nativeBytes(plan.schedule, backend, dims);
  // weights, gradients, Adam's two moments (4x), and as much again while the epoch's checkpoints are
  // serialised (measured: peak RSS +2.5x to 5x the weights' bytes across saving, 2D 16..512 and 3D 16..128)
  const params = 8 * paramBytes(model);
  const hostBatch = 2 * 4 * batch * (C + K) * numel(patch);
  const total = arena + native + params + hostBatch + FIXED_BYTES;
  return { arena, native, params, batch: hostBatch, fixed: FIXED_BYTES, total };
}

/** Extra bytes of validation's predictor (windows of the patch, `windows` per run): its own arena
 *  and staged buffers, which stay beside the training step's. */
export function estimateValidationMemory(model: SegModel, patch: readonly number[], backend: Backend, windows = 4): number {
  const g = new Graph();
  const x = g.input('x', [windows, model.config.inChannels, ...patch]);
  const probs = model.probabilities(g, model.forward(g, x, { training: false, fuseBn: true }), { kind: 'accurate' });
  const plan = new Plan(g, backend, model.params, [probs], { sizeOnly: true, frozenParams: true });
  return plan.arenaBytes + nativeBytes(plan.schedule, backend, model.config.dims);
}
