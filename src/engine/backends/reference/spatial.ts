// The reference kernels are written once for volumes: an image [N,C,H,W] is a volume of depth 1.
import type { Shape } from '../../graph.js';

/** [D, H, W] of the trailing axes from `from` on (activations: 2; conv weights: 2 too), D = 1 for 2D. */
export function dhw(s: Shape): [number, number, number] {
  return s.length === 5 ? [s[2], s[3], s[4]] : [1, s[2], s[3]];
}

/** Values per channel of one image: H*W or D*H*W. */
export function spatialSize(s: Shape): number {
  let n = 1;
  for (let i = 2; i < s.length; i++) n *= s[i];
  return n;
}
