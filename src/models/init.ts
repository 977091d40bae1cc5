// Weight initialisation. bn preset: PyTorch's defaults (kaiming-uniform a=sqrt(5) for conv
// weights, U(+-1/sqrt(fan_in)) for biases, batch/instance norm gamma 1 beta 0). paper preset:
// he-normal (truncated at 2 std, as Keras) weights and zero biases.
import type { Shape } from '../engine/graph.js';
import type { Preset } from './config.js';

/** Small seeded generator (mulberry32) so that a seed gives the same weights everywhere. */
export function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Fan-in of a weight: conv [O,I,k,k(,k)] -> I k k (k); transposed conv [I,O,k,k(,k)] -> O k k (k)
 *  (as both frameworks). */
function fanIn(name: string, shape: Shape, weightShapes: Map<string, Shape>): number {
  const base = name.replace(/\.(weight|bias)$/, '.weight');
  const w = weightShapes.get(base) ?? shape;
  return w.slice(1).reduce((a, b) => a * b, 1);
}

export function initParam(name: string, shape: Shape, preset: Preset, u: () => number, weightShapes: Map<string, Shape>): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (/\.bn\d\.(weight|running_var)$/.test(name)) return out.fill(1);
  if (/\.bn\d\./.test(name)) return out; // beta, running mean
  const fan = fanIn(name, shape, weightShapes);
  const isBias = name.endsWith('.bias');
  if (preset === 'paper') {
    if (isBias) return out;
    const std = Math.sqrt(2 / fan) / 0.8796256610342398; // std of a unit normal truncated at 2
    for (let i = 0; i < n; i++) {
      let v: number;
      do v = normal(u); while (Math.abs(v) > 2);
      out[i] = v * std;
    }
    return out;
  }
  const bound = 1 / Math.sqrt(fan);
  for (let i = 0; i < n; i++) out[i] = (2 * u() - 1) * bound;
  return out;
}
