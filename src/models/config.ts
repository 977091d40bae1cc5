// Model configurations: the two presets of DESIGN.md (paper = official Keras UNet++, bn =
// PyTorch NestedUNet) and the baselines, with validation that names the option at fault.

export type Arch = 'unetpp' | 'unet';
export type Preset = 'bn' | 'paper';
export type UpsampleKind = 'bilinear' | 'nearest' | 'transpose';
export type NormKind = 'batch' | 'instance';

export interface ModelConfig {
  arch: Arch;
  preset: Preset;
  /** Filters per level, top to bottom; depth L = filters.length - 1. */
  filters: number[];
  inChannels: number;
  /** 1 = one sigmoid map; > 1 = K maps (softmax or per-class sigmoid). */
  classes: number;
  /** A 1x1 head on every top node X(0,1..L) (UNet++ only). */
  deepSupervision: boolean;
  upsample: UpsampleKind;
  /** Probabilities of several classes: softmax over classes or a sigmoid each. */
  multiclass: 'softmax' | 'sigmoid';
  /** Dropout after each conv of the paper preset (0.5 in the official code). */
  dropout: number;
  /** Pruned UNet++ L^level: nodes i + j <= level and head `level`. Default: the full depth. */
  level?: number;
  /** Seed of the dropout masks. */
  seed: number;
  /** 2: images [N,C,H,W] (3x3 convs); 3: volumes [N,C,D,H,W] (3x3x3 convs or `kernels`, same weight names). */
  dims: 2 | 3;
  /** Volumes: pooling factor per level (level i -> i + 1) and axis [D, H, W], 1 or 2; absent: 2 everywhere.
   *  An anisotropic volume (thick slices) pools its fine axes first, as nnU-Net's plans; the weights
   *  are the same as with isotropic pooling. */
  pools?: number[][];
  /** Volumes: conv kernel per level (0..depth: both convs of every node X(i,j) of level i) and axis [D, H, W], 1 or 3;
   *  absent: 3 everywhere. Thick slices get 1x3x3 on the levels where the slices are still much thicker than the
   *  pixels, as nnU-Net's plans. Padding (k-1)/2 per axis keeps sizes; weights [O, C, kd, kh, kw]; heads stay 1x1x1. */
  kernels?: number[][];
  /** The bn preset's normalisation: batch norm (2D default) or instance norm (3D default, as
   *  nnU-Net and MONAI for batches of 1-2; no running statistics). The paper preset has none. */
  norm: NormKind;
}

export const DEFAULT_FILTERS = [32, 64, 128, 256, 512];
export const WIDE_UNET_FILTERS = [35, 70, 140, 280, 560];

export function makeConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  const preset = partial.preset ?? 'bn';
  const dims = partial.dims ?? 2;
  const cfg: ModelConfig = {
    arch: 'unetpp',
    preset,
    filters: DEFAULT_FILTERS,
    inChannels: 3,
    classes: 1,
    deepSupervision: false,
    upsample: preset === 'paper' ? 'transpose' : 'bilinear',
    multiclass: 'softmax',
    dropout: preset === 'paper' ? 0.5 : 0,
    seed: 0,
    dims,
    norm: preset === 'bn' && dims === 3 ? 'instance' : 'batch',
    ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)),
  };
  validateConfig(cfg);
  // isotropic pools are the default: one spelling of one network (checkpoints, plans, caches)
  if (cfg.pools?.every((f) => f.every((v) => v === 2))) delete cfg.pools;
  if (cfg.kernels?.every((k) => k.every((v) => v === 3))) delete cfg.kernels;
  return cfg;
}

export function depthOf(cfg: ModelConfig): number {
  return cfg.filters.length - 1;
}

/** Pooling factors per level transition and spatial axis (2 everywhere unless pools says otherwise). */
export function poolsOf(cfg: ModelConfig): number[][] {
  return cfg.pools ?? Array.from({ length: depthOf(cfg) }, () => new Array<number>(cfg.dims).fill(2));
}

/** Conv kernel per level (0..depth) and spatial axis (3 everywhere unless kernels says otherwise). */
export function kernelsOf(cfg: ModelConfig): number[][] {
  return cfg.kernels ?? Array.from({ length: depthOf(cfg) + 1 }, () => new Array<number>(cfg.dims).fill(3));
}

/** "1x3x3,1x3x3,3x3x3": factors or kernels per level, as --pools and --kernels take them. */
export const perLevelText = (levels: readonly (readonly number[])[]) => levels.map((l) => l.join('x')).join(',');

