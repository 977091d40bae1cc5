// The native backend's kernels: each unpacks logical NCHW shapes from the node and calls the
// addon, which reads and writes the typed arrays in place (4D activations are NHWC, or in
// blocked mode nChw16c where their channels are a multiple of 16: see LAYOUT_AWARE below).
// Every kernel first checks the tensors it is given against the node's shapes, so a mismatch
// is a JS Error naming the op, the node and the shapes instead of a crash in C++.
import type { BTensor, Kernel, KernelTable, RunContext } from '../../backend.js';
import type { Node, OpNode, Shape } from '../../graph.js';
import type { KernelOp } from '../../ops.js';
import { fmt, numel } from '../../graph.js';
import type { NativeAddon } from './addon.js';

type F = Float32Array;
/** An activation: float32, or bf16 bits when the backend runs in bf16. */
type Act = Float32Array | Uint16Array;
// Kernels index their arguments as float32 for params and statistics; 4D activations may hold
// bf16 bits, which the addon recognises by the Uint16Array type.
// Strides: per tensor, values between images when it is a strided view (BTensor.imageStride), else 0.
type Impl<K extends KernelOp = any> = (ins: any[], outs: any[], node: OpNode<K>, rt: RunContext, st: Strides) => void;
interface Strides { ins: number[]; outs: number[] }
const DENSE: Strides = { ins: [], outs: [] };

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

const LOSS_KINDS: Record<string, number> = { bce: 0, dice: 1, bce_dice: 2, ce: 3, ce_dice: 4 };

function shapes(ts: BTensor[]): string {
  return ts.map((t) => `${fmt(t.shape)}(${t.data.length}${t.data instanceof Float32Array ? '' : t.data instanceof Uint16Array ? ' bf16' : ' ' + t.data.constructor.name})`).join(', ');
}

/** The addon's layout mode is global; kernels of NHWC and blocked backends may interleave. */
let addonBlocked: boolean | undefined;
function setMode(A: NativeAddon, blocked: boolean) {
  if (addonBlocked !== blocked) { A.setBlocked(blocked); addonBlocked = blocked; }
}

