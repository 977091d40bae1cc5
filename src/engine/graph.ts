// The graph IR: a small typed DAG of tensor operations. Model builders emit forward nodes,
// autodiff appends backward nodes to the same graph, backends execute it (see plan.ts).
// Shapes are logical NCHW (images) or NCDHW (volumes) everywhere: every activation op takes
// its spatial rank from its input's shape. A backend may store activations in another layout.

import { padsOf } from './ops.js';
import type { OpAttrs, OpName, ConvAttrs, ConvBnAttrs, BatchNormAttrs, InstanceNormAttrs, UpsampleMode, LossKind, Pad, Shape,
  DiceOptions, LossAttrs } from './ops.js';
import { checkDiceOptions } from './dice-options.js';

export type { Shape };

/** Where a value's data lives, for backends with their own activation layout (native: NHWC). */
export type Layout = 'act' | 'plain';

export interface Value {
  readonly node: Node;
  readonly index: number; // which output of the node
  readonly shape: Shape;
}

/** A node of op K, with K's attributes (ops.ts). */
export interface OpNode<K extends OpName> {
  readonly id: number;
  readonly op: K;
  readonly inputs: readonly Value[];
  readonly attrs: Readonly<OpAttrs[K]>;
  readonly shapes: readonly Shape[]; // one per output
  readonly layouts: readonly Layout[];
  name: string; // for error messages and debugging
}
/** Any node: a union discriminated by `op`, so checking the op narrows the attributes. */
export type Node = { [K in OpName]: OpNode<K> }[OpName];

export class ShapeError extends Error {}

