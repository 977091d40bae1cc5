// Loads the oneDNN addon and types its exports: $UNETPP_NATIVE_PATH, else the package's own build
// (build/Release/unetpp_native.node, by scripts/build-native.mjs: -march=native, made only when no
// prebuilt one loads or when asked for), else the prebuilt platform package (unetpp-linux-x64-gnu).
// Loading is lazy and never throws at import time: callers ask loadAddon() and get the reason.
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { platformPackage } from './platform.js';

type F = Float32Array;
type Opt = Float32Array | null;
/** An activation: float32, or bf16 bits (the upper half of each float32) in a Uint16Array. */
type A = Float32Array | Uint16Array;

export interface ConvRawResult {
  fwdMs: number; bwdDataMs: number; bwdWeightsMs: number;
  /** GFLOP of one pass (the forward, or each backward pass). */
  gflop: number; threads: number;
  impl: { fwd: string; bwdData: string; bwdWeights: string };
}

/** How an op's activations are stored, passed with every call that depends on it: 'nhwc' (NHWC / NDHWC), or
 *  'blocked': those with a multiple of 16 channels as oneDNN's nChw16c / nCdhw16c, the others NHWC. */
export type ActLayout = 'nhwc' | 'blocked';

/** A convolution's geometry: x [n, c, ...size], weight [o, c, ...kernel] (transposed: [c, o, ...kernel]);
 *  size and kernel have 2 values for images, 3 for volumes (a volume's kernel per axis, e.g. [1, 3, 3]); pad one
 *  value for every axis or one per axis; layout: of x and y. */
export interface ConvGeometry {
  n: number; c: number; o: number; size: number[]; kernel: number[]; stride: number; pad: number | number[]; layout: ActLayout;
}