/** What every input side must be a multiple of, per spatial axis: the product of the pooling factors down
 *  to `level` (default the built depth); 2^level on every axis without per-axis pools. */
export function sizeMultiple(cfg: ModelConfig, level = levelOf(cfg)): number[] {
  return poolsOf(cfg).slice(0, level).reduce((m, f) => m.map((v, k) => v * f[k]), new Array<number>(cfg.dims).fill(1));
}

/** "8" when every axis has the same multiple, else "2x8x8". */
export const multipleText = (m: readonly number[]) => (new Set(m).size === 1 ? String(m[0]) : m.join('x'));

/** The depth actually built: the pruning level, else the full depth. */
export function levelOf(cfg: ModelConfig): number {
  return cfg.level ?? depthOf(cfg);
}

export function validateConfig(cfg: ModelConfig): void {
  const bad = (opt: string, msg: string): never => { throw new Error(`model option ${opt}: ${msg}`); };
  if (!['unetpp', 'unet'].includes(cfg.arch)) bad('arch', `'${cfg.arch}' is not unetpp or unet`);
  if (!['bn', 'paper'].includes(cfg.preset)) bad('preset', `'${cfg.preset}' is not bn or paper`);
  if (!Array.isArray(cfg.filters) || cfg.filters.length < 2 || cfg.filters.length > 7)
    bad('filters', `needs 2 to 7 levels (depth 1 to 6), got ${JSON.stringify(cfg.filters)}`);
  if (cfg.filters.some((f) => !Number.isInteger(f) || f < 1)) bad('filters', `must be positive integers, got ${cfg.filters}`);
  if (!Number.isInteger(cfg.inChannels) || cfg.inChannels < 1) bad('inChannels', `must be a positive integer, got ${cfg.inChannels}`);
  if (!Number.isInteger(cfg.classes) || cfg.classes < 1) bad('classes', `must be a positive integer, got ${cfg.classes}`);
  if (!['bilinear', 'nearest', 'transpose'].includes(cfg.upsample)) bad('upsample', `'${cfg.upsample}' is not bilinear, nearest or transpose`);
  if (cfg.dims !== 2 && cfg.dims !== 3) bad('dims', `must be 2 (images) or 3 (volumes), got ${String(cfg.dims)}`);
  if (!['batch', 'instance'].includes(cfg.norm)) bad('norm', `'${cfg.norm}' is not batch or instance`);
  if (cfg.preset === 'paper' && cfg.norm !== 'batch') bad('norm', `the paper preset has no normalisation layers; '${cfg.norm}' needs preset bn`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) bad('dropout', `must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.arch === 'unet' && cfg.deepSupervision) bad('deepSupervision', 'U-Net has one head; deep supervision is for UNet++');
  if (cfg.pools !== undefined) {
    const p = cfg.pools, L = depthOf(cfg);
    if (!Array.isArray(p) || p.length !== L || p.some((f) => !Array.isArray(f) || f.length !== cfg.dims || f.some((v) => v !== 1 && v !== 2)))
      bad('pools', `needs ${L} levels (one per pooling) of ${cfg.dims} factors of 1 or 2, got ${JSON.stringify(p)}`);
    if (p.some((f) => f.every((v) => v === 1))) bad('pools', `every level must pool at least one axis, got ${JSON.stringify(p)}`);
    const anisotropic = p.some((f) => f.some((v) => v !== 2));
    if (anisotropic && cfg.dims !== 3) bad('pools', 'per-axis pooling is for volumes (dims 3)');
    if (anisotropic && cfg.upsample === 'transpose') bad('pools', 'per-axis pooling needs upsample bilinear or nearest, not transpose');
  }
  if (cfg.kernels !== undefined) {
    const k = cfg.kernels, L = depthOf(cfg);
    if (!Array.isArray(k) || k.length !== L + 1 || k.some((l) => !Array.isArray(l) || l.length !== cfg.dims || l.some((v) => v !== 1 && v !== 3)))
      bad('kernels', `needs ${L + 1} levels (0..${L}, one per level of filters) of ${cfg.dims} sizes of 1 or 3, got ${JSON.stringify(k)}`);
    if (k.some((l) => l.some((v) => v !== 3)) && cfg.dims !== 3) bad('kernels', 'per-axis kernels are for volumes (dims 3)');
  }
  if (cfg.level !== undefined) {
    if (!Number.isInteger(cfg.level) || cfg.level < 1 || cfg.level > depthOf(cfg))
      bad('level', `must be 1..${depthOf(cfg)}, got ${cfg.level}`);
    if (cfg.arch !== 'unetpp') bad('level', 'pruning applies to UNet++ only');
  }
}