export function numel(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

export const fmt = (s: Shape) => `[${s.join(',')}]`;

/** The name of the param v is (exporters and reports look weights up by it). */
export function paramName(v: Value): string {
  if (v.node.op !== 'param') throw new Error(`node ${v.node.name} (op ${v.node.op}) is not a param`);
  return v.node.attrs.name;
}

/** The spatial sizes of an activation [N,C,H,W] or [N,C,D,H,W]. */
export const spatialOf = (s: Shape): number[] => s.slice(2);

export type { ConvAttrs, BatchNormAttrs, InstanceNormAttrs, UpsampleMode, LossKind, Pad, DiceOptions };

/**
 * A graph of operations. Builder methods check shapes and throw a ShapeError that names the
 * op, the node and the shapes at fault. Params are named inputs whose values live in a
 * ParamStore (see params.ts); inputs are fed at each run.
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs = new Map<string, Value>();
  readonly params = new Map<string, Value>();
  private scope: string[] = [];

  /** Prefix names of nodes created inside fn (e.g. 'conv1_2'), for readable errors. */
  within<T>(name: string, fn: () => T): T {
    this.scope.push(name);
    try { return fn(); } finally { this.scope.pop(); }
  }

  /** Appends a node of any op (builders below check shapes first; autodiff adds backward ops). */
  addNode<K extends OpName>(op: K, inputs: Value[], attrs: OpAttrs[K], shapes: Shape[], layouts?: Layout[],
                            name?: string): OpNode<K> {
    const node: OpNode<K> = {
      id: this.nodes.length, op, inputs, attrs, shapes: shapes.map((s) => [...s]),
      layouts: layouts ?? shapes.map(() => 'act'),
      name: name ?? [...this.scope, `${op}#${this.nodes.length}`].join('/'),
    };
    this.nodes.push(node as Node);
    return node;
  }

  /** Output `index` of node (a node of any one op: OpNode<'conv'>, or a Node). */
  out(node: OpNode<OpName>, index = 0): Value {
    return { node: node as Node, index, shape: node.shapes[index] };
  }

  private fail(op: string, msg: string): never {
    const where = [...this.scope, op].join('/');
    throw new ShapeError(`${where}: ${msg}`);
  }

  private expectRank(op: string, v: Value, rank: number, what: string) {
    if (v.shape.length !== rank) this.fail(op, `${what} must have rank ${rank}, got ${fmt(v.shape)}`);
  }

  /** An activation: [N,C,H,W] or [N,C,D,H,W]. */
  private expectAct(op: string, v: Value, what: string) {
    if (v.shape.length !== 4 && v.shape.length !== 5)
      this.fail(op, `${what} must have rank 4 [N,C,H,W] or 5 [N,C,D,H,W], got ${fmt(v.shape)}`);
  }

  /** A per-channel param of c values. */
  private perChannel(op: string, pairs: [Value, string][], c: number, of: Value) {
    for (const [v, what] of pairs)
      if (v.shape.length !== 1 || v.shape[0] !== c) this.fail(op, `${what} ${fmt(v.shape)} does not match ${c} channels of ${fmt(of.shape)}`);
  }

  private same(op: string, a: Value, b: Value) {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
      this.fail(op, `shapes differ: ${fmt(a.shape)} vs ${fmt(b.shape)}`);
  }

  // ---- leaves ----
  input(name: string, shape: Shape): Value {
    if (this.inputs.has(name)) this.fail('input', `duplicate input '${name}'`);
    const v = this.out(this.addNode('input', [], { name }, [shape], ['act'], name));
    this.inputs.set(name, v);
    return v;
  }

  param(name: string, shape: Shape): Value {
    const seen = this.params.get(name);
    if (seen) {
      if (fmt(seen.shape) !== fmt(shape)) this.fail('param', `param '${name}' used with shapes ${fmt(seen.shape)} and ${fmt(shape)}`);
      return seen;
    }
    const v = this.out(this.addNode('param', [], { name }, [shape], ['plain'], name));
    this.params.set(name, v);
    return v;
  }

  // ---- layers ----
  /** Convolution; the kernel is the weight's [O, C, ...k] (per axis, e.g. 1x3x3), pad one value or one per axis. */
  conv(x: Value, w: Value, b: Value | null, attrs: Partial<ConvAttrs> = {}): Value {
    const a: ConvAttrs = { stride: 1, pad: 0, relu: false, ...attrs };
    a.pad = this.pad('conv', x, a.pad);
    return this.out(this.addNode('conv', b ? [x, w, b] : [x, w], a, [this.convShape('conv', x, w, b, a)]));
  }

  /** Checked padding: a number, or one value per spatial axis; an array of equal values becomes the number, so
   *  that convs padded alike on every axis are the same node whichever way the padding was written. */
  private pad(op: string, x: Value, pad: Pad): Pad {
    this.expectAct(op, x, 'input');
    const rank = x.shape.length - 2, p = padsOf(pad, rank);
    if (p.length !== rank || p.some((v) => !Number.isInteger(v) || v < 0))
      this.fail(op, `pad must be a non-negative integer or ${rank} of them (one per spatial axis), got ${JSON.stringify(pad)}`);
    return p.every((v) => v === p[0]) ? p[0] : p;
  }

  private convShape(op: string, x: Value, w: Value, b: Value | null, a: { stride: number; pad: Pad }): Shape {
    this.expectAct(op, x, 'input');
    this.expectRank(op, w, x.shape.length, `weight (for input ${fmt(x.shape)})`);
    const [n, c, ...sp] = x.shape;
    const [o, ci, ...k] = w.shape;
    if (ci !== c) this.fail(op, `input ${fmt(x.shape)} has ${c} channels but weight ${fmt(w.shape)} expects ${ci}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== o)) this.fail(op, `bias ${fmt(b.shape)} does not match ${o} output channels`);
    const pads = padsOf(a.pad, sp.length);
    const out = sp.map((s, i) => Math.floor((s + 2 * pads[i] - k[i]) / a.stride) + 1);
    if (out.some((s) => s < 1)) this.fail(op, `input ${fmt(x.shape)} is smaller than kernel ${k.join('x')}`);
    return [n, o, ...out];
  }

  /**
   * Eval-mode conv + batchnorm (+ ReLU) as one op (inference only: it has no gradient rule).
   * Same result as conv(x, w, b) followed by batchNorm(..., { training: false, eps, relu }).
   */
  convBnEval(x: Value, w: Value, b: Value | null, gamma: Value, beta: Value, runningMean: string, runningVar: string,
               attrs: { stride?: number; pad?: Pad; eps?: number; relu?: boolean } = {}): Value {
    const a: ConvBnAttrs = {
      stride: attrs.stride ?? 1, pad: this.pad('conv_bn', x, attrs.pad ?? 0), eps: attrs.eps ?? 1e-5, relu: !!attrs.relu,
    };
    const shape = this.convShape('conv_bn', x, w, b, a);
    const o = shape[1];
    for (const [v, what] of [[gamma, 'weight'], [beta, 'bias']] as const)
      if (v.shape.length !== 1 || v.shape[0] !== o) this.fail('conv_bn', `${what} ${fmt(v.shape)} does not match ${o} channels`);
    const rm = this.param(runningMean, [o]), rv = this.param(runningVar, [o]);
    return this.out(this.addNode('conv_bn', [x, w, gamma, beta, rm, rv, ...(b ? [b] : [])], a, [shape]));
  }

  /** Transposed conv, kernel k, stride k (the up-sampling of the paper preset). Weight [Cin, Cout, k, k(, k)] as PyTorch. */
  convTranspose(x: Value, w: Value, b: Value | null): Value {
    const op = 'conv_transpose';
    this.expectAct(op, x, 'input');
    this.expectRank(op, w, x.shape.length, `weight (for input ${fmt(x.shape)})`);
    const [n, c, ...sp] = x.shape;
    const [ci, o, k, ...ks] = w.shape;
    if (ci !== c) this.fail(op, `input ${fmt(x.shape)} has ${c} channels but weight ${fmt(w.shape)} expects ${ci}`);
    if (ks.some((kk) => kk !== k)) this.fail(op, `kernel must be ${sp.length === 3 ? 'cubic' : 'square'}, got ${fmt(w.shape)}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== o)) this.fail(op, `bias ${fmt(b.shape)} does not match ${o} output channels`);
    return this.out(this.addNode(op, b ? [x, w, b] : [x, w], { stride: k }, [[n, o, ...sp.map((s) => s * k)]]));
  }

  /** Max-pool 2x2(x2) stride 2, odd sizes floored; a volume may pool only some axes (factors 1 or 2 per axis). */
  maxPool(x: Value, factors?: readonly number[]): Value {
    this.expectAct('maxpool', x, 'input');
    const [n, c, ...sp] = x.shape;
    const f = this.factors('maxpool', sp.length, factors);
    if (sp.some((s, i) => s < f[i])) this.fail('maxpool', `input ${fmt(x.shape)} is smaller than ${f.join('x')}`);
    return this.out(this.addNode('maxpool', [x], Graph.factorAttr(f), [[n, c, ...sp.map((s, i) => Math.floor(s / f[i]))]]));
  }

  /** x2 up-sampling along every spatial axis (or per axis: factors 1 or 2, volumes). bilinear (trilinear for
   *  volumes) with alignCorners maps output o to input o*(in-1)/(out-1). */
  upsample2x(x: Value, mode: UpsampleMode = 'bilinear', alignCorners = true, factors?: readonly number[]): Value {
    this.expectAct('upsample2x', x, 'input');
    const [n, c, ...sp] = x.shape;
    const f = this.factors('upsample2x', sp.length, factors);
    return this.out(this.addNode('upsample2x', [x], { mode, alignCorners, ...Graph.factorAttr(f) },
      [[n, c, ...sp.map((s, i) => f[i] * s)]]));
  }

  /** Checked per-axis factors: one per spatial axis, 1 or 2, volumes only (the image kernels halve both axes). */
  private factors(op: string, rank: number, factors?: readonly number[]): number[] {
    if (!factors) return new Array<number>(rank).fill(2);
    if (factors.length !== rank || factors.some((f) => f !== 1 && f !== 2))
      this.fail(op, `factors must be ${rank} values of 1 or 2, got ${JSON.stringify(factors)}`);
    if (rank !== 3 && factors.some((f) => f !== 2)) this.fail(op, `per-axis factors are for volumes, got ${JSON.stringify(factors)}`);
    return [...factors];
  }

  /** The attribute of checked factors: absent where every axis halves (the default op, the same node as before). */
  private static factorAttr(f: number[]): { factors?: number[] } {
    return f.every((v) => v === 2) ? {} : { factors: f };
  }

  /** Channel concatenation (axis 1). */
  concat(xs: Value[]): Value {
    if (xs.length === 0) this.fail('concat', 'no inputs');
    for (const x of xs) this.expectAct('concat', x, 'input');
    const s0 = xs[0].shape;
    for (const x of xs)
      if (x.shape.length !== s0.length || x.shape.some((d, i) => i !== 1 && d !== s0[i]))
        this.fail('concat', `inputs differ outside the channel axis: ${xs.map((v) => fmt(v.shape)).join(' vs ')}`);
    const c = xs.reduce((s, x) => s + x.shape[1], 0);
    if (xs.length === 1) return xs[0];
    const [n, , ...sp] = xs[0].shape;
    return this.out(this.addNode('concat', xs, {}, [[n, c, ...sp]]));
  }

  /**
   * concat([...xs, upsample2x(low, mode, alignCorners)]) as one op: the up-sampling writes straight
   * into its channels of the output (no separate up-sampled tensor). xs may be empty.
   */
  concatUp(xs: Value[], low: Value, mode: UpsampleMode = 'bilinear', alignCorners = true, factors?: readonly number[]): Value {
    const op = 'concat_up';
    if (mode !== 'bilinear' && mode !== 'nearest') this.fail(op, `mode must be bilinear or nearest, got '${String(mode)}'`);
    this.expectAct(op, low, 'low input');
    for (const x of xs) this.expectAct(op, x, 'input');
    const [n, cl, ...spl] = low.shape;
    const f = this.factors(op, spl.length, factors);
    const sp = spl.map((s, i) => f[i] * s);
    for (const x of xs)
      if (x.shape.length !== low.shape.length || x.shape[0] !== n || x.shape.slice(2).some((d, i) => d !== sp[i]))
        this.fail(op, `inputs ${xs.map((v) => fmt(v.shape)).join(', ')} must be [${n},*,${sp.join(',')}]: ` +
          `the batch and ${factors ? `${f.join('x')} times` : 'twice'} the spatial size of the up-sampled input ${fmt(low.shape)}`);
    const c = xs.reduce((s, x) => s + x.shape[1], cl);
    return this.out(this.addNode(op, [...xs, low], { mode, alignCorners: !!alignCorners, ...Graph.factorAttr(f) },
      [[n, c, ...sp]]));
  }

  batchNorm(x: Value, gamma: Value, beta: Value, runningMean: string, runningVar: string,
            attrs: { training: boolean; eps?: number; momentum?: number; relu?: boolean }): Value {
    this.expectAct('batchnorm', x, 'input');
    const c = x.shape[1];
    this.perChannel('batchnorm', [[gamma, 'weight'], [beta, 'bias']], c, x);
    if (attrs.training && numel(x.shape) / c < 2)
      this.fail('batchnorm', `training needs more than one value per channel, got ${fmt(x.shape)}`);
    const rm = this.param(runningMean, [c]);
    const rv = this.param(runningVar, [c]);
    const a: BatchNormAttrs = { eps: 1e-5, momentum: 0.1, relu: false, ...attrs, runningMean, runningVar };
    return this.out(this.addNode('batchnorm', [x, gamma, beta, rm, rv], a, [x.shape]));
  }

  /**
   * Instance norm (PyTorch InstanceNorm(affine=True)): per image and channel, statistics over the
   * spatial positions (biased variance), in training and eval alike; no running statistics.
   */
  instanceNorm(x: Value, gamma: Value, beta: Value, attrs: { eps?: number; relu?: boolean } = {}): Value {
    this.expectAct('instancenorm', x, 'input');
    this.perChannel('instancenorm', [[gamma, 'weight'], [beta, 'bias']], x.shape[1], x);
    if (numel(spatialOf(x.shape)) < 2) this.fail('instancenorm', `needs more than one spatial position, got ${fmt(x.shape)}`);
    const a: InstanceNormAttrs = { eps: attrs.eps ?? 1e-5, relu: !!attrs.relu };
    return this.out(this.addNode('instancenorm', [x, gamma, beta], a, [x.shape]));
  }

  relu(x: Value): Value { return this.unary('relu', x, {}); }
  leakyRelu(x: Value, alpha = 0.01): Value { return this.unary('leaky_relu', x, { alpha }); }
  sigmoid(x: Value): Value { return this.unary('sigmoid', x, {}); }
  /** Softmax over the channel axis (1). */
  softmax(x: Value): Value { this.expectAct('softmax', x, 'input'); return this.unary('softmax', x, {}); }
  /** Inverted dropout; the mask is a hash of (seed, run step, logical NC(D)HW index): same on every backend. */
  dropout(x: Value, p: number, seed: number, training: boolean): Value {
    if (!(p >= 0 && p < 1)) this.fail('dropout', `p must be in [0, 1), got ${p}`);
    if (!training || p === 0) return x;
    return this.unary('dropout', x, { p, seed });
  }
  scale(x: Value, s: number): Value { return this.unary('scale', x, { s }); }

  /** Element-wise a + b (same shapes). */
  add(a: Value, b: Value): Value { this.same('add', a, b); return this.out(this.addNode('add', [a, b], {}, [a.shape], [a.node.layouts[a.index]])); }
  /** Element-wise a * b (same shapes). */
  mul(a: Value, b: Value): Value { this.same('mul', a, b); return this.out(this.addNode('mul', [a, b], {}, [a.shape], [a.node.layouts[a.index]])); }
  /** Sum of several same-shaped values. */
  addN(xs: Value[]): Value {
    if (xs.length === 1) return xs[0];
    for (const x of xs.slice(1)) this.same('add_n', xs[0], x);
    return this.out(this.addNode('add_n', xs, {}, [xs[0].shape], [xs[0].node.layouts[xs[0].index]]));
  }
  /** Mean of all elements, shape [1]. */
  meanAll(x: Value): Value { return this.out(this.addNode('mean_all', [x], {}, [[1]], ['plain'])); }

  /**
   * Segmentation loss on logits [N,K,H,W] or [N,K,D,H,W] and a target of the same shape (one-hot for ce kinds),
   * shape [1]. bce_dice = bceWeight * BCE-with-logits (mean) + (1 - mean over images of soft Dice);
   * ce_dice = cross-entropy of the channel softmax + (1 - mean over images and classes of soft Dice).
   * dice: the Dice term without the background class and/or over the whole batch (DiceOptions).
   */
  loss(logits: Value, target: Value, kind: LossKind, bceWeight = 0.5, dice: DiceOptions = {}): Value {
    this.expectAct('loss', logits, 'logits');
    this.same('loss', logits, target);
    checkDiceOptions(kind, logits.shape[1], dice);
    // only the options that differ from the defaults: today's graphs stay as they were
    const attrs: LossAttrs = { kind, bceWeight };
    if (dice.diceBackground === false) attrs.diceBackground = false;
    if (dice.batchDice) attrs.batchDice = true;
    return this.out(this.addNode('loss', [logits, target], attrs, [[1]], ['plain']));
  }

  private unary<K extends 'relu' | 'leaky_relu' | 'sigmoid' | 'softmax' | 'dropout' | 'scale'>(op: K, x: Value,
                                                                                            attrs: OpAttrs[K]): Value {
    return this.out(this.addNode(op, [x], attrs, [x.shape], [x.node.layouts[x.index]]));
  }
}