/** Wraps an implementation with the boundary checks and error naming. */
function guarded(op: string, impl: Impl, A: NativeAddon, blocked: boolean): Kernel {
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
      setMode(A, blocked);
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

const dims4 = (s: Shape) => {
  if (s.length !== 4) throw new Error(`expected a 4D shape, got ${fmt(s)}`);
  return s as [number, number, number, number];
};
/** A volume [n,c,d,h,w] as the image [n,c,d*h,w]: the same storage (NDHWC is NHWC, nCdhw16c is
 *  nChw16c), so kernels that see only channels and positions (norms, losses, channel copies,
 *  1x1x1 convs) run volumes unchanged. Images pass as they are. */
const flat4 = (s: Shape): [number, number, number, number] => {
  if (s.length === 5) return [s[0], s[1], s[2] * s[3], s[4]];
  return dims4(s);
};
const dims5 = (s: Shape) => {
  if (s.length !== 5) throw new Error(`expected a 5D shape, got ${fmt(s)}`);
  return s as [number, number, number, number, number];
};
/** Activations: 4D images and 5D volumes. */
const actRank = (s: Shape) => s.length === 4 || s.length === 5;
/** A conv weight [O,C,1,1,1] with stride 1 and pad 0: a 1x1 conv over the flattened volume. */
const pointwise = (w: Shape, stride: number, pad: number) =>
  w.length === 5 && w[2] === 1 && w[3] === 1 && w[4] === 1 && stride === 1 && pad === 0;

/** Ops whose every 4D activation is the same shape and layout: storage order does not matter. */
const ELEMENTWISE = new Set(['ones', 'relu', 'relu_grad', 'leaky_relu', 'leaky_relu_grad', 'sigmoid', 'sigmoid_grad',
  'scale', 'add', 'mul', 'add_n', 'mean_all', 'fill_grad']);
/** Ops whose kernels take blocked tensors as they are: oneDNN primitives (given nChw16c
 *  descriptors by the addon) and ours that view a blocked image as NHWC images of 16 channels
 *  (pooling, up-sampling) or as contiguous runs per image (concatenation). */
const LAYOUT_AWARE = new Set(['conv', 'conv_bn', 'conv_grad_input', 'conv_grad_weight', 'conv_transpose',
  'conv_transpose_grad_input', 'conv_transpose_grad_weight', 'batchnorm', 'maxpool', 'maxpool_grad',
  'upsample2x', 'upsample2x_grad', 'concat', 'split_channels', 'concat_up', 'concat_up_grad',
  'instancenorm', 'instancenorm_grad']);
/** Of those, the ones that need all their 4D activations in one layout (ours, not oneDNN's). */
const SAME_LAYOUT = new Set(['concat', 'split_channels', 'concat_up', 'concat_up_grad']);

/** Builds the kernel table over a loaded addon; blocked: 4D activations with C % 16 == 0 are nChw16c. */
export function nativeKernels(A: NativeAddon, blocked = false): KernelTable {
  const isAct4 = (node: Node, i: number) => node.layouts[i] === 'act' && actRank(node.shapes[i]);
  let onCopies = false;  // true while a kernel runs on NHWC copies (layoutChecked)
  const blk = (s: Shape) => blocked && !onCopies && actRank(s) && s[1] % 16 === 0;
  /** Spatial kernels see a blocked [n,c,h,w] as n*c/16 NHWC images of 16 channels. */
  const img = (s: Shape): [number, number, number, number] => {
    const [n, c, h, w] = dims4(s);
    return blk(s) ? [n * c / 16, 16, h, w] : [n, c, h, w];
  };
  /** Pixels and channels for the channel-concat kernels: blocked images are runs of c*h*w values. */
  const runs = (s: Shape) => { const [n, c, h, w] = flat4(s); return blk(s) ? { px: n, k: h * w } : { px: n * h * w, k: 1 }; };
  /** Volume kernels see [n,c,d,h,w] as m images of [d][h][w][c']: blocked, n*c/16 of 16 channels. */
  const vimg = (s: Shape): [number, number, number, number, number] => {
    const [n, c, d, h, w] = dims5(s);
    return blk(s) ? [n * c / 16, 16, d, h, w] : [n, c, d, h, w];
  };
  const impls: { [K in KernelOp]: Impl<K> } = {
    ones: (_i, [y]) => A.fill(y, 1),

    conv: ([x, w, b], [y], node, _rt, st) => {
      const { stride: s, pad: p, relu: r } = node.attrs;
      if (node.inputs[0].shape.length === 5 && !pointwise(node.inputs[1].shape, s, p)) {
        const [n, c, d, h, wd] = dims5(node.inputs[0].shape);
        return A.conv3dFwd(x, w, b ?? null, y, n, c, d, h, wd, node.inputs[1].shape[0], node.inputs[1].shape[2], s, p, !!r);
      }
      const [n, c, h, wd] = flat4(node.inputs[0].shape);
      const [o, , kh, kw] = node.inputs[1].shape;
      const { stride, pad, relu } = node.attrs;
      A.convFwd(x, w, b ?? null, y, n, c, h, wd, o, kh, kw, stride, pad, !!relu, st.ins[0] ?? 0, st.outs[0] ?? 0);
    },
    conv_bn: ([x, w, gamma, beta, rm, rv, b], [y], node, rt, st) => {
      if (node.inputs[0].shape.length === 5 && !pointwise(node.inputs[1].shape, node.attrs.stride, node.attrs.pad)) {
        const [n, c, d, h, wd] = dims5(node.inputs[0].shape);
        const { stride, pad, eps, relu } = node.attrs;
        return A.conv3dBnFwd(x, w, b ?? null, gamma, beta, rm, rv, y, n, c, d, h, wd, node.inputs[1].shape[0], node.inputs[1].shape[2],
          stride, pad, eps, !!relu, 0, 0, rt.saved(node), !!rt.frozenParams);
      }
      const [n, c, h, wd] = flat4(node.inputs[0].shape);
      const [o, , kh, kw] = node.inputs[1].shape;
      const { stride, pad, eps, relu } = node.attrs;
      // The folded weights are kept in the node's state: they live as long as the plan.
      A.convBnFwd(x, w, b ?? null, gamma, beta, rm, rv, y, n, c, h, wd, o, kh, kw, stride, pad, eps, !!relu,
        st.ins[0] ?? 0, st.outs[0] ?? 0, rt.saved(node), !!rt.frozenParams);
    },
    conv_grad_input: ([dy, w], [dx], node) => {
      if (node.attrs.xShape.length === 5 && !pointwise(node.inputs[1].shape, node.attrs.stride, node.attrs.pad)) {
        const [n, c, d, h, wd] = dims5(node.attrs.xShape);
        return A.conv3dBwdData(dy, w, dx, n, c, d, h, wd, node.inputs[1].shape[0], node.inputs[1].shape[2], node.attrs.stride, node.attrs.pad);
      }
      const [n, c, h, wd] = flat4(node.attrs.xShape);
      const [o, , kh, kw] = node.inputs[1].shape;
      A.convBwdData(dy, w, dx, n, c, h, wd, o, kh, kw, node.attrs.stride, node.attrs.pad);
    },
    conv_grad_weight: ([x, dy], [dw, db], node) => {
      if (node.inputs[0].shape.length === 5 && !pointwise(node.attrs.wShape, node.attrs.stride, node.attrs.pad)) {
        const [n, c, d, h, wd] = dims5(node.inputs[0].shape);
        return A.conv3dBwdWeights(x, dy, dw, db ?? null, n, c, d, h, wd, node.attrs.wShape[0], node.attrs.wShape[2], node.attrs.stride, node.attrs.pad);
      }
      const [n, c, h, wd] = flat4(node.inputs[0].shape);
      const [o, , kh, kw] = node.attrs.wShape;
      A.convBwdWeights(x, dy, dw, db ?? null, n, c, h, wd, o, kh, kw, node.attrs.stride, node.attrs.pad);
    },
    conv_transpose: ([x, w, b], [y], node) => {
      if (node.inputs[0].shape.length === 5) {
        const [n, c, d, h, wd] = dims5(node.inputs[0].shape), [, o, k] = node.inputs[1].shape;
        return A.deconv3dFwd(x, w, b ?? null, y, n, c, d, h, wd, o, k, k, 0, false);
      }
      const [n, c, h, wd] = dims4(node.inputs[0].shape);
      const [, o, k] = node.inputs[1].shape;
      A.deconvFwd(x, w, b ?? null, y, n, c, h, wd, o, k, k, k, 0, false);
    },
    conv_transpose_grad_input: ([dy, w], [dx], node) => {
      if (node.attrs.xShape.length === 5) {
        const [n, c, d, h, wd] = dims5(node.attrs.xShape), [, o, k] = node.inputs[1].shape;
        return A.deconv3dBwdData(dy, w, dx, n, c, d, h, wd, o, k, k, 0);
      }
      const [n, c, h, wd] = dims4(node.attrs.xShape);
      const [, o, k] = node.inputs[1].shape;
      A.deconvBwdData(dy, w, dx, n, c, h, wd, o, k, k, k, 0);
    },
    conv_transpose_grad_weight: ([x, dy], [dw, db], node) => {
      if (node.inputs[0].shape.length === 5) {
        const [n, c, d, h, wd] = dims5(node.inputs[0].shape), [, o, k] = node.attrs.wShape;
        return A.deconv3dBwdWeights(x, dy, dw, db ?? null, n, c, d, h, wd, o, k, k, 0);
      }
      const [n, c, h, wd] = dims4(node.inputs[0].shape);
      const [, o, k] = node.attrs.wShape;
      A.deconvBwdWeights(x, dy, dw, db ?? null, n, c, h, wd, o, k, k, k, 0);
    },

    // a strided x (a view): its images are groups of c/16 blocked 16-channel images
    maxpool: ([x], [y], node, _rt, st) => node.inputs[0].shape.length === 5 ? A.maxpool3dFwd(x, y, ...vimg(node.inputs[0].shape)) : st.ins[0]
      ? A.maxpoolFwd(x, y, ...img(node.inputs[0].shape), node.inputs[0].shape[0], st.ins[0])
      : A.maxpoolFwd(x, y, ...img(node.inputs[0].shape)),
    maxpool_grad: ([x, , dy], [dx], node) => node.inputs[0].shape.length === 5 ? A.maxpool3dBwd(x, dy, dx, ...vimg(node.inputs[0].shape)) : A.maxpoolBwd(x, dy, dx, ...img(node.inputs[0].shape)),
    upsample2x: ([x], [y], node) => node.inputs[0].shape.length === 5
      ? A.upsample3dFwd(x, y, ...vimg(node.inputs[0].shape), node.attrs.mode === 'nearest', !!node.attrs.alignCorners)
      : A.upsampleFwd(x, y, ...img(node.inputs[0].shape), node.attrs.mode === 'nearest', !!node.attrs.alignCorners),
    upsample2x_grad: ([dy], [dx], node) => node.attrs.xShape.length === 5
      ? A.upsample3dBwd(dy, dx, ...vimg(node.attrs.xShape), node.attrs.mode === 'nearest', !!node.attrs.alignCorners)
      : A.upsampleBwd(dy, dx, ...img(node.attrs.xShape), node.attrs.mode === 'nearest', !!node.attrs.alignCorners),
    concat_up: (ins, [y], node, _rt, st) => {
      // volumes: the parts copied, the up-sampling written into its channels (blocked or NDHWC)
      if (node.shapes[0].length === 5)
        return A.concatUp3dFwd(ins.slice(0, -1), ins[ins.length - 1], y, ...dims5(node.inputs[ins.length - 1].shape),
          node.attrs.mode === 'nearest', !!node.attrs.alignCorners);
      const dims = dims4(node.inputs[node.inputs.length - 1].shape), nearest = node.attrs.mode === 'nearest', ac = !!node.attrs.alignCorners;
      const parts = ins.slice(0, -1), low = ins[ins.length - 1];
      if (st === DENSE) return A.concatUpFwd(parts, low, y, ...dims, nearest, ac);
      // y a prefix of its row buffer, the parts already in it (concat-views.ts): only the
      // up-sampling is written. Or a strided low input (a node of the row below).
      const sy = st.outs[0], sl = st.ins[ins.length - 1];
      if (sy) return A.concatUpFwd([], low, y, ...dims, nearest, ac, inPlace(parts, y, node, st, 4 * dims[2] * dims[3]), sy, sl);
      if (parts.some((_, k) => st.ins[k])) throw new Error('concat_up: strided parts need an in-place output');
      A.concatUpFwd(parts, low, y, ...dims, nearest, ac, 0, 0, sl);
    },
    concat_up_grad: ([dy], outs, node) => {
      const low = node.shapes[node.shapes.length - 1];
      if (low.length === 5)
        return A.concatUp3dBwd(dy, outs.slice(0, -1), outs[outs.length - 1], ...dims5(low), node.attrs.mode === 'nearest', !!node.attrs.alignCorners);
      A.concatUpBwd(dy, outs.slice(0, -1), outs[outs.length - 1], ...dims4(node.shapes[node.shapes.length - 1]),
        node.attrs.mode === 'nearest', !!node.attrs.alignCorners);
    },

    concat: (xs, [y], node) => A.concat(xs, y, runs(node.shapes[0]).px),
    split_channels: ([dy], dxs, node) => A.splitChannels(dy, dxs, runs(node.inputs[0].shape).px),

    batchnorm: ([x, gamma, beta, rm, rv], [y], node, rt) => {
      const [n, c, h, w] = flat4(node.inputs[0].shape);
      const { training, eps, momentum, relu } = node.attrs;
      if (!training) return A.bnFwdEval(x, gamma, beta, rm, rv, y, n, c, h, w, eps, !!relu);
      const s = rt.saved(node);
      if (!s.mean) {  // batch statistics and the fused-ReLU mask, for the backward kernel
        s.mean = new Float32Array(c);
        s.variance = new Float32Array(c);
        s.ws = relu ? new Uint8Array(A.bnWorkspaceBytes(n, c, h, w, eps, true, x instanceof Uint16Array)) : null;
      }
      A.bnFwdTrain(x, gamma, beta, y, s.mean, s.variance, s.ws, n, c, h, w, eps, !!relu);
      const runM = rt.param(node.attrs.runningMean).data as F, runV = rt.param(node.attrs.runningVar).data as F;
      A.bnUpdateRunning(runM, runV, s.mean, s.variance, momentum, n * h * w);
    },
    batchnorm_grad: ([x, gamma, rm, rv, dy, y], [dx, dgamma, dbeta], node, rt) => {
      const [n, c, h, w] = flat4(node.inputs[0].shape);
      const { training, eps, relu } = node.attrs;
      if (!training) return A.bnBwdEval(x, gamma, rm, rv, dy, y, dx, dgamma, dbeta, n, c, h, w, eps, !!relu);
      const s = rt.saved(node.attrs.fwd);
      if (!s.mean) throw new Error('the forward batchnorm has not run in this plan');
      A.bnBwdTrain(x, gamma, s.mean, s.variance, dy, s.ws, dx, dgamma, dbeta, n, c, h, w, eps, !!relu);
    },

    instancenorm: ([x, gamma, beta], [y], node, rt) => {
      const [n, c] = node.inputs[0].shape, s = rt.saved(node);
      if (!s.mean) { s.mean = new Float32Array(n * c); s.rstd = new Float32Array(n * c); }
      A.instnormFwd(x, gamma, beta, y, s.mean, s.rstd, n, c, numel(node.inputs[0].shape) / (n * c), node.attrs.eps ?? 1e-5, !!node.attrs.relu);
    },
    instancenorm_grad: ([x, gamma, beta, dy, y], [dx, dgamma, dbeta], node, rt) => {
      const shape = node.inputs[0].shape, [n, c] = shape, sp = numel(shape) / (n * c);
      // The forward's statistics: its node is the producer of y (inputs[4]); a plan that did not
      // run it (or another graph shape) recomputes them into dx, which is overwritten below.
      const fwd = node.inputs[4].node;
      let s = fwd.op === 'instancenorm' ? rt.saved(fwd) : undefined;
      if (!s?.mean) {
        s = rt.saved(node);
        if (!s.mean) { s.mean = new Float32Array(n * c); s.rstd = new Float32Array(n * c); }
        A.instnormFwd(x, gamma, beta, dx, s.mean, s.rstd, n, c, sp, node.attrs.eps ?? 1e-5, false);
      }
      A.instnormBwd(x, gamma, s.mean, s.rstd, dy, y, dx, dgamma, dbeta, n, c, sp, !!node.attrs.relu);
    },

    relu: ([x], [y]) => A.unary(0, x, y, 0),
    relu_grad: ([y, dy], [dx]) => A.unaryGrad(0, y, dy, dx, 0),
    leaky_relu: ([x], [y], node) => A.unary(1, x, y, node.attrs.alpha),
    leaky_relu_grad: ([x, dy], [dx], node) => A.unaryGrad(1, x, dy, dx, node.attrs.alpha),
    sigmoid: ([x], [y]) => A.unary(2, x, y, 0),
    sigmoid_grad: ([y, dy], [dx]) => A.unaryGrad(2, y, dy, dx, 0),
    scale: ([x], [y], node) => A.unary(3, x, y, node.attrs.s),
    softmax: ([x], [y], node) => { channelsLast(node); A.softmax(x, y, node.shapes[0][1]); },
    softmax_grad: ([y, dy], [dx], node) => { channelsLast(node); A.softmaxGrad(y, dy, dx, node.shapes[0][1]); },
    dropout: ([x], [y], node, rt) => {
      const s = node.shapes[0];
      const nhwc = isAct4(node, 0);
      const [n, c, h, w] = nhwc ? flat4(s) : [numel(s), 1, 1, 1];
      A.dropout(x, y, node.attrs.p, node.attrs.seed, rt.step, n, c, h, w, nhwc);
    },
    add: ([a, b], [y]) => A.binary(0, a, b, y),
    mul: ([a, b], [y]) => A.binary(1, a, b, y),
    add_n: (xs, [y]) => A.addN(xs, y),
    mean_all: ([x], [y]) => A.meanAll(x, y),
    fill_grad: ([dy], [y], node) => A.fill(y, dy[0] * node.attrs.scale),
    loss: ([z, t], [out], node) =>
      A.loss(z, t, out, lossKind(node), node.attrs.bceWeight ?? 0.5, ...flat4(node.inputs[0].shape)),
    loss_grad: ([z, t, dy], [dz], node) =>
      A.lossGrad(z, t, dy, dz, lossKind(node), node.attrs.bceWeight ?? 0.5, ...flat4(node.inputs[0].shape)),
  };
  const out: Partial<Record<KernelOp, Kernel>> = {};
  for (const [op, impl] of Object.entries(impls) as [KernelOp, Impl][])
    out[op] = guarded(op, blocked ? layoutChecked(op, impl) : impl, A, blocked);
  return out as KernelTable;

  /** In blocked mode: kernels that cannot take a blocked tensor (or this mix of layouts) run
   *  on NHWC copies made by oneDNN reorders, with the addon in NHWC mode meanwhile. */
  function layoutChecked(op: string, impl: Impl): Impl {
    if (ELEMENTWISE.has(op)) return impl;
    // Which tensors are blocked, and whether the kernel takes them as they are, depend on the
    // node alone: decided once per node, not on every run.
    const plans = new WeakMap<Node, { inB: boolean[]; outB: boolean[]; direct: boolean }>();
    const decide = (node: Node) => {
      const inB = node.inputs.map((v) => v.node.layouts[v.index] === 'act' && blk(v.shape));
      const outB = node.shapes.map((s, i) => node.layouts[i] === 'act' && blk(s));
      const act4 = [...node.inputs.map((v) => v.node.layouts[v.index] === 'act' && actRank(v.shape)), ...node.shapes.map((_, i) => isAct4(node, i))];
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
      setMode(A, false);
      onCopies = true;
      try { impl(ins2, outs2, node, rt, st); } finally { setMode(A, true); onCopies = false; }
      outs.forEach((t, i) => { if (outB[i]) A.reorderAct(outs2[i], 1, t, 2, ...shapeOf(ins.length + i)); });
    };
  }

  function channelsLast(node: Node) {
    if (!isAct4(node, 0)) throw new Error(`needs a 4D activation, got ${fmt(node.shapes[0])} (${node.layouts[0]})`);
  }
}

/** Checks that concat_up's parts already sit in y's row buffer where the concatenation wants
 *  them; returns their channels. */
function inPlace(parts: Act[], y: Act, node: Node, st: Strides, hw4: number): number {
  let off = 0;
  parts.forEach((p, k) => {
    if (p.buffer !== y.buffer || p.byteOffset !== y.byteOffset + off * hw4 * y.BYTES_PER_ELEMENT || st.ins[k] !== st.outs[0])
      throw new Error(`concat_up: input ${k} is not in place in the output's row buffer`);
    off += node.inputs[k].shape[1];
  });
  return off;
}

function lossKind(node: OpNode<'loss' | 'loss_grad'>): number {
  const k = LOSS_KINDS[node.attrs.kind];
  if (k === undefined) throw new Error(`unknown loss kind '${node.attrs.kind}'`);
  return k;
}
