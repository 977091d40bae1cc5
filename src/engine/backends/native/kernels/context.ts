// What the native kernel families share: the implementation type, strides of per-image views,
// shape helpers and the storage of the activations a kernel is given (NHWC or blocked).
import type { RunContext } from '../../../backend.js';
import type { Node, OpNode, Shape } from '../../../graph.js';
import { fmt } from '../../../graph.js';
import type { KernelOp } from '../../../ops.js';
import type { ActLayout, NativeAddon } from '../addon.js';

/** Strides: per tensor, values between images when it is a strided view (BTensor.imageStride), else 0. */
export interface Strides { ins: number[]; outs: number[] }
export const DENSE: Strides = { ins: [], outs: [] };

// Kernels index their arguments as float32 for params and statistics; activations may hold
// bf16 bits, which the addon recognises by the Uint16Array type.
export type Impl<K extends KernelOp = any> = (ins: any[], outs: any[], node: OpNode<K>, rt: RunContext, st: Strides) => void;
/** The implementations of a family's ops. */
export type Impls<K extends KernelOp> = { [P in K]: Impl<P> };

/** An activation: float32, or bf16 bits when the backend runs in bf16. */
export type Act = Float32Array | Uint16Array;

export interface Ctx {
  readonly A: NativeAddon;
  /** The layout the kernel running now passes to the addon: the backend's, or 'nhwc' while it runs on NHWC copies. */
  layout(): ActLayout;
  /** Whether an activation of shape s is stored blocked now (false while a kernel runs on NHWC copies). */
  blk(s: Shape): boolean;
}

export const dims4 = (s: Shape) => {
  if (s.length !== 4) throw new Error(`expected a 4D shape, got ${fmt(s)}`);
  return s as [number, number, number, number];
};
/** A volume [n,c,d,h,w] as the image [n,c,d*h,w]: the same storage (NDHWC is NHWC, nCdhw16c is
 *  nChw16c), so kernels that see only channels and positions (norms, losses, channel copies,
 *  1x1x1 convs) run volumes unchanged. Images pass as they are. */
export const flat4 = (s: Shape): [number, number, number, number] => {
  if (s.length === 5) return [s[0], s[1], s[2] * s[3], s[4]];
  return dims4(s);
};
/** Activations: 4D images and 5D volumes. */
export const actRank = (s: Shape) => s.length === 4 || s.length === 5;
export const isAct = (node: Node, i: number) => node.layouts[i] === 'act' && actRank(node.shapes[i]);

/** Spatial kernels (pooling, up-sampling) see [n,c,...size] as m images of [...size][c']:
 *  NHWC / NDHWC m = n; blocked, n*c/16 images of 16 channels. */
export function images(ctx: Ctx, s: Shape): [number, number, number[]] {
  const [n, c, ...size] = s;
  if (!actRank(s)) throw new Error(`expected an image or a volume, got ${fmt(s)}`);
  return ctx.blk(s) ? [n * c / 16, 16, size] : [n, c, size];
}

/** Pixels for the channel-concat kernels: a blocked image is one run of c*h*w values. */
export function pixels(ctx: Ctx, s: Shape): number {
  const [n, , h, w] = flat4(s);
  return ctx.blk(s) ? n : n * h * w;
}
