// Optimiser from typed options (what the trainer and the CLI pass around).
import { Adam, AdamOptions } from './adam.js';
import { Sgd, SgdOptions } from './sgd.js';
import type { Optimizer } from './types.js';

export type OptimizerOptions = ({ kind: 'adam' } & AdamOptions) | ({ kind: 'sgd' } & SgdOptions);

export function makeOptimizer(o: OptimizerOptions): Optimizer {
  if (o.kind === 'adam') return new Adam(o);
  if (o.kind === 'sgd') return new Sgd(o);
  throw new Error(`unknown optimiser '${(o as { kind: string }).kind}': use adam or sgd`);
}
