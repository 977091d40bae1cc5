// PyTorch interchange: import a NestedUNet / UNet state_dict saved as safetensors (the names of
// DESIGN.md), and export our params as such a state_dict that PyTorch's load_state_dict takes
// (num_batches_tracked included, metadata as the peer's `export` writes it).
import { SegModel } from '../models/model.js';
import { perLevelText, type ModelConfig } from '../models/config.js';
import { readSafetensors, writeSafetensors, type SafetensorsFile, type TensorIn, type TensorOut } from './safetensors.js';
import { modelFromTensors } from './params-match.js';

const isCounter = (name: string) => name.endsWith('.num_batches_tracked');

/** Drops a DataParallel/DDP `module.` prefix (all names or none). */
function stripModule(tensors: Record<string, TensorOut>): Record<string, TensorOut> {
  const names = Object.keys(tensors);
  if (!names.length || !names.every((n) => n.startsWith('module.'))) return tensors;
  return Object.fromEntries(names.map((n) => [n.slice('module.'.length), tensors[n]]));
}

/**
 * The config a state_dict was made with: the metadata where present (peer format: arch,
 * filters "32,64,...", in_channels, classes, deep_supervision "True"/"False", dims "2"/"3",
 * norm "batch"/"instance"), else inferred from the tensor names and shapes (rank 5 conv
 * weights: volumes; norm weights without running statistics: instance norm).
 */
export function inferPyTorchConfig(file: SafetensorsFile, label = '<state_dict>'): Partial<ModelConfig> {
  const t = stripModule(file.tensors);
  const meta = file.metadata;
  const enc = Object.keys(t).map((n) => /^conv(\d+)_0\.conv1\.weight$/.exec(n)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1]));
  if (!enc.length) throw new Error(`${label}: not a UNet++/U-Net state_dict (no conv{i}_0.conv1.weight tensors)`);
  const L = Math.max(...enc);
  const filters: number[] = [];
  for (let i = 0; i <= L; i++) {
    const w = t[`conv${i}_0.conv1.weight`];
    if (!w) throw new Error(`${label}: encoder tensor conv${i}_0.conv1.weight is missing`);
    filters.push(w.shape[0]);
  }
  const heads = Object.keys(t).filter((n) => /^final\d*\.weight$/.test(n));
  const anyHead = heads.length ? t[heads[0]] : undefined;
  const cfg: Partial<ModelConfig> = {
    arch: t['conv0_1.conv1.weight'] ? 'unetpp' : 'unet',
    preset: t['conv0_0.bn1.weight'] ? 'bn' : 'paper',
    filters,
    inChannels: t['conv0_0.conv1.weight'].shape[1],
    classes: anyHead ? anyHead.shape[0] : 1,
    deepSupervision: !!t['final1.weight'] && !t['final.weight'] && heads.length > 1,
    dims: t['conv0_0.conv1.weight'].shape.length === 5 ? 3 : 2,
  };
  if (cfg.preset === 'bn') cfg.norm = t['conv0_0.bn1.running_mean'] ? 'batch' : 'instance';
  if (cfg.preset === 'paper') cfg.upsample = Object.keys(t).some((n) => /^up\d+_\d+\.weight$/.test(n)) ? 'transpose' : 'bilinear';
  // Metadata, when the writer gave it, wins over the inference (e.g. arch of a depth-1 model).
  if (meta.arch === 'unet' || meta.arch === 'unetpp') cfg.arch = meta.arch;
  if (meta.filters) cfg.filters = meta.filters.split(',').map(Number);
  if (meta.in_channels) cfg.inChannels = Number(meta.in_channels);
  if (meta.classes) cfg.classes = Number(meta.classes);
  if (meta.deep_supervision) cfg.deepSupervision = /^(true|1)$/i.test(meta.deep_supervision);
  if (meta.dims === '2' || meta.dims === '3') cfg.dims = Number(meta.dims) as 2 | 3;
  if (cfg.preset === 'bn' && (meta.norm === 'batch' || meta.norm === 'instance')) cfg.norm = meta.norm;
  // volumes: each level's conv kernel from its first conv's weight (e.g. 1x3x3; all 3 is the default network);
  // per-axis pooling leaves no trace in the weights: the metadata only
  if (cfg.dims === 3) cfg.kernels = filters.map((_, i) => t[`conv${i}_0.conv1.weight`].shape.slice(2));
  const levels = (v: string) => v.split(',').map((l) => l.split('x').map(Number));
  if (meta.kernels) cfg.kernels = levels(meta.kernels);
  if (meta.pools) cfg.pools = levels(meta.pools);
  if (cfg.arch === 'unet') cfg.deepSupervision = false;
  return cfg;
}

