// Native element-wise kernels (storage order does not matter to them), softmax over channels
// and dropout (its mask follows the logical index).
import type { Node } from '../../../graph.js';
import { fmt, numel } from '../../../graph.js';
import { flat4, isAct, type Ctx, type Impls } from './context.js';

type ElementwiseOp = 'ones' | 'relu' | 'relu_grad' | 'leaky_relu' | 'leaky_relu_grad' | 'sigmoid' | 'sigmoid_grad' | 'scale' |
  'softmax' | 'softmax_grad' | 'dropout' | 'add' | 'mul' | 'add_n' | 'mean_all' | 'fill_grad';

function channelsLast(node: Node) {
  if (!isAct(node, 0)) throw new Error(`needs a 4D activation, got ${fmt(node.shapes[0])} (${node.layouts[0]})`);
}

export function elementwiseKernels({ A }: Ctx): Impls<ElementwiseOp> {
  return {
    ones: (_i, [y]) => A.fill(y, 1),
    relu: ([x], [y]) => A.unary(0, x, y, 0),
    relu_grad: ([y, dy], [dx]) => A.unaryGrad(0, y, dy, dx, 0),
    leaky_relu: ([x], [y], node) => A.unary(1, x, y, node.attrs.alpha),
    leaky_relu_grad: ([x, dy], [dx], node) => A.unaryGrad(1, x, dy, dx, node.attrs.alpha),
    sigmoid: ([x], [y]) => A.unary(2, x, y, 0),
    sigmoid_grad: ([y, dy], [dx]) => A.unaryGrad(2, y, dy, dx, 0),
    scale: ([x], [y], node) => A.unary(3, x, y, node.attrs.s),
    softmax: ([x], [y], node) => { channelsLast(node); A.softmax(x, y, node.shapes[0][1]); },
    softmax_grad: ([y, dy], [dx], node) => { channelsLast(node); A.softmaxGrad(y, dy, dx, node.shapes[0][1]); },
    dropout: ([x], [y], node, rt) => {
      const s = node.shapes[0];
      const act = isAct(node, 0);
      const [n, c, h, w] = act ? flat4(s) : [numel(s), 1, 1, 1];
      A.dropout(x, y, node.attrs.p, node.attrs.seed, rt.step, n, c, h, w, act);
    },
    add: ([a, b], [y]) => A.binary(0, a, b, y),
    mul: ([a, b], [y]) => A.binary(1, a, b, y),
    add_n: (xs, [y]) => A.addN(xs, y),
    mean_all: ([x], [y]) => A.meanAll(x, y),
    fill_grad: ([dy], [y], node) => A.fill(y, dy[0] * node.attrs.scale),
  };
}
