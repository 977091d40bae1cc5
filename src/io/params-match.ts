// Builds a SegModel from named tensors, checking them against the architecture's param specs:
// one error lists every missing, unexpected and mis-shaped tensor, so a wrong file or config
// is diagnosed in one go rather than one name at a time.
import { ParamStore } from '../engine/params.js';
import { SegModel } from '../models/model.js';
import type { ModelConfig } from '../models/config.js';
import type { TensorOut } from './safetensors.js';

export class WeightsMismatchError extends Error {
  constructor(readonly file: string, readonly missing: string[], readonly unexpected: string[], readonly misshaped: string[], hint = '') {
    const part = (what: string, xs: string[]) => (xs.length ? `\n  ${what} (${xs.length}): ${xs.slice(0, 12).join(', ')}${xs.length > 12 ? ', ...' : ''}` : '');
    super(`${file}: weights do not match the model${hint}` + part('missing', missing) + part('unexpected', unexpected) + part('wrong shape', misshaped));
    this.name = 'WeightsMismatchError';
  }
}

function toFloat32(t: TensorOut): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  return Float32Array.from(t.data, (v) => Number(v));
}

/**
 * A model of `config` whose params are `tensors[name]` (copied to float32). Names matching
 * `ignore` are skipped silently (e.g. num_batches_tracked).
 */
export function modelFromTensors(config: Partial<ModelConfig>, tensors: Record<string, TensorOut>, file: string,
                                 ignore: (name: string) => boolean = () => false, hint = ''): SegModel {
  const store = new ParamStore();
  const model = new SegModel(config, store);
  const specs = model.paramSpecs();
  const expected = new Set(specs.map((s) => s.name));
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const s of specs) {
    const t = tensors[s.name];
    if (!t) { missing.push(s.name); continue; }
    // PyTorch stores a 0-d tensor for scalars; a [1] vs [] difference is still a mismatch here.
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      misshaped.push(`${s.name} [${t.shape}] (expected [${s.shape}])`);
      continue;
    }
    store.set(s.name, s.shape, toFloat32(t).slice(), s.trainable);
  }
  const unexpected = Object.keys(tensors).filter((n) => !expected.has(n) && !ignore(n)).sort();
  if (missing.length || unexpected.length || misshaped.length) throw new WeightsMismatchError(file, missing, unexpected, misshaped, hint);
  return model;
}
