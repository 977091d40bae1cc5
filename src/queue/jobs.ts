// What a queue job carries. Paths are absolute: workers on other machines see the same
// shared storage at the same place.
import type { PredictorSettings } from '../infer/predictor-cache.js';
import type { Normalize } from '../data/transforms.js';

export type { PredictorSettings };

export interface PredictJob {
  input: string;
  outDir: string;
  checkpoint: string;
  predictor: PredictorSettings;
  threshold: number;
  /** Else the checkpoint's recorded normalisation. */
  normalize?: Normalize;
  /** [height, width]; else the checkpoint's recorded size. */
  resize?: [number, number];
  overlay?: boolean;
  probabilities?: boolean;
}

export interface PredictResult {
  status: 'predicted' | 'skipped';
  outputs: string[];
  ms: number;
  worker: string;
}
