// Seeded inputs of a loss over [N, K, S] (S voxels): logits, targets and an ignore mask.
import type { LossKind } from '../../src/engine/graph.js';
import { softmaxLoss } from '../../src/train/masked-loss.js';
import { rng, uniform } from './gradcheck.js';

/** Logits in [-3, 3], targets (one-hot for softmax kinds, 0/1 else; none at ignored voxels) and an ignore mask [N, S]. */
export function lossData(kind: LossKind, [N, K, S]: [number, number, number], seed: number, ignoreRate: number) {
  const rand = rng(seed);
  const z = uniform(N * K * S, rand, -3, 3);
  const ignore = Uint8Array.from({ length: N * S }, () => (rand() < ignoreRate ? 1 : 0));
  const t = new Float64Array(N * K * S);
  for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) {
    if (ignore[n * S + i]) continue;
    if (softmaxLoss(kind)) t[(n * K + Math.floor(rand() * K)) * S + i] = 1;
    else for (let k = 0; k < K; k++) t[(n * K + k) * S + i] = rand() < 0.4 ? 1 : 0;
  }
  return { z, t, ignore };
}