export interface ImportOptions {
  /** Overrides of the inferred config (e.g. multiclass, seed); the architecture must still match. */
  config?: Partial<ModelConfig>;
}

/** Imports a PyTorch state_dict (.safetensors path or an already read file) as a SegModel. */
export function importPyTorch(source: string | SafetensorsFile, opts: ImportOptions = {}): SegModel {
  const label = typeof source === 'string' ? source : '<state_dict>';
  const file = typeof source === 'string' ? readSafetensors(source) : source;
  const cfg = { ...inferPyTorchConfig(file, label), ...opts.config };
  const hint = ` (config: arch ${cfg.arch}, filters ${cfg.filters}, inChannels ${cfg.inChannels}, classes ${cfg.classes}, deepSupervision ${cfg.deepSupervision}, ` +
    `dims ${cfg.dims}${cfg.norm ? `, norm ${cfg.norm}` : ''}${cfg.pools ? `, pools ${perLevelText(cfg.pools)}` : ''}` +
    `${cfg.kernels?.some((k) => k.some((v) => v !== 3)) ? `, kernels ${perLevelText(cfg.kernels)}` : ''})`;
  return modelFromTensors(cfg, stripModule(file.tensors), label, isCounter, hint);
}

/** The state_dict tensors of a model: params as F32, a num_batches_tracked (I64, 0-d) per batch
 *  norm (instance norm has no running statistics, hence none). */
export function toStateDict(model: SegModel, numBatchesTracked = 0n): Record<string, TensorIn> {
  const out: Record<string, TensorIn> = {};
  for (const name of model.params.names()) {
    const p = model.params.get(name);
    out[name] = { dtype: 'F32', shape: [...p.shape], data: p.data };
    const bn = /^(.*\.bn\d+)\.running_var$/.exec(name);
    if (bn) out[`${bn[1]}.num_batches_tracked`] = { dtype: 'I64', shape: [], data: BigInt64Array.from([numBatchesTracked]) };
  }
  return out;
}

/** Metadata in the peer's format (what torch_unetpp.py `check` reads). */
export function pyTorchMetadata(cfg: ModelConfig): Record<string, string> {
  return {
    arch: cfg.arch,
    filters: cfg.filters.join(','),
    in_channels: String(cfg.inChannels),
    classes: String(cfg.classes),
    deep_supervision: cfg.deepSupervision ? 'True' : 'False',
    outputs: 'logits',
    upsample: cfg.upsample === 'bilinear' ? `${cfg.dims === 3 ? 'trilinear' : 'bilinear'} align_corners=True` : cfg.upsample,
    preset: cfg.preset,
    bn_eps: '1e-05',
    bn_momentum: '0.1',
    dims: String(cfg.dims),
    norm: cfg.norm,
    // volumes pooled or convolved per axis: DxHxW per level, as --pools / --kernels take them
    ...(cfg.pools ? { pools: perLevelText(cfg.pools) } : {}),
    ...(cfg.kernels ? { kernels: perLevelText(cfg.kernels) } : {}),
  };
}

/**
 * Writes the model as a PyTorch state_dict (.safetensors, atomically). A pruned model keeps its
 * names (conv{i}_{j} with i + j <= d and final{d}): load it into the full network with strict=False.
 */
export function exportPyTorch(path: string, model: SegModel, extraMeta: Record<string, string> = {}, numBatchesTracked = 0n): void {
  writeSafetensors(path, toStateDict(model, numBatchesTracked), { ...extraMeta, ...pyTorchMetadata(model.config) });
}