/** The addon's functions; argument orders are documented next to each in native/*.cc. */
export interface NativeAddon {
  setThreads(n: number): void;
  getThreads(): number;
  /** bf16 inference convs (conv_bn) through Winograd F(2x2, 3x3) where it takes them (native/winograd.h). */
  setWinograd(on: boolean): void;
  /** float32 3x3x3 volume convs through our Winograd F(2x2x2, 3x3x3) (native/winograd3d.h), for this thread:
   *  0 never, 1 where measured faster than oneDNN's direct conv (default; UNETPP_WINOGRAD3D), 2 every shape it can run. */
  setWinograd3d(mode: 0 | 1 | 2): void;
  /** Formats 0 nchw, 1 nhwc, 2 nChw16c; src and dst may differ in dtype (float32 -> bf16 rounds to nearest even). */
  reorderAct(src: A, srcFormat: number, dst: A, dstFormat: number, n: number, c: number, h: number, w: number): void;
  /** winograd3d: this build has native/winograd3d.cc's kernel (AVX-512 builds). */
  info(): { onednn: string; threads: number; isa: number; bf16: boolean; avx512: boolean; winograd3d: boolean };
  /** A zeroed, 64-byte aligned Float32Array (kind 0) or bf16 Uint16Array (kind 1) of n values. */
  alignedArray(kind: 0, n: number): Float32Array;
  alignedArray(kind: 1, n: number): Uint16Array;
  /** Gives malloc's free memory (every thread's arena) back to the system (malloc_trim); true if some was. */
  trimMemory(): boolean;
  /** Frees an alignedArray's memory now and detaches it (length 0 afterwards); false if it is not one. */
  releaseArray(a: Float32Array | Uint16Array): boolean;
  /** src and dst may differ in dtype: float32 -> bf16 rounds to nearest even. */
  nchwToNhwc(src: A, dst: A, n: number, c: number, h: number, w: number): void;
  nhwcToNchw(src: A, dst: A, n: number, c: number, h: number, w: number): void;
  /** Element-wise conversions (same length). */
  f32ToBf16(src: F, dst: Uint16Array): void;
  bf16ToF32(src: Uint16Array, dst: F): void;
  /** No NaN or Inf in x. */
  allFinite(x: A): boolean;
  /** Convolutions of images (2 sizes) and volumes (3 sizes; kernels per axis). xStride, yStride: values
   *  between images of a strided view (0: dense); the primitive then runs per image. */
  convFwd(x: A, w: F, b: Opt, y: A, geo: ConvGeometry, relu: boolean, xStride?: number, yStride?: number): void;
  /** Eval-mode conv + batch norm (+ ReLU) in one primitive; the folded weights live on `cache`. */
  convBnFwd(x: A, w: F, b: Opt, gamma: F, beta: F, rm: F, rv: F, y: A, geo: ConvGeometry, eps: number, relu: boolean,
            xStride: number, yStride: number, cache: object, frozen: boolean): void;
  convBwdData(dy: A, w: F, dx: A, geo: ConvGeometry): void;
  convBwdWeights(x: A, dy: A, dw: F, db: Opt, geo: ConvGeometry): void;
  /** Transposed convs: geo's c, o the in/out channels, kernel = stride = k, pad 0. */
  deconvFwd(x: A, w: F, b: Opt, y: A, geo: ConvGeometry, relu: boolean): void;
  deconvBwdData(dy: A, w: F, dx: A, geo: ConvGeometry): void;
  deconvBwdWeights(x: A, dy: A, dw: F, db: Opt, geo: ConvGeometry): void;
  /** Batch norm over [n, c, h, w] stored in `layout` (a volume as [n, c, d*h, w]). */
  bnWorkspaceBytes(n: number, c: number, h: number, w: number, eps: number, relu: boolean, layout: ActLayout, bf16?: boolean): number;
  bnFwdTrain(x: A, gamma: F, beta: F, y: A, mean: F, variance: F, ws: Uint8Array | null, n: number, c: number, h: number, w: number,
             eps: number, relu: boolean, layout: ActLayout): void;
  bnFwdEval(x: A, gamma: F, beta: F, rm: F, rv: F, y: A, n: number, c: number, h: number, w: number, eps: number, relu: boolean,
            layout: ActLayout): void;
  bnBwdTrain(x: A, gamma: F, mean: F, variance: F, dy: A, ws: Uint8Array | null, dx: A, dgamma: F, dbeta: F, n: number, c: number,
             h: number, w: number, eps: number, relu: boolean, layout: ActLayout): void;
  /** NHWC only: a blocked layout with a multiple of 16 channels is refused. */
  bnBwdEval(x: A, gamma: F, rm: F, rv: F, dy: A, y: A, dx: A, dgamma: F, dbeta: F, n: number, c: number, h: number, w: number,
            eps: number, relu: boolean, layout: ActLayout): void;
  bnUpdateRunning(rm: F, rv: F, mean: F, variance: F, momentum: number, count: number): void;
  /** Spatial kernels over m images of [...size][c] (size: [h, w] or [d, h, w]; blocked: m = N*C/16, c = 16): pooling
   *  and up-sampling of images (x2 on both axes) and volumes. factors, volumes only: [fd, fh, fw], each 1 or 2
   *  (undefined: [2, 2, 2]); a factor of 1 leaves that axis as it is. Pooled sides are floor(s / f), up-sampled ones
   *  s * f. groups, xStride (images only): x's m images in `groups` equal groups, each at xStride values from the
   *  last (a strided view). */
  maxpoolFwd(x: A, y: A, m: number, c: number, size: number[], groups?: number, xStride?: number,
             factors?: number[]): void;
  maxpoolBwd(x: A, dy: A, dx: A, m: number, c: number, size: number[], factors?: number[]): void;
  upsampleFwd(x: A, y: A, m: number, c: number, size: number[], nearest: boolean, alignCorners: boolean,
              factors?: number[]): void;
  upsampleBwd(dy: A, dx: A, m: number, c: number, size: number[], nearest: boolean, alignCorners: boolean,
              factors?: number[]): void;
  /** y = concat(xs, upsample2x(x)) over channels in one pass (concat_up); n, c, size: x's logical shape.
   *  Blocked images only: inPlace, y's first channels already holding the parts (xs empty then);
   *  yStride, xStride: strided views. Volumes: factors as upsampleFwd's (xs and y have size times factors). */
  concatUpFwd(xs: A[], x: A, y: A, n: number, c: number, size: number[], nearest: boolean, alignCorners: boolean,
              layout: ActLayout, inPlace?: number, yStride?: number, xStride?: number, factors?: number[]): void;
  /** concat_up's gradients in one pass over dy: dxs its leading channels, dx from its last c channels (read in place). */
  concatUpBwd(dy: A, dxs: A[], dx: A, n: number, c: number, size: number[], nearest: boolean, alignCorners: boolean,
              layout: ActLayout, factors?: number[]): void;
  /** Instance norm over s spatial positions per image; mean and rstd [n*c] are written for the backward. */
  instnormFwd(x: A, gamma: F, beta: F, y: A, mean: F, rstd: F, n: number, c: number, s: number, eps: number, relu: boolean,
              layout: ActLayout): void;
  instnormBwd(x: A, gamma: F, mean: F, rstd: F, dy: A, y: A, dx: A, dgamma: F, dbeta: F, n: number, c: number, s: number,
              relu: boolean, layout: ActLayout): void;
  /** kind: 0 relu, 1 leaky_relu, 2 sigmoid, 3 scale (alpha = s). */
  unary(kind: number, x: A, y: A, alpha: number): void;
  /** kind: 0 relu (saved = y), 1 leaky_relu (saved = x), 2 sigmoid (saved = y). */
  unaryGrad(kind: number, saved: A, dy: A, dx: A, alpha: number): void;
  /** kind: 0 add, 1 mul. */
  binary(kind: number, a: A, b: A, y: A): void;
  addN(xs: A[], y: A): void;
  meanAll(x: A, out: F): void;
  fill(y: A, value: number): void;
  softmax(x: A, y: A, channels: number): void;
  softmaxGrad(y: A, dy: A, dx: A, channels: number): void;
  dropout(x: A, y: A, p: number, seed: number, step: number, n: number, c: number, h: number, w: number, nhwc: boolean): void;
  /** Channel counts follow from the lengths (pixels = N*H*W). */
  concat(xs: A[], y: A, pixels: number): void;
  /** The inverse of concat; channel counts follow from the lengths. */
  splitChannels(dy: A, dxs: A[], pixels: number): void;
  /** kind: 0 bce, 1 dice, 2 bce_dice, 3 ce, 4 ce_dice; diceFlags: bit 0 background out of the Dice mean, bit 1 batch Dice. */
  loss(z: A, t: A, out: F, kind: number, bceWeight: number, n: number, k: number, h: number, w: number,
    diceFlags?: number): void;
  lossGrad(z: A, t: A, dy: F, dz: A, kind: number, bceWeight: number, n: number, k: number, h: number, w: number,
    diceFlags?: number): void;
  adamStep(param: F, grad: F, m: F, v: F, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
  sgdStep(param: F, grad: F, buf: F, lr: number, momentum: number, weightDecay: number, step: number, dampening: number, nesterov: boolean): void;
  /** The arithmetic peak on the addon's threads (register-only loop; native/peak.cc); gflops 0 without the ISA. */
  measurePeak(opts: { bf16?: boolean; iters?: number }): { gflops: number; threads: number; isa: string };
  benchConvRaw(opts: { n?: number; c?: number; o?: number; d?: number; h?: number; w?: number; k?: number; pad?: number; iters?: number; bias?: boolean; bf16?: boolean; nhwc?: boolean; winograd?: boolean }): ConvRawResult;
}

const FILE = join('build', 'Release', 'unetpp_native.node');
export const NATIVE_FIX = 'apt-get install -y libdnnl-dev, then node scripts/build-native.mjs in the unetpp package';

/** Where the addon came from: the environment's path, a build from source, or the prebuilt package. */
export type AddonSource = 'env' | 'source-build' | 'prebuilt';
interface Candidate { path: string; source: AddonSource; label: string }

/** The package root's build/Release/unetpp_native.node, found by walking up from this file. */
function localBuild(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, FILE);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The platform package's addon, resolved as an import of this package would resolve it. */
function prebuilt(): Candidate | null {
  const pkg = platformPackage();
  if (!pkg) return null;
  try {
    const json = createRequire(import.meta.url).resolve(`${pkg.name}/package.json`);
    return { path: join(dirname(json), 'unetpp_native.node'), source: 'prebuilt', label: pkg.name };
  } catch {
    return null;
  }
}

function candidates(): Candidate[] {
  const env = process.env.UNETPP_NATIVE_PATH;
  if (env) return [{ path: env, source: 'env', label: `UNETPP_NATIVE_PATH=${env}` }];
  const local = localBuild();
  const pre = prebuilt();
  return [...(local ? [{ path: local, source: 'source-build' as const, label: local }] : []), ...(pre ? [pre] : [])];
}

export interface AddonLoad {
  addon: NativeAddon | null;
  /** Why it is null ('' when loaded). */
  reason: string;
  /** Which addon loaded (path or package), when one did. */
  source?: AddonSource;
  from?: string;
}

let cached: AddonLoad | undefined;

/** The addon, or null with the reason it cannot be used. Loaded once per process. */
export function tryLoadAddon(): AddonLoad {
  if (cached) return cached;
  // OpenMP's wait policy is left to the user (libgomp reads OMP_WAIT_POLICY when the addon
  // loads). Measured on 2 cores: passive is ~15-40% faster per training step while another
  // process holds a core, but ~3% slower on a quiet machine, so spinning stays the default.
  // In a worker thread: libgomp crashes (SIGSEGV in one of its pool threads, 6 exits in 10 here)
  // when a thread that ran OpenMP regions exits while its pool threads spin; passive waiting
  // avoids it (0 in 10). libgomp reads the policy once per process, from the real environment.
  if (!isMainThread && !/^passive$/i.test(process.env.OMP_WAIT_POLICY ?? ''))
    process.emitWarning('the native backend in a worker thread needs OMP_WAIT_POLICY=passive in the environment the process starts with; ' +
      'without it the process may crash when the worker exits (docs/engine.md, "Worker threads")', { code: 'UNETPP_OMP_WORKER' });
  const pkg = platformPackage();
  const failures: string[] = [];
  for (const c of candidates()) {
    try {
      cached = { addon: createRequire(import.meta.url)(c.path) as NativeAddon, reason: '', source: c.source, from: c.label };
      return cached;
    } catch (e) {
      failures.push(`${c.label} failed to load: ${String((e as Error).message).split('\n')[0]}`);
    }
  }
  const none = `native addon not built (${FILE} missing${pkg ? `, no ${pkg.name} package` : ''})`;
  cached = { addon: null, reason: failures.length ? `native addon ${failures.join('; ')}` : none };
  return cached;
}

/** The addon; throws an Error naming the reason and the fix when it is unavailable. */
export function loadAddon(): NativeAddon {
  const { addon, reason } = tryLoadAddon();
  if (!addon) throw new Error(`${reason}; fix: ${NATIVE_FIX}`);
  return addon;
}
