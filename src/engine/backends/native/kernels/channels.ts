// Native kernels of channel concatenation and its gradient (split): plain copies of runs.
import { pixels, type Ctx, type Impls } from './context.js';

export function channelKernels(ctx: Ctx): Impls<'concat' | 'split_channels'> {
  const { A } = ctx;
  return {
    concat: (xs, [y], node) => A.concat(xs, y, pixels(ctx, node.shapes[0])),
    split_channels: ([dy], dxs, node) => A.splitChannels(dy, dxs, pixels(ctx, node.inputs[0].shape)),
  };
}
