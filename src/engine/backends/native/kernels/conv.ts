// Native kernels of convolutions and transposed convolutions, images and volumes: one addon
// entry per pass, the geometry an object whose size and kernel arrays carry the spatial rank.
import type { Pad, Shape } from '../../../graph.js';
import type { ActLayout, ConvGeometry } from '../addon.js';
import { flat4, type Ctx, type Impls } from './context.js';

/** A conv weight [O,C,1,1,1] with stride 1 and pad 0: a 1x1 conv over the flattened volume. */
const pointwise = (w: Shape, stride: number, pad: Pad) =>
  w.length === 5 && w[2] === 1 && w[3] === 1 && w[4] === 1 && stride === 1 && pad === 0;

/** x [N,C,...size] and weight [O,C,...kernel] (per-axis sizes, e.g. 1x3x3; pad then one value per axis); a
 *  pointwise volume conv runs as the image [N,C,D*H,W]. */
export function convGeometry(x: Shape, w: Shape, stride: number, pad: Pad, layout: ActLayout): ConvGeometry {
  if (x.length === 5 && pointwise(w, stride, pad)) {
    const [n, c, h, wd] = flat4(x);
    return { n, c, o: w[0], size: [h, wd], kernel: [1, 1], stride, pad: 0, layout };
  }
  const p = typeof pad === 'number' ? pad : [...pad];
  return { n: x[0], c: x[1], o: w[0], size: x.slice(2), kernel: w.slice(2), stride, pad: p, layout };
}

/** Transposed conv: x [N,C,...size], weight [C,O,k,k(,k)] (PyTorch), stride k, no padding. */
export function deconvGeometry(x: Shape, w: Shape, layout: ActLayout): ConvGeometry {
  return { n: x[0], c: x[1], o: w[1], size: x.slice(2), kernel: w.slice(2), stride: w[2], pad: 0, layout };
}

type ConvOp = 'conv' | 'conv_bn' | 'conv_grad_input' | 'conv_grad_weight' | 'conv_transpose' | 'conv_transpose_grad_input' |
  'conv_transpose_grad_weight';

export function convKernels({ A, layout }: Ctx): Impls<ConvOp> {
  return {
    // x (and y) may be per-image strided views: the addon then runs the primitive image by image
    conv: ([x, w, b], [y], node, _rt, st) => {
      const { stride, pad, relu } = node.attrs;
      const geo = convGeometry(node.inputs[0].shape, node.inputs[1].shape, stride, pad, layout());
      A.convFwd(x, w, b ?? null, y, geo, !!relu, st.ins[0] ?? 0, st.outs[0] ?? 0);
    },
    conv_bn: ([x, w, gamma, beta, rm, rv, b], [y], node, rt, st) => {
      const { stride, pad, eps, relu } = node.attrs;
      const geo = convGeometry(node.inputs[0].shape, node.inputs[1].shape, stride, pad, layout());
      // The folded weights are kept in the node's state: they live as long as the plan.
      A.convBnFwd(x, w, b ?? null, gamma, beta, rm, rv, y, geo, eps, !!relu, st.ins[0] ?? 0, st.outs[0] ?? 0,
        rt.saved(node), !!rt.frozenParams);
    },
    conv_grad_input: ([dy, w], [dx], node) => {
      const geo = convGeometry(node.attrs.xShape, node.inputs[1].shape, node.attrs.stride, node.attrs.pad, layout());
      A.convBwdData(dy, w, dx, geo);
    },
    conv_grad_weight: ([x, dy], [dw, db], node) => {
      const geo = convGeometry(node.inputs[0].shape, node.attrs.wShape, node.attrs.stride, node.attrs.pad, layout());
      A.convBwdWeights(x, dy, dw, db ?? null, geo);
    },
    conv_transpose: ([x, w, b], [y], node) =>
      A.deconvFwd(x, w, b ?? null, y, deconvGeometry(node.inputs[0].shape, node.inputs[1].shape, layout()), false),
    conv_transpose_grad_input: ([dy, w], [dx], node) =>
      A.deconvBwdData(dy, w, dx, deconvGeometry(node.attrs.xShape, node.inputs[1].shape, layout())),
    conv_transpose_grad_weight: ([x, dy], [dw, db], node) =>
      A.deconvBwdWeights(x, dy, dw, db ?? null, deconvGeometry(node.inputs[0].shape, node.attrs.wShape, layout())),
  };
}
