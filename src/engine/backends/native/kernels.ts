// The native backend's kernel table: the op families' kernels (kernels/*.ts: each unpacks logical
// shapes from the node and calls the addon, which reads and writes the typed arrays in place),
// wrapped here with what they share: boundary checks, strided views, and NHWC copies where a kernel
// cannot take blocked tensors (activations are NHWC, or in the blocked layout nChw16c where their
// channels are a multiple of 16: see LAYOUT_AWARE below). The layout is the table's own: each
// addon call that depends on it carries it, so tables of both layouts may run interleaved. A mismatch of
// tensors and node shapes is a JS Error naming the op, the node and the shapes, not a crash in C++.
import type { BTensor, Kernel, KernelTable } from '../../backend.js';
import type { Node, Shape } from '../../graph.js';
import { fmt, numel } from '../../graph.js';
import type { KernelOp } from '../../ops.js';
import type { ActLayout, NativeAddon } from './addon.js';
import { DENSE, actRank, flat4, isAct, type Act, type Ctx, type Impl, type Impls } from './kernels/context.js';
import { convKernels } from './kernels/conv.js';
import { spatialKernels } from './kernels/spatial.js';
import { channelKernels } from './kernels/channels.js';
import { normKernels } from './kernels/norm.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { lossKernels } from './kernels/loss.js';

/** Whether node's kernel takes its input (or output) i as a per-image strided view: forward
 *  convolutions (the addon runs them an image at a time), max-pooling's input and concat_up
 *  (image by image below). In-place concatenation (engine/concat-views.ts) asks this. */
export function acceptsView(node: Node, io: 'in' | 'out', i: number): boolean {
  switch (node.op) {
    case 'conv': case 'conv_bn': return i === 0;
    case 'maxpool': return io === 'in' && i === 0;
    // in blocked layout throughout (no NHWC copies); its parts only in place (checked when run)
    case 'concat_up': return node.shapes[0][1] % 16 === 0 && node.inputs.every((v) => v.shape[1] % 16 === 0);
    default: return false;
  }
}

function shapes(ts: BTensor[]): string {
  return ts.map((t) => `${fmt(t.shape)}(${t.data.length}${t.data instanceof Float32Array ? '' : t.data instanceof Uint16Array ? ' bf16' : ' ' + t.data.constructor.name})`).join(', ');
}

/** Wraps an implementation with the boundary checks and error naming. */
function guarded(op: KernelOp, impl: Impl): Kernel {
  return (ins, outs, node, rt) => {
    const where = () => `${op} (node ${node.name}): inputs ${shapes(ins)} -> outputs ${shapes(outs)}`;
    const bad = (ts: BTensor[], want: readonly Shape[], what: string) => {
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i];
        if (!(t.data instanceof Float32Array) && !(t.data instanceof Uint16Array)) return `${what} ${i} is neither float32 nor bf16`;
        const n = want[i] ? (t.imageStride ? (want[i][0] - 1) * t.imageStride + numel(want[i]) / want[i][0] : numel(want[i])) : 0;
        if (want[i] && t.data.length !== n) return `${what} ${i} has ${t.data.length} values, expected ${fmt(want[i])}${t.imageStride ? ` at image stride ${t.imageStride}` : ''}`;
      }
      return '';
    };
    const msg = (ins.length !== node.inputs.length ? `expected ${node.inputs.length} inputs, got ${ins.length}` : '') ||
      (outs.length !== node.shapes.length ? `expected ${node.shapes.length} outputs, got ${outs.length}` : '') ||
      bad(ins, node.inputs.map((v) => v.shape), 'input') || bad(outs, node.shapes, 'output');
    if (msg) throw new Error(`${where()}: ${msg}`);
    try {
      const strided = ins.some((t) => t.imageStride) || outs.some((t) => t.imageStride);
      if (strided && (ins.some((t, i) => t.imageStride && !acceptsView(node, 'in', i)) ||
                      outs.some((t, i) => t.imageStride && !acceptsView(node, 'out', i))))
        throw new Error('a strided view reached a kernel that does not take one');
      const st = strided ? { ins: ins.map((t) => t.imageStride ?? 0), outs: outs.map((t) => t.imageStride ?? 0) } : DENSE;
      impl(ins.map((t) => t.data as Act), outs.map((t) => t.data as Act), node, rt, st);
    } catch (e) {
      throw new Error(`${where()}: ${(e as Error).message}`);
    }
  };
}

/** Ops whose every activation is the same shape and layout: storage order does not matter. */
const ELEMENTWISE = new Set<KernelOp>(['ones', 'relu', 'relu_grad', 'leaky_relu', 'leaky_relu_grad', 'sigmoid', 'sigmoid_grad',
  'scale', 'add', 'mul', 'add_n', 'mean_all', 'fill_grad']);
