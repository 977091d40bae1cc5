// What a checkpoint says about itself: one typed record (CheckpointMeta), stored as one JSON
// document under the safetensors metadata key "unetpp", validated on load, written with every
// checkpoint (best and last, from the first epoch). Everything a front door needs to run the
// model on a new input comes from here: how inputs are prepared, what the outputs mean, the
// default window, the post-processing, the plan the run was trained with, where it came from.
// Version 1 files (loose string keys: config, normalize, classNames, inputSize, volumePipeline,
// patch, epoch) are read by upgradeV1.
import type { ModelConfig } from '../models/config.js';
import type { LabelSpec } from '../data/labels.js';
import type { Normalize } from '../data/images/transforms.js';
import type { CtStats, VolumeNorm } from '../data/volumes/intensity.js';
import type { DatasetPlan } from './dataset-plan.js';

export const META_KEY = 'unetpp';
export const META_VERSION = 2;

/** How a 2D input is made ready: channel conversion, normalisation, the size training resized to. */
export interface ImageInput {
  kind: 'image';
  normalize: Normalize;
  /** Training resized every image to [height, width]; prediction resizes to it and back. */
  resize?: [number, number];
}

/** How a volume (one file per modality, a 4D file or a DICOM series) is made ready. */
export interface VolumeInput {
  kind: 'volume';
  /** Modality names in channel order (dataset.json's, else channel0..). */
  modalities: string[];
  normalize: VolumeNorm[];
  /** Dataset CT statistics per modality (null where the modality is not CT). */
  ct: (CtStats | null)[];
  /** Target spacing [x, y, z] in mm; absent: cases keep their own. */
  spacing?: [number, number, number];
  cropToNonzero?: boolean;
}

/** Per label value (the dataset's values, after labelsFromPlanes), what prediction removes. */
export interface PostprocessRule {
  /** Label values the rule applies to, taken together (e.g. [1, 2] = the whole foreground). */
  values: number[];
  /** 'largest': keep only the largest connected component; 'min-size': drop components smaller than minVoxels. */
  keep: 'largest' | 'min-size';
  minVoxels?: number;
  /** Validation Dice without and with the rule (why it was kept). */
  diceBefore?: number;
  diceAfter?: number;
}

/** The state of the run that wrote the checkpoint. */
export interface TrainingRecord {
  epoch: number;
  /** Epochs asked for. */
  epochs?: number;
  monitor?: 'iou' | 'dice' | 'loss';
  /** The monitored value at this checkpoint's epoch. */
  value?: number;
  /** 'running' until the run ends (best/last of a run that was killed say 'running'). */
  status: 'running' | 'finished';
  stoppedBy?: string;
  /** The loss trained with (kind, and how its Dice term was taken: docs/training.md, "Loss"). */
  loss?: { kind: string; bceWeight?: number; diceBackground?: boolean; batchDice?: boolean };
}

export interface Provenance {
  /** 'train', 'cv' (a fold), 'pytorch' (imported state_dict), 'legacy' (upgraded version 1 file). */
  source: 'train' | 'cv' | 'pytorch' | 'legacy';
  createdAt: string;
  /** unetpp package version that wrote it. */
  unetpp?: string;
  /** Dataset folder trained on, as given. */
  dataset?: string;
  /** The command line (argv after node), for rerunning. */
  command?: string[];
}

export interface CheckpointMeta {
  version: typeof META_VERSION;
  model: ModelConfig;
  input: ImageInput | VolumeInput;
  /** How output planes map to label values (softmax: background plane first). */
  labels: LabelSpec;
  /** One name per output plane (the model's classes). */
  classNames: string[];
  /** Default sliding window in array order ([h, w] or [d, h, w]): the training patch of 3D models. */
  window?: number[];
  postprocess?: PostprocessRule[];
  /** Average every prediction over the flips of each subset of the axes unless told otherwise (plans
   *  set it for volumes, as nnU-Net mirrors at test time); absent: one pass. */
  tta?: boolean;
  /** The self-configured plan the run followed (src/plan), as written by the planner (explicit
   *  flags may have overridden items of it: the other fields say what the run used). */
  plan?: DatasetPlan;
  training?: TrainingRecord;
  provenance: Provenance;
}
