// What a queue job carries. Paths are absolute: workers on other machines see the same
// shared storage at the same place (and check that it lies within their --roots).
import type { PredictorSettings } from '../infer/predictor-cache.js';
import type { Normalize } from '../data/images/transforms.js';

export type { PredictorSettings };

export interface PredictJob {
  input: string;
  outDir: string;
  checkpoint: string;
  /** The checkpoint's SHA-256 when it was submitted: a worker refuses a checkpoint that changed since. */
  checkpointSha256?: string;
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
  /** skipped: outputs of an earlier batch matched the job (predicted: by this job, maybe an earlier attempt). */
  status: 'predicted' | 'skipped';
  outputs: string[];
  ms: number;
  worker: string;
}
