// Named parameter storage shared by graphs, plans, optimisers and checkpoints. Data is host
// float32 in PyTorch's layouts (conv weights OIHW, transposed conv [Cin,Cout,k,k]).
import { Shape, numel, fmt } from './graph.js';

export interface Param {
  readonly shape: Shape;
  readonly data: Float32Array;
  /** false for state that the optimiser must not touch (batch-norm running statistics). */
  readonly trainable: boolean;
}

export class ParamStore {
  readonly map = new Map<string, Param>();

  set(name: string, shape: Shape, data: Float32Array, trainable = true): Param {
    if (data.length !== numel(shape)) throw new Error(`param '${name}': ${data.length} values for shape ${fmt(shape)}`);
    const p = { shape: [...shape], data, trainable };
    this.map.set(name, p);
    return p;
  }

  get(name: string): Param {
    const p = this.map.get(name);
    if (!p) throw new Error(`param '${name}' is not in the store`);
    return p;
  }

  has(name: string): boolean { return this.map.has(name); }
  names(): string[] { return [...this.map.keys()]; }
  trainableNames(): string[] { return this.names().filter((n) => this.map.get(n)!.trainable); }
  /** Number of trainable values (the parameter count papers report). */
  count(): number {
    let n = 0;
    for (const p of this.map.values()) if (p.trainable) n += p.data.length;
    return n;
  }
}

/** A store with copies of every param's data (same names, shapes and trainable flags). */
export function copyParams(from: ParamStore): ParamStore {
  const to = new ParamStore();
  for (const [name, p] of from.map) to.set(name, p.shape, p.data.slice(), p.trainable);
  return to;
}