/** Ops whose kernels take blocked tensors as they are: oneDNN primitives (given nChw16c
 *  descriptors by the addon) and ours that view a blocked image as NHWC images of 16 channels
 *  (pooling, up-sampling) or as contiguous runs per image (concatenation). */
const LAYOUT_AWARE = new Set<KernelOp>(['conv', 'conv_bn', 'conv_grad_input', 'conv_grad_weight', 'conv_transpose',
  'conv_transpose_grad_input', 'conv_transpose_grad_weight', 'batchnorm', 'maxpool', 'maxpool_grad',
  'upsample2x', 'upsample2x_grad', 'concat', 'split_channels', 'concat_up', 'concat_up_grad',
  'instancenorm', 'instancenorm_grad']);
/** Of those, the ones that need all their activations in one layout (ours, not oneDNN's). */
const SAME_LAYOUT = new Set<KernelOp>(['concat', 'split_channels', 'concat_up', 'concat_up_grad']);

/** Builds the kernel table over a loaded addon; blocked layout: activations with C % 16 == 0 are nChw16c / nCdhw16c. */
export function nativeKernels(A: NativeAddon, layout: ActLayout = 'nhwc'): KernelTable {
  const blocked = layout === 'blocked';
  let onCopies = false;  // true while a kernel runs on NHWC copies (layoutChecked)
  const blk = (s: Shape) => blocked && !onCopies && actRank(s) && s[1] % 16 === 0;
  const ctx: Ctx = { A, blk, layout: () => (onCopies ? 'nhwc' : layout) };
  // A family missing an op, or an op missing from every family, does not compile.
  const impls: Impls<KernelOp> = {
    ...convKernels(ctx), ...spatialKernels(ctx), ...channelKernels(ctx), ...normKernels(ctx),
    ...elementwiseKernels(ctx), ...lossKernels(ctx),
  };
  const out: Partial<Record<KernelOp, Kernel>> = {};
  for (const [op, impl] of Object.entries(impls) as [KernelOp, Impl][])
    out[op] = guarded(op, blocked ? layoutChecked(op, impl) : impl);
  return out as KernelTable;

  /** In the blocked layout: kernels that cannot take a blocked tensor (or this mix of layouts) run
   *  on NHWC copies made by oneDNN reorders, passing the addon the NHWC layout meanwhile. */
  function layoutChecked(op: KernelOp, impl: Impl): Impl {
    if (ELEMENTWISE.has(op)) return impl;
    // Which tensors are blocked, and whether the kernel takes them as they are, depend on the
    // node alone: decided once per node, not on every run.
    const plans = new WeakMap<Node, { inB: boolean[]; outB: boolean[]; direct: boolean }>();
    const decide = (node: Node) => {
      const inB = node.inputs.map((v) => v.node.layouts[v.index] === 'act' && blk(v.shape));
      const outB = node.shapes.map((s, i) => node.layouts[i] === 'act' && blk(s));
      const act4 = [...node.inputs.map((v) => v.node.layouts[v.index] === 'act' && actRank(v.shape)), ...node.shapes.map((_, i) => isAct(node, i))];
      const layouts = [...inB, ...outB].filter((_, i) => act4[i]);
      const mixed = layouts.includes(true) && layouts.includes(false);
      const direct = !layouts.includes(true) ||
        (LAYOUT_AWARE.has(op) ? !(SAME_LAYOUT.has(op) && mixed) : node.op === 'batchnorm_grad' && node.attrs.training);
      return { inB, outB, direct };
    };
    return (ins, outs, node, rt, st) => {
      if (onCopies) throw new Error('nested NHWC fallback');
      let d = plans.get(node);
      if (!d) plans.set(node, (d = decide(node)));
      const { inB, outB, direct } = d;
      if (direct) return impl(ins, outs, node, rt, st);
      if (st !== DENSE) throw new Error('a strided view would need an NHWC copy');
      const s = rt.saved(node);
      const tmp: (Act | null)[] = s.nhwcCopies ??= [...inB, ...outB].map((b, i) => {
        if (!b) return null;
        const t = i < ins.length ? ins[i] : outs[i - ins.length];
        return t instanceof Uint16Array ? A.alignedArray(1, t.length) : A.alignedArray(0, t.length);
      });
      const shapeOf = (i: number) => flat4(i < ins.length ? node.inputs[i].shape : node.shapes[i - ins.length]);
      const ins2 = ins.map((t, i) => inB[i] ? (A.reorderAct(t, 2, tmp[i]!, 1, ...shapeOf(i)), tmp[i]) : t);
      const outs2 = outs.map((t, i) => outB[i] ? tmp[ins.length + i] : t);
      onCopies = true;
      try { impl(ins2, outs2, node, rt, st); } finally { onCopies = false; }
      outs.forEach((t, i) => { if (outB[i]) A.reorderAct(outs2[i], 1, t, 2, ...shapeOf(ins.length + i)); });
    };
  }

}
