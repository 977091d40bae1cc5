// What a queue job carries. Paths are absolute: workers on other machines see the same
// shared storage at the same place.
import type { PredictorOptions } from '../infer/predict.js';
import type { Normalize } from '../data/transforms.js';

export type PredictorSettings = Omit<PredictorOptions, 'backend'>;

export interface PredictJob {
  input: string;
  outDir: string;
  checkpoint: string;
  predictor: PredictorSettings;
  threshold: number;
  /** Else the checkpoint's recorded normalisation. */
  normalize?: Normalize;
  resize?: { width: number; height: number };
  overlay?: boolean;
  probabilities?: boolean;
}

export interface PredictResult {
  status: 'predicted' | 'skipped';
  outputs: string[];
  ms: number;
  worker: string;
}
