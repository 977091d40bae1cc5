// One epoch's numbers, as logged (JSONL/CSV), plotted and kept in the training state.
export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  valLoss: number;
  iou: number;
  dice: number;
  /** Whether this epoch became the best on the monitored metric. */
  best: boolean;
  seconds: number;
  steps: number;
  /** Where the epoch's seconds went: the training steps' forward and backward passes (the engine), waiting for
   *  the loader's batches (reading, cropping, augmenting), the weight updates (gradients read back, optimizer),
   *  and validation. Their sum is a little below `seconds` (checkpoints, logs). Absent in older records. */
  stepSeconds?: number;
  dataSeconds?: number;
  updateSeconds?: number;
  validationSeconds?: number;
}

export const RECORD_FIELDS: (keyof EpochRecord)[] = ['epoch', 'lr', 'trainLoss', 'valLoss', 'iou', 'dice', 'best', 'seconds', 'steps',
  'stepSeconds', 'dataSeconds', 'updateSeconds', 'validationSeconds'];
