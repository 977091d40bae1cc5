// Query parameters of POST /v1/predict, checked: a bad value is a 400 naming the parameter.
import { HttpError } from './errors.js';

export interface PredictQuery {
  model?: string;
  mode?: 'accurate' | 'fast';
  level?: number;
  head?: number;
  tta?: boolean;
  threshold?: number;
  /** N (every axis), HxW or DxHxW. */
  tile?: number | number[];
  format?: 'png' | 'json' | 'nifti';
  probabilities: boolean;
  /** false: without the model's post-processing rules (the raw labels). */
  postprocess?: boolean;
}

const KNOWN = ['model', 'mode', 'level', 'head', 'tta', 'threshold', 'tile', 'format', 'probabilities', 'postprocess'];
const bad = (name: string, why: string) => new HttpError(400, 'bad_request', `query parameter ${name}: ${why}`);

function bool(name: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (['', '1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw bad(name, `expected true or false, got "${v}"`);
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw bad(name, `expected a positive integer, got "${v}"`);
  return Number(v);
}

export function parsePredictQuery(raw: Record<string, unknown>): PredictQuery {
  const q: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!KNOWN.includes(k)) throw bad(k, `unknown (known: ${KNOWN.join(', ')})`);
    if (typeof v !== 'string') throw bad(k, 'given more than once');
    q[k] = v;
  }
  const oneOf = <T extends string>(name: string, choices: T[]): T | undefined => {
    const v = q[name];
    if (v !== undefined && !choices.includes(v as T)) throw bad(name, `expected one of ${choices.join(', ')}, got "${v}"`);
    return v as T | undefined;
  };
  let threshold: number | undefined;
  if (q.threshold !== undefined) {
    threshold = Number(q.threshold);
    if (q.threshold.trim() === '' || !(threshold >= 0 && threshold <= 1)) throw bad('threshold', `expected a number in [0, 1], got "${q.threshold}"`);
  }
  let tile: number | number[] | undefined;
  if (q.tile !== undefined) {
    if (!/^\d+(x\d+){0,2}$/.test(q.tile)) throw bad('tile', `expected N, HxW or DxHxW, got "${q.tile}"`);
    const sizes = (q.tile.match(/\d+/g) ?? []).map(Number);
    tile = sizes.length === 1 ? sizes[0] : sizes;
  }
  return {
    model: q.model, mode: oneOf('mode', ['accurate', 'fast']), level: int('level', q.level), head: int('head', q.head),
    tta: bool('tta', q.tta), threshold, tile, format: oneOf('format', ['png', 'json', 'nifti']), probabilities: bool('probabilities', q.probabilities) ?? false,
    postprocess: bool('postprocess', q.postprocess),
  };
}
