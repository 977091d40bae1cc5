// The native backend: oneDNN primitives and our own C++ kernels through the addon in native/.
// 4D activations ('act') are stored NHWC, or with layout 'blocked' as oneDNN's nChw16c where
// their channel count is a multiple of 16 (the layout its convolutions prefer: no strided
// access, ~5% faster convs); params and other values plain. Precision 'bf16'
// stores 4D activations (and their gradients) as bf16 bits in Uint16Arrays; everything else
// (params, their gradients, optimiser state, batch-norm statistics, the loss) stays float32.
import { kernelOf, type Backend, type BTensor, type Kernel, type KernelTable, type Precision, type TensorData } from '../backend.js';
import type { KernelOp } from '../ops.js';
import type { Layout, Shape } from '../graph.js';
import { fmt, numel } from '../graph.js';
import { loadAddon, tryLoadAddon, type ActLayout, type NativeAddon, type ConvRawResult } from './native/addon.js';
import { nativeKernels, acceptsView } from './native/kernels.js';
import type { ViewSupport } from '../concat-views.js';

export type { ActLayout, NativeAddon, ConvRawResult };
export { tryLoadAddon, loadAddon };

/** Activations: 4D images [N,C,H,W] and 5D volumes [N,C,D,H,W], stored channels-last or blocked. */
const isAct4 = (shape: Shape, layout: Layout) => layout === 'act' && (shape.length === 4 || shape.length === 5);
/** The storage of a volume is that of the image [N,C,D*H,W] (NDHWC = NHWC, nCdhw16c = nChw16c). */
const as4 = (s: Shape) => (s.length === 5 ? [s[0], s[1], s[2] * s[3], s[4]] : s) as [number, number, number, number];

export type BackendUse = 'train' | 'infer';

/** Smallest image (values) stored as a strided view: convs on views run once per image (the
 *  images spread over the threads), which only pays where the copies saved are big (measured on
 *  UNet++ at 96x96: rows 0-1 gain ~3-5 ms a batch; adding rows 2-3, below 2^17, no measurable gain). */
const VIEW_MIN = 1 << 17;

/**
 * The faster layout, measured (UNet++ bn preset, batch 16, 96x96, 2 threads, oneDNN 2.6):
 * blocked for training in both precisions (its backward kernels are faster) and for inference,
 * whose 3x3 convs run Winograd (our bf16 kernel; oneDNN's float32 one takes blocked activations
 * only: 342 -> 231 ms a float32 batch). With UNETPP_WINOGRAD=0, float32 inference is faster NHWC
 * (oneDNN's direct brgconv: 347 vs 376 ms a batch). UNETPP_LAYOUT overrides.
 * Volumes (dims 3): blocked, where our float32 Winograd F(2x2x2, 3x3x3) runs the 3x3x3 convs
 * (AVX-512; native/winograd3d.cc): inference of the bench's 64^3 UNet++ (16..256, batch 2) 0.82 s
 * a batch NDHWC -> 0.47-0.55 s blocked. Without it (UNETPP_WINOGRAD=0 or UNETPP_WINOGRAD3D=0)
 * float32 inference is faster NDHWC (oneDNN's brgconv: 3D UNet++ 32^3 batch 2, 1 thread, best of
 * 4-6 alternating runs: 417-498 vs 493-656 ms a batch); training and bf16 are blocked (within
 * noise of NDHWC: 1302-1485 vs 1429-1497 ms fp32, 544 vs 559 ms bf16).
 */
