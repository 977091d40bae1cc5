// Reverse-mode autodiff: appends backward nodes to the graph. Each forward op has a rule that
// receives its output gradients and returns one gradient (or null) per input.
import { Graph, Node, OpNode, Value, Shape, numel } from './graph.js';
import type { OpName } from './ops.js';

type Rule<K extends OpName> = (g: Graph, node: OpNode<K>, dys: (Value | null)[]) => (Value | null)[];

/** Ops whose gradient is one op of the same attributes, reading x (or y) and dy. */
type UnaryGrad = { relu: 'relu_grad'; leaky_relu: 'leaky_relu_grad'; sigmoid: 'sigmoid_grad'; softmax: 'softmax_grad' };
const unaryGrad = <K extends keyof UnaryGrad>(op: UnaryGrad[K], useOutput: boolean): Rule<K> => (g, node, [dy]) => {
  const saved = useOutput ? g.out(node) : node.inputs[0];
  return [g.out(g.addNode(op, [saved, dy!], node.attrs as never, [node.shapes[0]], [node.layouts[0]]))];
};

/** After a fused ReLU, the gradient reaching the pre-activation is dy where y > 0. */
function throughRelu(g: Graph, node: OpNode<'conv'>, dy: Value): Value {
  return node.attrs.relu ? g.out(g.addNode('relu_grad', [g.out(node), dy], {}, [node.shapes[0]])) : dy;
}

/** Gradient rules of the differentiable forward ops (conv_bn, inference only, has none). */
const rules: { [K in OpName]?: Rule<K> } = {
  conv(g, node, [dy]) {
    const [x, w, b] = node.inputs;
    const dz = throughRelu(g, node, dy!);
    const a = { stride: node.attrs.stride, pad: node.attrs.pad };
    const dx = g.out(g.addNode('conv_grad_input', [dz, w], { ...a, xShape: x.shape }, [x.shape]));
    const gw = g.addNode('conv_grad_weight', [x, dz], { ...a, wShape: w.shape, bias: !!b },
      b ? [w.shape, b.shape] : [w.shape], b ? ['plain', 'plain'] : ['plain']);
    return b ? [dx, g.out(gw, 0), g.out(gw, 1)] : [dx, g.out(gw, 0)];
  },
  conv_transpose(g, node, [dy]) {
    const [x, w, b] = node.inputs;
    const a = { stride: node.attrs.stride };
    const dx = g.out(g.addNode('conv_transpose_grad_input', [dy!, w], { ...a, xShape: x.shape }, [x.shape]));
    const gw = g.addNode('conv_transpose_grad_weight', [x, dy!], { ...a, wShape: w.shape, bias: !!b },
      b ? [w.shape, b.shape] : [w.shape], b ? ['plain', 'plain'] : ['plain']);
    return b ? [dx, g.out(gw, 0), g.out(gw, 1)] : [dx, g.out(gw, 0)];
  },
  maxpool(g, node, [dy]) {
    const x = node.inputs[0];
    return [g.out(g.addNode('maxpool_grad', [x, g.out(node), dy!], { ...node.attrs, fwd: node.id }, [x.shape]))];
  },
  upsample2x(g, node, [dy]) {
    const x = node.inputs[0];
    return [g.out(g.addNode('upsample2x_grad', [dy!], { ...node.attrs, xShape: x.shape }, [x.shape]))];
  },
  concat(g, node, [dy]) {
    // One node for all parts: a single pass over dy.
    const split = g.addNode('split_channels', [dy!], {}, node.inputs.map((x) => x.shape));
    return node.inputs.map((_, i) => g.out(split, i));
  },
  concat_up(g, node, [dy]) {
    // One node, one pass over dy: the xs' gradients are its leading channels, low's the
    // up-sampling's gradient of its last channels (read in place by the native kernel).
    const grad = g.addNode('concat_up_grad', [dy!], node.attrs, node.inputs.map((x) => x.shape));
    return node.inputs.map((_, i) => g.out(grad, i));
  },
  batchnorm(g, node, [dy]) {
    const [x, gamma, , rm, rv] = node.inputs;
    const bn = g.addNode('batchnorm_grad', [x, gamma, rm, rv, dy!, g.out(node)], { ...node.attrs, fwd: node.id },
      [x.shape, gamma.shape, gamma.shape], ['act', 'plain', 'plain']);
    return [g.out(bn, 0), g.out(bn, 1), g.out(bn, 2), null, null];
  },
  instancenorm(g, node, [dy]) {
    // y is an input for the fused ReLU's mask, as batchnorm_grad's.
    const [x, gamma, beta] = node.inputs;
    const n = g.addNode('instancenorm_grad', [x, gamma, beta, dy!, g.out(node)], node.attrs,
      [x.shape, gamma.shape, gamma.shape], ['act', 'plain', 'plain']);
    return [g.out(n, 0), g.out(n, 1), g.out(n, 2)];
  },
  relu: unaryGrad<'relu'>('relu_grad', true),
  leaky_relu: unaryGrad<'leaky_relu'>('leaky_relu_grad', false),
  sigmoid: unaryGrad<'sigmoid'>('sigmoid_grad', true),
  softmax: unaryGrad<'softmax'>('softmax_grad', true),
  dropout(g, node, [dy]) {
    // Same seed and step give the same mask: the gradient is dropout applied to dy.
    return [g.out(g.addNode('dropout', [dy!], node.attrs, [node.shapes[0]], [node.layouts[0]]))];
  },
  scale(g, node, [dy]) { return [g.scale(dy!, node.attrs.s)]; },
  add(_g, _node, [dy]) { return [dy, dy]; },
  add_n(_g, node, [dy]) { return node.inputs.map(() => dy); },
  mul(g, node, [dy]) { const [a, b] = node.inputs; return [g.mul(dy!, b), g.mul(dy!, a)]; },
  mean_all(g, node, [dy]) {
    const x = node.inputs[0];
    return [g.out(g.addNode('fill_grad', [dy!], { scale: 1 / numel(x.shape) }, [x.shape], [x.node.layouts[x.index]]))];
  },
  loss(g, node, [dy]) {
    const [logits, target] = node.inputs;
    return [g.out(g.addNode('loss_grad', [logits, target, dy!], node.attrs, [logits.shape])), null];
  },
};

