// Native kernels of max-pooling, x2 up-sampling and concat_up, images and volumes: one addon
// entry per pass, the spatial sizes an array (2 or 3 values); volumes may pass per-axis factors.
import type { Node } from '../../../graph.js';
import { images, DENSE, type Act, type Ctx, type Impls, type Strides } from './context.js';

type SpatialOp = 'maxpool' | 'maxpool_grad' | 'upsample2x' | 'upsample2x_grad' | 'concat_up' | 'concat_up_grad';

export function spatialKernels(ctx: Ctx): Impls<SpatialOp> {
  const { A } = ctx;
  return {
    // a strided x (a view, images only): its images are groups of c/16 blocked 16-channel images
    maxpool: ([x], [y], node, _rt, st) => {
      const s = node.inputs[0].shape, [m, c, size] = images(ctx, s);
      if (st.ins[0]) A.maxpoolFwd(x, y, m, c, size, s[0], st.ins[0], factors(node));
      else A.maxpoolFwd(x, y, m, c, size, undefined, undefined, factors(node));
    },
    maxpool_grad: ([x, , dy], [dx], node) =>
      A.maxpoolBwd(x, dy, dx, ...images(ctx, node.inputs[0].shape), factors(node)),
    upsample2x: ([x], [y], node) => A.upsampleFwd(x, y, ...images(ctx, node.inputs[0].shape),
      node.attrs.mode === 'nearest', !!node.attrs.alignCorners, factors(node)),
    upsample2x_grad: ([dy], [dx], node) => A.upsampleBwd(dy, dx, ...images(ctx, node.attrs.xShape),
      node.attrs.mode === 'nearest', !!node.attrs.alignCorners, factors(node)),
    concat_up: (ins, [y], node, _rt, st) => {
      // the parts copied, the up-sampling written into its channels (blocked or channels-last)
      const [n, c, ...size] = node.inputs[ins.length - 1].shape;
      const nearest = node.attrs.mode === 'nearest', ac = !!node.attrs.alignCorners;
      const parts = ins.slice(0, -1), low = ins[ins.length - 1];
      const layout = ctx.layout(), f = factors(node);
      if (st === DENSE) return A.concatUpFwd(parts, low, y, n, c, size, nearest, ac, layout, 0, 0, 0, f);
      // y a prefix of its row buffer, the parts already in it (concat-views.ts): only the
      // up-sampling is written. Or a strided low input (a node of the row below).
      const sy = st.outs[0], sl = st.ins[ins.length - 1];
      if (sy) {
        const have = inPlace(parts, y, node, st, 4 * size[0] * size[1]);
        return A.concatUpFwd([], low, y, n, c, size, nearest, ac, layout, have, sy, sl, f);
      }
      if (parts.some((_, k) => st.ins[k])) throw new Error('concat_up: strided parts need an in-place output');
      A.concatUpFwd(parts, low, y, n, c, size, nearest, ac, layout, 0, 0, sl, f);
    },
    concat_up_grad: ([dy], outs, node) => {
      const [n, c, ...size] = node.shapes[node.shapes.length - 1];
      const nearest = node.attrs.mode === 'nearest', ac = !!node.attrs.alignCorners;
      A.concatUpBwd(dy, outs.slice(0, -1), outs[outs.length - 1], n, c, size, nearest, ac, ctx.layout(), factors(node));
    },
  };
}

/** A node's per-axis factors for the addon (undefined: 2 on every axis). */
const factors = (node: Node) => {
  const f = (node.attrs as { factors?: readonly number[] }).factors;
  return f ? [...f] : undefined;
};

/** Checks that concat_up's parts already sit in y's row buffer where the concatenation wants
 *  them; returns their channels. hw4: positions of y per channel. */
function inPlace(parts: Act[], y: Act, node: Node, st: Strides, hw4: number): number {
  let off = 0;
  parts.forEach((p, k) => {
    if (p.buffer !== y.buffer || p.byteOffset !== y.byteOffset + off * hw4 * y.BYTES_PER_ELEMENT || st.ins[k] !== st.outs[0])
      throw new Error(`concat_up: input ${k} is not in place in the output's row buffer`);
    off += node.inputs[k].shape[1];
  });
  return off;
}