export function defaultLayout(precision: Precision, use: BackendUse = 'train', dims: 2 | 3 = 2): ActLayout {
  const env = process.env.UNETPP_LAYOUT;
  if (env) return env as ActLayout;
  // Without AVX-512, oneDNN 2.6 has no direct kernels for 16-channel blocks and batch norm on them falls to its
  // reference kernel: volumes train ~20% faster on NDHWC there, in half the memory (48^3, filters 16..128, AVX2),
  // images 1.9x faster (bn preset, 96x96, batch 16: 2.31 vs 1.22 img/s); image inference stays blocked (1.6x)
  if (dims === 3) return (precision === 'fp32' && use === 'infer' && !winograd3dOn()) || !avx512() ? 'nhwc' : 'blocked';
  if (use === 'train' && !avx512()) return 'nhwc';
  return precision === 'fp32' && use === 'infer' && !winogradOn() ? 'nhwc' : 'blocked';
}
/** Whether the addon runs 3x3 convs as Winograd (docs/engine.md): unless UNETPP_WINOGRAD=0. */
export const winogradOn = () => process.env.UNETPP_WINOGRAD !== '0';
/** Whether float32 3x3x3 volume convs run our Winograd kernel where it is faster (native/winograd3d.cc): the
 *  addon has it (AVX-512 builds) and neither UNETPP_WINOGRAD=0 nor UNETPP_WINOGRAD3D=0 turns it off. */
export function winograd3dOn(): boolean {
  const { addon } = tryLoadAddon();
  return !!addon && !!addon.info().winograd3d && winogradOn() && process.env.UNETPP_WINOGRAD3D !== '0';
}
/** Storage format of a tensor: -1 plain, 1 NHWC, 2 nChw16c (the addon's reorderAct codes). */
export function actFormat(shape: Shape, layout: Layout, actLayout: ActLayout): -1 | 1 | 2 {
  if (!isAct4(shape, layout)) return -1;
  return actLayout === 'blocked' && shape[1] % 16 === 0 ? 2 : 1;
}

export interface NativeOptions {
  /** 'bf16' throws where the CPU lacks native bf16 (see bf16Support()); getBackend() falls back instead. */
  precision?: Precision;
  /** Storage of 4D activations (default: defaultLayout(precision, use)). */
  layout?: ActLayout;
  /** What the backend's plans mostly run, for the default layout. */
  use?: BackendUse;
  /** Whether they run images (2, default) or volumes (3), for the default layout. */
  dims?: 2 | 3;
  /** Blocked layout: the smallest image (values per image) plans store as a strided view for
   *  in-place concatenation (default 2^17; Infinity: never). */
  viewMin?: number;
}

