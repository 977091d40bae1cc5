// The native backend: oneDNN primitives and our own C++ kernels through the addon in native/.
// float32 only; 4D activations ('act') are stored NHWC, params and other values plain.
import type { Backend, BTensor, Kernel } from '../backend.js';
import type { Layout, Shape } from '../graph.js';
import { fmt, numel } from '../graph.js';
import { loadAddon, tryLoadAddon, type NativeAddon, type ConvRawResult } from './native/addon.js';
import { nativeKernels } from './native/kernels.js';

export type { NativeAddon, ConvRawResult };
export { tryLoadAddon, loadAddon };

const isAct4 = (shape: Shape, layout: Layout) => layout === 'act' && shape.length === 4;

export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly dtype = 'float32' as const;
  readonly addon: NativeAddon;
  private kernels: Record<string, Kernel>;

  /** Throws an Error naming the reason and the fix when the addon is not available. */
  constructor() {
    this.addon = loadAddon();
    this.kernels = nativeKernels(this.addon);
  }

  alloc(shape: Shape, _layout: Layout): BTensor {
    return { shape, data: new Float32Array(numel(shape)) };
  }

  upload(host: Float32Array | Float64Array, t: BTensor, layout: Layout): void {
    if (host.length !== t.data.length) throw new Error(`native upload: ${host.length} values into a tensor of shape ${fmt(t.shape)}`);
    if (!isAct4(t.shape, layout)) { t.data.set(host); return; }
    const src = host instanceof Float32Array ? host : new Float32Array(host);
    this.addon.nchwToNhwc(src, t.data as Float32Array, ...(t.shape as [number, number, number, number]));
  }

  bindParam(host: Float32Array, shape: Shape): BTensor {
    if (host.length !== numel(shape)) throw new Error(`native bindParam: ${host.length} values for shape ${fmt(shape)}`);
    return { shape, data: host };  // shared: optimiser and running-stat updates need no copies
  }

  download(t: BTensor, layout: Layout): Float32Array {
    if (!isAct4(t.shape, layout)) return (t.data as Float32Array).slice();
    const out = new Float32Array(t.data.length);
    this.addon.nhwcToNchw(t.data as Float32Array, out, ...(t.shape as [number, number, number, number]));
    return out;
  }

  kernel(op: string): Kernel | undefined {
    return this.kernels[op];
  }
}

/** Whether the addon loads here, and why not. */
export function nativeAvailable(): { ok: boolean; reason: string } {
  const { addon, reason } = tryLoadAddon();
  return { ok: !!addon, reason };
}

/** Threads used by oneDNN and our kernels (default: all cores, or UNETPP_THREADS). */
export function setThreads(n: number): void { loadAddon().setThreads(n); }
export function getThreads(): number { return loadAddon().getThreads(); }

/**
 * Fused Adam step in place (torch.optim.Adam: L2 weight decay added to the gradient; step
 * counts from 1). All arrays are float32 of the same length.
 */
export function adamStep(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number,
                         beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void {
  loadAddon().adamStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
}

/** SGD step in place (torch.optim.SGD; the momentum buffer starts as the first gradient, at step 1). */
export function sgdStep(param: Float32Array, grad: Float32Array, buf: Float32Array, lr: number, momentum: number,
                        weightDecay: number, step: number, dampening = 0, nesterov = false): void {
  loadAddon().sgdStep(param, grad, buf, lr, momentum, weightDecay, step, dampening, nesterov);
}

/** oneDNN's own conv primitives ("format any" layouts) timed on filled buffers: the kernel floor. */
export function benchConvRaw(opts: { n?: number; c?: number; o?: number; h?: number; w?: number; k?: number; pad?: number; iters?: number; bias?: boolean }): ConvRawResult {
  return loadAddon().benchConvRaw(opts);
}
