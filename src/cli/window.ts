// The one rule for training patches (--patch, --crop) and prediction windows (--tile): every side
// a multiple of 2^depth (instance norm also needs a side above 2^depth). Volumes smaller than a
// patch or window are padded, so the size never has to fit the data; errors name the flag and
// propose the nearest valid sizes below and above.
import { CliError } from './common.js';
import { inputSizeRule } from '../models/build.js';
import { levelOf, multipleText, type ModelConfig } from '../models/config.js';

const xs = (s: readonly number[]) => s.join('x');

/** Throws a CliError naming flag when sizes break the rule. */
export function checkWindowFlag(flag: string, sizes: readonly number[], cfg: ModelConfig): void {
  const r = inputSizeRule(cfg, sizes);
  if (r.ok) return;
  const depth = levelOf(cfg), m = multipleText(r.multiple);
  const why = cfg.level === undefined ? `depth ${depth} (${cfg.filters.length} --filters)`
    : `the pruned depth ${depth} (--level)`;
  const lone = sizes.every((s, k) => s === r.multiple[k]) ? `, and with instance norm not every side ${m}` : '';
  const near = xs(r.down) === xs(r.up) ? xs(r.up) : `${xs(r.down)} or ${xs(r.up)}`;
  const padded = flag === '--crop' || sizes.length !== 3 ? '' : ' (volumes smaller than it are padded)';
  const rule = cfg.pools ? `a multiple of ${m} (the pooling factors per axis)` : `a multiple of 2^${depth} = ${m}`;
  throw new CliError(`${flag} ${xs(sizes)}: every side must be ${rule} for ${why}${lone}: use ${near}${padded}`);
}

/** The default volume patch: 64 per axis, raised to the rule's nearest valid size for deep models. */
export function defaultPatch(cfg: ModelConfig): [number, number, number] {
  const r = inputSizeRule(cfg, [64, 64, 64]);
  return (r.ok ? [64, 64, 64] : r.up) as [number, number, number];
}

/** --tile of predict and eval: N, HxW or DxHxW for the model's rank (pruned to --level when given). */
export function checkTileFlag(tile: number[] | undefined, cfg: ModelConfig, level?: number): void {
  if (!tile) return;
  const rank = cfg.dims;
  if (tile.length !== 1 && tile.length !== rank)
    throw new CliError(`--tile ${xs(tile)}: ${tile.length} sizes for a ${rank}D model: give N or ` +
      (rank === 3 ? 'DxHxW' : 'HxW'));
  const sides = tile.length === 1 ? new Array<number>(rank).fill(tile[0]) : tile;
  checkWindowFlag('--tile', sides, level === undefined ? cfg : { ...cfg, level });
}