export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly dtype = 'float32' as const;
  readonly precision: Precision;
  readonly layout: ActLayout;
  /** @internal The loaded addon: its raw calls, for tests and benchmarks. */
  readonly addon: NativeAddon;
  private kernels: KernelTable;
  /** Blocked layout: a channel range (a multiple of 16) of an image is dense, so plans may
   *  concatenate in place (engine/concat-views.ts). */
  readonly views?: ViewSupport;

  /** Throws an Error naming the reason and the fix when the addon is not available. */
  constructor(options: NativeOptions = {}) {
    this.addon = loadAddon();
    this.precision = options.precision ?? 'fp32';
    if (this.precision !== 'fp32' && this.precision !== 'bf16') throw new Error(`native backend: precision must be fp32 or bf16, got ${String(this.precision)}`);
    if (this.precision === 'bf16') {
      const s = bf16Support();
      if (!s.ok) throw new Error(`native backend: precision bf16: ${s.reason}`);
    }
    this.layout = options.layout ?? defaultLayout(this.precision, options.use, options.dims);
    if (this.layout !== 'nhwc' && this.layout !== 'blocked') throw new Error(`native backend: layout must be nhwc or blocked, got ${String(this.layout)}${options.layout ? '' : ' (from UNETPP_LAYOUT)'}`);
    this.kernels = nativeKernels(this.addon, this.layout);
    const viewMin = options.viewMin ?? VIEW_MIN;
    if (this.layout === 'blocked') this.views = { viewable: (s) => s.length === 4 && s[1] % 16 === 0 && numel(s) / s[0] >= viewMin, acceptsView };
  }

  alloc(shape: Shape, layout: Layout): BTensor {
    const n = numel(shape);
    const bf16 = this.bytesPerValue(shape, layout) === 2;
    // 64-byte aligned (plain typed arrays of this size sit at 16 bytes past a page boundary)
    try {
      return { shape, data: bf16 ? this.addon.alignedArray(1, n) : this.addon.alignedArray(0, n) };
    } catch (e) {
      throw new Error(`native backend: a ${bf16 ? 'bf16' : 'float32'} tensor ${fmt(shape)} (${(n * (bf16 ? 2 : 4) / 2 ** 30).toFixed(2)} GiB): ${(e as Error).message}`);
    }
  }

  bytesPerValue(shape: Shape, layout: Layout): number {
    return this.precision === 'bf16' && isAct4(shape, layout) ? 2 : 4;
  }

  upload(host: Float32Array | Float64Array, t: BTensor, layout: Layout): void {
    if (host.length !== t.data.length) throw new Error(`native upload: ${host.length} values into a tensor of shape ${fmt(t.shape)}`);
    const src = host instanceof Float32Array ? host : new Float32Array(host);
    const f = actFormat(t.shape, layout, this.layout);
    if (f > 0) this.addon.reorderAct(src, 0, t.data as Float32Array | Uint16Array, f, ...as4(t.shape));
    else if (t.data instanceof Uint16Array) this.addon.f32ToBf16(src, t.data);
    else t.data.set(host);
  }

  bindParam(host: Float32Array, shape: Shape): BTensor {
    if (host.length !== numel(shape)) throw new Error(`native bindParam: ${host.length} values for shape ${fmt(shape)}`);
    return { shape, data: host };  // shared: optimiser and running-stat updates need no copies
  }

  download(t: BTensor, layout: Layout): Float32Array {
    const out = new Float32Array(t.data.length);
    const f = actFormat(t.shape, layout, this.layout);
    if (f > 0) this.addon.reorderAct(t.data as Float32Array | Uint16Array, f, out, 0, ...as4(t.shape));
    else if (t.data instanceof Uint16Array) this.addon.bf16ToF32(t.data, out);
    else out.set(t.data);
    return out;
  }

  kernel(op: KernelOp): Kernel {
    return kernelOf(this.kernels, op);
  }

  release(data: TensorData): void {
    if (data instanceof Float32Array || data instanceof Uint16Array) this.addon.releaseArray(data);
  }
}

/** Whether the addon loads here, and why not. */
export function nativeAvailable(): { ok: boolean; reason: string } {
  const { addon, reason } = tryLoadAddon();
  return { ok: !!addon, reason };
}

/** Whether this CPU runs oneDNN's bf16 kernels natively (AVX512_BF16 or AMX, as capped by ONEDNN_MAX_CPU_ISA). */
export function bf16Support(): { ok: boolean; reason: string } {
  const { addon, reason } = tryLoadAddon();
  if (!addon) return { ok: false, reason };
  const info = addon.info();
  if (info.bf16) return { ok: true, reason: '' };
  return { ok: false, reason: `this CPU has no native bf16 (oneDNN's effective ISA 0x${info.isa.toString(16)} lacks AVX512_BF16/AMX${process.env.ONEDNN_MAX_CPU_ISA ? `; ONEDNN_MAX_CPU_ISA=${process.env.ONEDNN_MAX_CPU_ISA}` : ''})` };
}

/** Whether oneDNN runs AVX-512 kernels here (false without the addon). */
function avx512(): boolean {
  const { addon } = tryLoadAddon();
  return !!addon && !!addon.info().avx512;
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
/** This machine's fp32 or bf16 peak GFLOP/s on the backend's threads (independent FMAs / dot products on
 *  registers); gflops 0 where the CPU lacks the instructions. */
export function measurePeak(bf16: boolean, iters?: number): { gflops: number; threads: number; isa: string } {
  return loadAddon().measurePeak({ bf16, iters });
}

export function benchConvRaw(opts: { n?: number; c?: number; o?: number; d?: number; h?: number; w?: number; k?: number; pad?: number; iters?: number; bias?: boolean; bf16?: boolean; nhwc?: boolean; winograd?: boolean }): ConvRawResult {
  return loadAddon().benchConvRaw(opts);
}
