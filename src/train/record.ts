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
}

export const RECORD_FIELDS: (keyof EpochRecord)[] = ['epoch', 'lr', 'trainLoss', 'valLoss', 'iou', 'dice', 'best', 'seconds', 'steps'];