export function hasGradRule(op: string): boolean {
  return op in rules;
}

/**
 * Appends the backward pass of `loss` (a value of shape [1]) to the graph and returns the
 * gradient of each value in `wrt` (null where the loss does not depend on it).
 */
export function gradients(g: Graph, loss: Value, wrt: Value[]): (Value | null)[] {
  if (loss.shape.length !== 1 || loss.shape[0] !== 1) throw new Error(`gradients: loss must have shape [1], got [${loss.shape}]`);
  // Nodes that lie on a path from a wrt value to the loss.
  const reach = new Set<number>();
  const wrtIds = new Set(wrt.map((v) => v.node.id));
  const depends = new Map<number, boolean>();
  const dependsOnWrt = (n: Node): boolean => {
    let r = depends.get(n.id);
    if (r !== undefined) return r;
    r = wrtIds.has(n.id) || n.inputs.some((i) => dependsOnWrt(i.node));
    depends.set(n.id, r);
    return r;
  };
  const stack = [loss.node];
  while (stack.length) {
    const n = stack.pop()!;
    if (reach.has(n.id) || !dependsOnWrt(n)) continue;
    reach.add(n.id);
    for (const i of n.inputs) stack.push(i.node);
  }
  const grads = new Map<string, Value[]>(); // "node:index" -> contributions
  const key = (v: Value) => `${v.node.id}:${v.index}`;
  const addGrad = (v: Value, gv: Value) => {
    const k = key(v);
    const list = grads.get(k);
    if (list) list.push(gv); else grads.set(k, [gv]);
  };
  const total = (v: Value): Value | null => {
    const list = grads.get(key(v));
    if (!list) return null;
    const sum = g.addN(list);
    grads.set(key(v), [sum]);
    return sum;
  };
  addGrad(loss, g.out(g.addNode('ones', [], {}, [[1]], ['plain'], 'dloss')));
  const order = g.nodes.filter((n) => reach.has(n.id)).sort((a, b) => b.id - a.id);
  for (const node of order) {
    if (node.op === 'input' || node.op === 'param') continue;
    const dys = node.shapes.map((_, i) => total(g.out(node, i)));
    if (dys.every((d) => d === null)) continue;
    const rule = rules[node.op] as Rule<OpName> | undefined;
    if (!rule) throw new Error(`gradients: no gradient rule for op '${node.op}' (node ${node.name})`);
    const dxs = rule(g, node, dys);
    node.inputs.forEach((x, i) => {
      const dx = dxs[i];
      if (dx && reach.has(x.node.id)) addGrad(x, dx);
    });
  }
  return wrt.map((v) => total(v));
}

export type { Shape };
