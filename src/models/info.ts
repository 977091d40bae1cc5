// Architecture summary for `unetpp info`: per block its channels, params and output size, and
// the cost (conv and transposed-conv MACs x 2, exact for any kernel: output positions x weight size) per image (volume, with dims 3) and per pixel
// (voxel) of the full model and of every pruned UNet++ L^d, read off the same graph the engine runs.
import { Graph, paramName, type Node } from '../engine/graph.js';
import { makeConfig, depthOf, levelOf, perLevelText, sizeMultiple, type ModelConfig } from './config.js';
import { SegModel } from './model.js';
import { checkInputSize } from './build.js';

export interface BlockInfo {
  /** conv{i}_{j}, up{i}_{j} (transposed conv) or a head final* */
  node: string;
  inChannels: number;
  outChannels: number;
  params: number;
  /** [H, W] (or [D, H, W]) of the block's output */
  outputSize: number[];
  gflops: number;
}

export interface LevelInfo {
  /** Pruned UNet++ L^level (equivalently the cost of fast mode reading head `level`). */
  level: number;
  params: number;
  gflops: number;
  /** Forward FLOP per input pixel (voxel). */
  flopsPerVoxel: number;
}

export interface ModelInfo {
  config: ModelConfig;
  /** Side of the square image (cubic volume); the first side when the sides differ. */
  size: number;
  /** Sides of the input, [H, W] or [D, H, W]. */
  sides: number[];
  /** Pixels (voxels) per input: the product of the sides. */
  voxels: number;
  params: number;
  heads: string[];
  blocks: BlockInfo[];
  /** Forward GFLOP per image or volume (multiply-adds counted as 2). */
  gflops: number;
  /** Forward FLOP per input pixel (voxel). */
  flopsPerVoxel: number;
  /** Training step estimate: forward + grad input + grad weight, about 3x forward. */
  trainGflops: number;
  /** UNet++ only: every pruning level, 1..L. */
  levels: LevelInfo[];
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function macs(n: Node): number {
  const w = n.inputs[1].shape; // conv [O,C,k..], transposed conv [Cin,Cout,k..]: the same product
  if (n.op === 'conv') return prod(n.shapes[0].slice(2)) * prod(w); // once per output position
  if (n.op === 'conv_transpose') return prod(n.inputs[0].shape.slice(2)) * prod(w); // once per input position
  return 0;
}

function analyse(cfg: ModelConfig, sides: number[]): { params: number; heads: string[]; blocks: BlockInfo[]; gflops: number } {
  const model = new SegModel(cfg);
  const g = new Graph();
  const heads = model.forward(g, g.input('x', [1, cfg.inChannels, ...sides]), { training: false });
  // Only what the outputs need (the graph is the pruned one already when cfg.level is set).
  void heads;
  const blocks = new Map<string, BlockInfo>();
  let total = 0;
  for (const n of g.nodes) {
    if (n.op !== 'conv' && n.op !== 'conv_transpose') continue;
    const block = paramName(n.inputs[1]).split('.')[0];
    const flops = (2 * macs(n)) / 1e9;
    total += flops;
    const outCh = n.shapes[0][1];
    const b = blocks.get(block);
    const outputSize = n.shapes[0].slice(2);
    if (!b) blocks.set(block, { node: block, inChannels: n.inputs[0].shape[1], outChannels: outCh, params: 0, outputSize, gflops: flops });
    else { b.outChannels = outCh; b.outputSize = outputSize; b.gflops += flops; }
  }
  for (const name of model.params.trainableNames()) {
    const b = blocks.get(name.split('.')[0]);
    if (b) b.params += model.params.get(name).data.length;
  }
  return { params: model.params.count(), heads: model.headNames(), blocks: [...blocks.values()], gflops: total };
}

/** The architecture table and costs of `config` at input size `size` on every side (default 96), or sides per axis. */
export function describeModel(config: Partial<ModelConfig>, opts: { size?: number | number[] } = {}): ModelInfo {
  const cfg = makeConfig(config);
  const given = opts.size ?? 96;
  const sides = Array.isArray(given) ? [...given] : new Array<number>(cfg.dims).fill(given);
  if (sides.length !== cfg.dims) throw new Error(`size ${sides.join('x')}: ${sides.length} sides for a ${cfg.dims}D model`);
  const ms = sizeMultiple(cfg);
  for (const [k, s] of sides.entries())
    if (!Number.isInteger(s) || s < ms[k] || s % ms[k])
      throw new Error(`size ${s} must be a positive multiple of ${cfg.pools ? ms[k] : `2^${levelOf(cfg)} = ${ms[k]}`}`);
  checkInputSize(cfg, ...sides);
  const size = sides[0];
  const full = analyse(cfg, sides);
  const voxels = prod(sides);
  const levels: LevelInfo[] = [];
  if (cfg.arch === 'unetpp') {
    for (let d = 1; d <= (cfg.level ?? depthOf(cfg)); d++) {
      const a = d === levelOf(cfg) && !cfg.deepSupervision ? full : analyse({ ...cfg, level: d, deepSupervision: true }, sides);
      levels.push({ level: d, params: a.params, gflops: a.gflops, flopsPerVoxel: (a.gflops * 1e9) / voxels });
    }
  }
  return { config: cfg, size, sides, voxels, params: full.params, heads: full.heads, blocks: full.blocks, gflops: full.gflops,
    flopsPerVoxel: (full.gflops * 1e9) / voxels, trainGflops: 3 * full.gflops, levels };
}

const pad = (s: string | number, n: number, right = false) => (right ? String(s).padEnd(n) : String(s).padStart(n));
const thousands = (n: number) => n.toLocaleString('en-US');

/** Plain-text rendering of describeModel's result. */
export function formatInfo(info: ModelInfo): string {
  const c = info.config;
  const lines: string[] = [];
  const name = c.arch === 'unet' ? 'U-Net' : `UNet++ L${levelOf(c)}${c.level !== undefined ? ' (pruned)' : ''}`;
  const vol = c.dims === 3;
  const sides = (s: number[]) => s.join('x');
  // per-axis pooling and kernels only where the model has them (volumes: DxHxW per level)
  const perAxis = (c.pools ? `, pools ${perLevelText(c.pools)}` : '') + (c.kernels ? `, kernels ${perLevelText(c.kernels)}` : '');
  lines.push(`${vol ? '3D ' : ''}${name}, preset ${c.preset}, filters ${c.filters.join(',')}${perAxis}, ${c.inChannels} in, ` +
    `${c.classes} class${c.classes > 1 ? 'es' : ''}, heads ${info.heads.join(',')}, up-sampling ${c.upsample}` +
    `${c.preset === 'bn' && (vol || c.norm !== 'batch') ? `, ${c.norm} norm` : ''}`);
  lines.push(`input ${sides(info.sides)}: ${thousands(info.params)} params, ${info.gflops.toFixed(2)} GFLOP per ${vol ? 'volume' : 'image'} forward ` +
    `(~${info.trainGflops.toFixed(1)} per training step)${vol ? `, ${(info.flopsPerVoxel / 1e3).toFixed(1)} kFLOP per voxel` : ''}`);
  lines.push('');
  const w = Math.max(4, ...info.blocks.map((b) => b.node.length));
  const ow = vol ? 12 : 9;
  lines.push(`${pad('node', w, true)}  ${pad('in', 5)}  ${pad('out', 5)}  ${pad('params', 10)}  ${pad('output', ow)}  ${pad('GFLOP', 7)}`);
  for (const b of info.blocks)
    lines.push(`${pad(b.node, w, true)}  ${pad(b.inChannels, 5)}  ${pad(b.outChannels, 5)}  ${pad(thousands(b.params), 10)}  ${pad(sides(b.outputSize), ow)}  ${pad(b.gflops.toFixed(3), 7)}`);
  if (info.levels.length) {
    lines.push('');
    // Volumes also get the cost per voxel, which does not depend on --size (no padding): what patch sizes scale by.
    const perVoxel = (l: LevelInfo) => (vol ? `  ${pad((l.flopsPerVoxel / 1e3).toFixed(1), 12)}` : '');
    lines.push(`${pad('pruned', 7, true)}  ${pad('params', 10)}  ${pad('GFLOP', 7)}${vol ? `  ${pad('kFLOP/voxel', 12)}` : ''}  (fast mode on head d costs the same as L^d)`);
    for (const l of info.levels) lines.push(`${pad(`L${l.level}`, 7, true)}  ${pad(thousands(l.params), 10)}  ${pad(l.gflops.toFixed(3), 7)}${perVoxel(l)}`);
  }
  return lines.join('\n');
}
