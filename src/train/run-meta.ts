// The meta a training run writes into best and last, built before the first epoch from what the
// run knows: images (normalisation, the size they were resized to, class names) or volumes (the
// input pipeline, labels, the patch as the default window), and where the run came from.
import type { ModelConfig } from '../models/config.js';
import type { Normalize } from '../data/images/transforms.js';
import { planeNames } from '../data/labels.js';
import type { VolumePipeline } from '../data/volumes/volume-dataset.js';
import type { CheckpointMeta, Provenance } from '../io/checkpoint-meta.js';
import { completeMeta, defaultLabels, provenance } from '../io/meta-defaults.js';

export type RunMeta = Omit<CheckpointMeta, 'training'>;
export interface RunOrigin { source: 'train' | 'cv'; dataset?: string; command?: string[] }

const origin = (o: RunOrigin): Provenance =>
  provenance(o.source, { ...(o.dataset ? { dataset: o.dataset } : {}), ...(o.command ? { command: o.command } : {}) });

/** 2D: the dataset's class names when there is one per output, else the label spec's. */
export interface ImageRun extends RunOrigin { normalize: Normalize; resize?: [number, number]; classNames?: string[] }

export function imageRunMeta(cfg: ModelConfig, o: ImageRun): RunMeta {
  const labels = defaultLabels(cfg);
  return completeMeta(cfg, {
    input: { kind: 'image', normalize: o.normalize, ...(o.resize ? { resize: o.resize } : {}) },
    labels, classNames: o.classNames?.length === cfg.classes ? o.classNames : planeNames(labels), provenance: origin(o),
  }, o.source);
}

/** 3D: the pipeline volumes were prepared with, their labels, and the training patch as the window. */
export function volumeRunMeta(cfg: ModelConfig, p: VolumePipeline, patch: number[], o: RunOrigin): RunMeta {
  return completeMeta(cfg, {
    input: {
      kind: 'volume', modalities: p.modalities, normalize: p.normalize, ct: p.ct,
      ...(p.spacing ? { spacing: p.spacing } : {}), ...(p.cropToNonzero !== undefined ? { cropToNonzero: p.cropToNonzero } : {}),
    },
    labels: p.labels, classNames: p.classNames, window: patch, provenance: origin(o),
  }, o.source);
}
