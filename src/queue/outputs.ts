// Where a batch's masks go: each input's folder relative to the submitted inputs' common
// root is kept under the output folder (a/x.png -> OUT/a/x.png, b/x.png -> OUT/b/x.png),
// names are predict's (maskPaths, outputStem: <stem>.png, <class>/<stem>.png, <stem>.nii.gz,
// extras); two inputs that would still write one file (x.png and x.jpg side by side) stop the
// batch before anything is queued.
import { dirname, join, relative, sep } from 'node:path';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import { maskPaths, outputStem, type WriteOptions } from '../infer/write-prediction.js';

export interface PlannedInput {
  input: string;
  /** The job's output folder. */
  outDir: string;
  /** Every file its job writes. */
  outputs: string[];
}

const isNifti = (p: string) => /\.nii(\.gz)?$/i.test(p);

/** Every file writePrediction writes for an input. */
export function outputsFor(input: string, outDir: string, meta: CheckpointMeta, o: WriteOptions): string[] {
  const masks = maskPaths(input, outDir, meta);
  const stem = outputStem(input, meta.model.dims);
  const extra = (on: boolean | undefined, name: string) => (on ? [join(outDir, `${stem}${name}`)] : []);
  if (meta.model.dims === 3 || isNifti(input)) return [...masks, ...extra(o.probabilities, '_prob.nii.gz')];
  return [...masks, ...extra(o.overlay, '_overlay.png'), ...extra(o.probabilities, '_prob.png')];
}

/** The deepest folder holding every root (absolute paths). */
export function commonRoot(roots: string[]): string {
  let parts = roots[0].split(sep);
  for (const r of roots.slice(1)) {
    const q = r.split(sep);
    let k = 0;
    while (k < parts.length && k < q.length && parts[k] === q[k]) k++;
    parts = parts.slice(0, k);
  }
  return parts.join(sep) || sep;
}

/** Inputs (absolute, each with the folder it was submitted as) -> their outputs; throws on a collision. */
export function planOutputs(files: { input: string; root: string }[], outDir: string, meta: CheckpointMeta,
                            o: WriteOptions): PlannedInput[] {
  const base = commonRoot([...new Set(files.map((f) => f.root))]);
  const seen = new Map<string, string>();
  const clashes: string[] = [];
  const planned = [...new Map(files.map((f) => [f.input, f])).values()].map(({ input }) => {
    const dir = join(outDir, relative(base, dirname(input)));
    const outputs = outputsFor(input, dir, meta, o);
    for (const out of outputs) {
      const other = seen.get(out);
      if (other !== undefined) clashes.push(`${other} and ${input} would both write ${out}`);
      else seen.set(out, input);
    }
    return { input, outDir: dir, outputs };
  });
  if (clashes.length) {
    const more = clashes.length > 5 ? `\n  ... and ${clashes.length - 5} more` : '';
    throw new Error(`output names collide, nothing was queued:\n  ${clashes.slice(0, 5).join('\n  ')}${more}\n` +
      'rename the inputs, or submit them with different -o folders');
  }
  return planned;
}
