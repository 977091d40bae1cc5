// Argument parsers for commander options: they throw InvalidArgumentError, which commander
// reports as one line naming the option and the bad value.
import { InvalidArgumentError } from 'commander';
import { parseMemory } from '../infer/memory.js';
import { parseDuration } from '../plan/rules.js';

export function int(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^[+-]?\d+$/.test(v.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`);
    return n;
  };
}

export function float(min = -Infinity, max = Infinity, maxExclusive = false) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (maxExclusive ? n >= max : n > max))
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}${maxExclusive ? ')' : ']'}`);
    return n;
  };
}

/** "4,8,16" -> [4, 8, 16] (positive integers). */
export function intList(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (!parts.length || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1))
    throw new InvalidArgumentError('expected comma-separated positive integers, e.g. 32,64,128,256,512');
  return parts.map(Number);
}

/** "AxBxC,..." -> one [D, H, W] per level, each value one of `allowed`; else `expected`. */
function perLevel(v: string, allowed: string[], expected: string): number[][] {
  const levels = v.split(',').map((s) => s.trim().split('x'));
  if (levels.some((l) => l.length !== 3 || l.some((f) => !allowed.includes(f)))) throw new InvalidArgumentError(expected);
  return levels.map((l) => l.map(Number));
}

/** "1x2x2,2x2x2" -> [[1, 2, 2], [2, 2, 2]]: pooling factors (1 or 2) per level, DxHxW each. */
export const poolList = (v: string): number[][] =>
  perLevel(v, ['1', '2'], 'expected factors DxHxW of 1 or 2 per level, comma-separated, e.g. 1x2x2,2x2x2,2x2x2');

/** "1x3x3,3x3x3,3x3x3" -> [[1, 3, 3], [3, 3, 3], [3, 3, 3]]: conv kernel sizes (1 or 3) per level, DxHxW each. */
export const kernelList = (v: string): number[][] =>
  perLevel(v, ['1', '3'], 'expected kernel sizes DxHxW of 1 or 3 per level (one more than --pools), comma-separated, ' +
    'e.g. 1x3x3,1x3x3,3x3x3');

/** "96" -> [96, 96]; "96x128" (height x width) -> [96, 128]. */
export function size(v: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < 1))
    throw new InvalidArgumentError('expected a size N or HxW, e.g. 96 or 96x128');
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

export function oneOf<T extends string>(...choices: T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    return v as T;
  };
}

/** "4G", "512M", "2.5GB" -> bytes. */
export function memorySize(v: string): number {
  try { return parseMemory(v); } catch { throw new InvalidArgumentError('expected a size such as 4G, 512M or 2.5GB'); }
}

/** "30m", "1h", "2h30m", "90s": checked, kept as written (parseDuration gives the seconds). */
export function duration(v: string): string {
  try { parseDuration(v); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
  return v;
}
