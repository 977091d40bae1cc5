// A full CheckpointMeta from the facts at hand, the rest derived from the model config: for
// version 1 files, PyTorch weights with a partial sidecar, and runs that give no metadata.
import { readFileSync } from 'node:fs';
import type { ModelConfig } from '../models/config.js';
import { defaultLabelSpec, planeNames, type LabelSpec } from '../data/labels.js';
import { META_VERSION, type CheckpointMeta, type ImageInput, type Provenance, type VolumeInput } from './checkpoint-meta.js';

let version: string | undefined | null = null;

/** unetpp's package version (undefined when package.json cannot be read, e.g. bundled). */
export function unetppVersion(): string | undefined {
  if (version === null) {
    try {
      const pkg = new URL('../../../package.json', import.meta.url); // from dist/src/io
      version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
    } catch {
      version = undefined;
    }
  }
  return version;
}

/** Where a checkpoint comes from, stamped now. */
export function provenance(source: Provenance['source'], more: Omit<Provenance, 'source' | 'createdAt'> = {}): Provenance {
  const v = unetppVersion();
  return { source, createdAt: new Date().toISOString(), ...(v ? { unetpp: v } : {}), ...more };
}

/** What the outputs of a model without a dataset's spec mean (softmax K > 1: background first). */
export function defaultLabels(cfg: ModelConfig): LabelSpec {
  return defaultLabelSpec(cfg.classes, cfg.classes > 1 && cfg.multiclass === 'softmax');
}

/** Images: no normalisation, no resize. Volumes: modalities channel0.., z-score inside the foreground. */
export function defaultInput(cfg: ModelConfig): ImageInput | VolumeInput {
  if (cfg.dims === 2) return { kind: 'image', normalize: { kind: 'none' } };
  const n = cfg.inChannels;
  const modalities = Array.from({ length: n }, (_, k) => `channel${k}`);
  return { kind: 'volume', modalities, normalize: new Array(n).fill('mri'), ct: new Array(n).fill(null) };
}

/** The given fields over the derived ones: labels, class names (the label spec's), input, provenance. */
export function completeMeta(cfg: ModelConfig, given: Partial<CheckpointMeta>, source: Provenance['source']): CheckpointMeta {
  const labels = given.labels ?? defaultLabels(cfg);
  return {
    ...given,
    version: META_VERSION,
    model: cfg,
    input: given.input ?? defaultInput(cfg),
    labels,
    classNames: given.classNames ?? planeNames(labels),
    provenance: given.provenance ?? provenance(source),
  };
}
