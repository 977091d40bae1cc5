// Post-processing chosen on a split of a volume dataset (the validation cases): every case
// predicted as eval predicts it, without the rules the meta may record already, cut to its
// foreground box, then choosePostprocess over the classes of the meta's label spec.
import type { ModelEntry } from './model-entry.js';
import type { PredictorCache, PredictorSettings } from './predictor-cache.js';
import { predictSplit } from './evaluate-volumes.js';
import { choosePostprocess, cropCase, type ChoiceOptions, type PostprocessChoice, type ValidationCase } from './postprocess-choice.js';
import { planeValues } from '../data/labels.js';
import type { SplitName } from '../data/split-csv.js';

export interface SplitChoiceOptions extends ChoiceOptions {
  /** Default 'val'. */
  split?: SplitName;
  seed?: number;
  settings?: PredictorSettings;
  threshold?: number;
  onCase?: (id: string, i: number, n: number) => void;
}

export async function choosePostprocessOnSplit(entry: ModelEntry, cache: PredictorCache, dir: string,
                                               o: SplitChoiceOptions = {}): Promise<PostprocessChoice> {
  const cases: ValidationCase[] = [];
  const split = o.split ?? 'val';
  const run = { split, seed: o.seed, settings: o.settings, threshold: o.threshold, postprocess: false };
  for await (const c of predictSplit(entry, cache, dir, run)) {
    cases.push(cropCase(c));
    o.onCase?.(c.id, c.i, c.n);
  }
  return choosePostprocess(cases, planeValues(entry.meta.labels), o);
}
