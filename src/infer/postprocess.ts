// Post-processing of predicted label maps by the rules a checkpoint records (chosen on
// validation by postprocess-choice.ts, as nnU-Net): per label value or set of values, keep the
// largest connected component or drop components below a size; removed voxels become
// background. Applied in the rules' order, on the grid the model predicts on (the training
// spacing), as the rules were chosen. No Node imports: the browser's worker runs it.
import type { PostprocessRule } from '../io/checkpoint-meta.js';
import { keepLargest, removeSmall, type Connectivity } from './components.js';

export type { PostprocessRule };

/** One rule on a label map, in place. Returns the voxels removed. */
export function applyRule(labels: Uint8Array, dims: readonly number[], r: PostprocessRule, connectivity?: Connectivity): number {
  const o = { values: r.values, connectivity };
  return r.keep === 'largest' ? keepLargest(labels, dims, o) : removeSmall(labels, dims, r.minVoxels ?? 0, o);
}

/**
 * A predicted label map (laid out [Z, Y, X] or [H, W]; dims fastest axis first: [X, Y, Z] or
 * [W, H]) after the rules, in order; in place (no copy without rules), returned for chaining.
 */
export function applyPostprocess(labels: Uint8Array, dims: readonly number[], rules: readonly PostprocessRule[] | undefined): Uint8Array {
  for (const r of rules ?? []) applyRule(labels, dims, r);
  return labels;
}

/** "1-3,5": label values as short runs. */
export function valueList(values: readonly number[]): string {
  const v = [...values].sort((a, b) => a - b), out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    let j = i;
    while (j + 1 < v.length && v[j + 1] === v[j] + 1) j++;
    out.push(j > i + 1 ? `${v[i]}-${v[j]}` : j === i + 1 ? `${v[i]},${v[j]}` : `${v[i]}`);
    i = j;
  }
  return out.join(',');
}

/** One line: "largest component of 1,2" or "components under 40 voxels of 1"; name: the set's name, if known. */
export function describeRule(r: PostprocessRule, name?: string): string {
  const of = name ? `${name} (${valueList(r.values)})` : valueList(r.values);
  return r.keep === 'largest' ? `keep the largest component of ${of}` : `drop components under ${r.minVoxels} voxels of ${of}`;
}
