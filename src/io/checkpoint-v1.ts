// Version 1 checkpoints (written before CheckpointMeta): loose string keys in the safetensors
// metadata. config (JSON), normalize (JSON), classNames (JSON), inputSize ("HxW" or "N"),
// volumePipeline (JSON), patch ("DxHxW"), epoch and the monitored metric. Only the training's
// end wrote the preprocessing keys, so a file without them is from a run that had not ended.
// Whatever is missing is derived as for any model (meta-defaults.ts).
import { makeConfig, type ModelConfig } from '../models/config.js';
import type { Normalize } from '../data/images/transforms.js';
import type { LabelSpec } from '../data/labels.js';
import type { CheckpointMeta, TrainingRecord, VolumeInput } from './checkpoint-meta.js';
import { completeMeta } from './meta-defaults.js';
import { validateMeta } from './meta-validate.js';

/** The metadata keys a version 1 file used (not carried over as extras). */
export const V1_KEYS = [
  'format', 'version', 'config', 'normalize', 'classNames', 'inputSize', 'volumePipeline', 'patch', 'epoch', 'iou', 'dice', 'loss',
];

interface V1Pipeline extends Omit<VolumeInput, 'kind'> { labels?: LabelSpec; classNames?: string[] }

export function upgradeV1(metadata: Record<string, string>, file = '<metadata>'): CheckpointMeta {
  const bad = (key: string, why: string): never => { throw new Error(`${file}: version 1 metadata "${key}": ${why}`); };
  const json = <T>(key: string): T | undefined => {
    if (metadata[key] === undefined) return undefined;
    try { return JSON.parse(metadata[key]) as T; } catch (e) { return bad(key, `not valid JSON (${(e as Error).message})`); }
  };
  const raw = json<Partial<ModelConfig>>('config');
  if (!raw) return bad('config', 'missing: not a unetpp checkpoint');
  let cfg: ModelConfig;
  try { cfg = makeConfig(raw); } catch (e) { return bad('config', (e as Error).message); }

  const given: Partial<CheckpointMeta> = {};
  const pipeline = json<V1Pipeline>('volumePipeline');
  if (pipeline) {
    const { modalities, normalize, ct, spacing, cropToNonzero } = pipeline;
    given.input = {
      kind: 'volume', modalities, normalize, ct, ...(spacing ? { spacing } : {}), ...(cropToNonzero !== undefined ? { cropToNonzero } : {}),
    };
    if (pipeline.labels) given.labels = pipeline.labels;
  } else if (cfg.dims === 2) {
    const size = metadata.inputSize === undefined ? undefined : /^(\d+)(?:x(\d+))?$/.exec(metadata.inputSize);
    if (metadata.inputSize !== undefined && !size) bad('inputSize', `"${metadata.inputSize}" is not N or HxW`);
    given.input = {
      kind: 'image', normalize: json<Normalize>('normalize') ?? { kind: 'none' },
      ...(size ? { resize: [Number(size[1]), Number(size[2] ?? size[1])] as [number, number] } : {}),
    };
  }
  const names = json<string[]>('classNames') ?? pipeline?.classNames;
  if (names && names.length === cfg.classes) given.classNames = names;
  if (metadata.patch !== undefined) {
    const p = /^(\d+)x(\d+)x(\d+)$/.exec(metadata.patch);
    if (!p) bad('patch', `"${metadata.patch}" is not DxHxW`);
    if (cfg.dims === 3) given.window = p!.slice(1).map(Number);
  }
  if (metadata.epoch !== undefined) {
    const ended = ['normalize', 'classNames', 'volumePipeline'].some((k) => k in metadata);
    const training: TrainingRecord = { epoch: Number(metadata.epoch), status: ended ? 'finished' : 'running' };
    for (const m of ['iou', 'dice', 'loss'] as const) {
      if (metadata[m] === undefined || !Number.isFinite(Number(metadata[m]))) continue;
      training.monitor = m;
      training.value = Number(metadata[m]);
    }
    given.training = training;
  }
  given.provenance = { source: 'legacy', createdAt: 'unknown' };
  return validateMeta(completeMeta(cfg, given, 'legacy'), `${file} (version 1)`);
}
