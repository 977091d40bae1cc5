// The graph IR: a small typed DAG of tensor operations. Model builders emit forward nodes,
// autodiff appends backward nodes to the same graph, backends execute it (see plan.ts).
// Shapes are logical NCHW everywhere; a backend may store activations in another layout.

export type Shape = readonly number[];

/** Where a value's data lives, for backends with their own activation layout (native: NHWC). */
export type Layout = 'act' | 'plain';

export interface Value {
  readonly node: Node;
  readonly index: number; // which output of the node
  readonly shape: Shape;
}

export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly attrs: Record<string, any>;
  readonly shapes: readonly Shape[]; // one per output
  readonly layouts: readonly Layout[];
  name: string; // for error messages and debugging
}

export class ShapeError extends Error {}

export function numel(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

export const fmt = (s: Shape) => `[${s.join(',')}]`;

export interface ConvAttrs { stride: number; pad: number; relu: boolean }
export interface BatchNormAttrs {
  training: boolean; eps: number; momentum: number; relu: boolean;
  /** Param names of the running statistics, updated in place by training-mode kernels. */
  runningMean: string; runningVar: string;
}
export type UpsampleMode = 'bilinear' | 'nearest';
export type LossKind = 'bce_dice' | 'bce' | 'dice' | 'ce_dice' | 'ce';

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

  add(op: string, inputs: Value[], attrs: Record<string, any>, shapes: Shape[], layouts?: Layout[], name?: string): Node {
    const node: Node = {
      id: this.nodes.length, op, inputs, attrs, shapes: shapes.map((s) => [...s]),
      layouts: layouts ?? shapes.map(() => 'act'),
      name: name ?? [...this.scope, `${op}#${this.nodes.length}`].join('/'),
    };
    this.nodes.push(node);
    return node;
  }

  out(node: Node, index = 0): Value {
    return { node, index, shape: node.shapes[index] };
  }

  private fail(op: string, msg: string): never {
    const where = [...this.scope, op].join('/');
    throw new ShapeError(`${where}: ${msg}`);
  }

  private expectRank(op: string, v: Value, rank: number, what: string) {
    if (v.shape.length !== rank) this.fail(op, `${what} must have rank ${rank}, got ${fmt(v.shape)}`);
  }

  private same(op: string, a: Value, b: Value) {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
      this.fail(op, `shapes differ: ${fmt(a.shape)} vs ${fmt(b.shape)}`);
  }

  // ---- leaves ----
  input(name: string, shape: Shape): Value {
    if (this.inputs.has(name)) this.fail('input', `duplicate input '${name}'`);
    const v = this.out(this.add('input', [], { name }, [shape], ['act'], name));
    this.inputs.set(name, v);
    return v;
  }

  param(name: string, shape: Shape): Value {
    const seen = this.params.get(name);
    if (seen) {
      if (fmt(seen.shape) !== fmt(shape)) this.fail('param', `param '${name}' used with shapes ${fmt(seen.shape)} and ${fmt(shape)}`);
      return seen;
    }
    const v = this.out(this.add('param', [], { name }, [shape], ['plain'], name));
    this.params.set(name, v);
    return v;
  }

  // ---- layers ----
  conv(x: Value, w: Value, b: Value | null, attrs: Partial<ConvAttrs> = {}): Value {
    const a: ConvAttrs = { stride: 1, pad: 0, relu: false, ...attrs };
    return this.out(this.add('conv', b ? [x, w, b] : [x, w], a, [this.convShape('conv', x, w, b, a)]));
  }

  private convShape(op: string, x: Value, w: Value, b: Value | null, a: { stride: number; pad: number }): Shape {
    this.expectRank(op, x, 4, 'input');
    this.expectRank(op, w, 4, 'weight');
    const [n, c, h, wd] = x.shape;
    const [o, ci, kh, kw] = w.shape;
    if (ci !== c) this.fail(op, `input ${fmt(x.shape)} has ${c} channels but weight ${fmt(w.shape)} expects ${ci}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== o)) this.fail(op, `bias ${fmt(b.shape)} does not match ${o} output channels`);
    const ho = Math.floor((h + 2 * a.pad - kh) / a.stride) + 1;
    const wo = Math.floor((wd + 2 * a.pad - kw) / a.stride) + 1;
    if (ho < 1 || wo < 1) this.fail(op, `input ${fmt(x.shape)} is smaller than kernel ${kh}x${kw}`);
    return [n, o, ho, wo];
  }

  /**
   * Eval-mode conv + batchnorm (+ ReLU) as one op (inference only: it has no gradient rule).
   * Same result as conv(x, w, b) followed by batchNorm(..., { training: false, eps, relu }).
   */
  convBnEval(x: Value, w: Value, b: Value | null, gamma: Value, beta: Value, runningMean: string, runningVar: string,
               attrs: { stride?: number; pad?: number; eps?: number; relu?: boolean } = {}): Value {
    const a = { stride: attrs.stride ?? 1, pad: attrs.pad ?? 0, eps: attrs.eps ?? 1e-5, relu: !!attrs.relu };
    const shape = this.convShape('conv_bn', x, w, b, a);
    const o = shape[1];
    for (const [v, what] of [[gamma, 'weight'], [beta, 'bias']] as const)
      if (v.shape.length !== 1 || v.shape[0] !== o) this.fail('conv_bn', `${what} ${fmt(v.shape)} does not match ${o} channels`);
    const rm = this.param(runningMean, [o]), rv = this.param(runningVar, [o]);
    return this.out(this.add('conv_bn', [x, w, gamma, beta, rm, rv, ...(b ? [b] : [])], a, [shape]));
  }

  /** Transposed conv, kernel k, stride k (the up-sampling of the paper preset). Weight [Cin, Cout, k, k] as PyTorch. */
  convTranspose(x: Value, w: Value, b: Value | null): Value {
    this.expectRank('conv_transpose', x, 4, 'input');
    this.expectRank('conv_transpose', w, 4, 'weight');
    const [n, c, h, wd] = x.shape;
    const [ci, o, kh, kw] = w.shape;
    if (ci !== c) this.fail('conv_transpose', `input ${fmt(x.shape)} has ${c} channels but weight ${fmt(w.shape)} expects ${ci}`);
    if (kh !== kw) this.fail('conv_transpose', `kernel must be square, got ${fmt(w.shape)}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== o)) this.fail('conv_transpose', `bias ${fmt(b.shape)} does not match ${o} output channels`);
    return this.out(this.add('conv_transpose', b ? [x, w, b] : [x, w], { stride: kh }, [[n, o, h * kh, wd * kw]]));
  }

  /** Max-pool 2x2 stride 2; odd sizes are floored. */
  maxPool(x: Value): Value {
    this.expectRank('maxpool', x, 4, 'input');
    const [n, c, h, w] = x.shape;
    if (h < 2 || w < 2) this.fail('maxpool', `input ${fmt(x.shape)} is smaller than 2x2`);
    return this.out(this.add('maxpool', [x], {}, [[n, c, Math.floor(h / 2), Math.floor(w / 2)]]));
  }

  /** x2 up-sampling. bilinear with alignCorners maps output o to input o*(in-1)/(out-1). */
  upsample2x(x: Value, mode: UpsampleMode = 'bilinear', alignCorners = true): Value {
    this.expectRank('upsample2x', x, 4, 'input');
    const [n, c, h, w] = x.shape;
    return this.out(this.add('upsample2x', [x], { mode, alignCorners }, [[n, c, 2 * h, 2 * w]]));
  }

  /** Channel concatenation (axis 1). */
  concat(xs: Value[]): Value {
    if (xs.length === 0) this.fail('concat', 'no inputs');
    for (const x of xs) this.expectRank('concat', x, 4, 'input');
    const [n, , h, w] = xs[0].shape;
    for (const x of xs)
      if (x.shape[0] !== n || x.shape[2] !== h || x.shape[3] !== w)
        this.fail('concat', `inputs differ outside the channel axis: ${xs.map((v) => fmt(v.shape)).join(' vs ')}`);
    const c = xs.reduce((s, x) => s + x.shape[1], 0);
    if (xs.length === 1) return xs[0];
    return this.out(this.add('concat', xs, {}, [[n, c, h, w]]));
  }

  /**
   * concat([...xs, upsample2x(low, mode, alignCorners)]) as one op: the up-sampling writes straight
   * into its channels of the output (no separate up-sampled tensor). xs may be empty.
   */
  concatUp(xs: Value[], low: Value, mode: UpsampleMode = 'bilinear', alignCorners = true): Value {
    const op = 'concat_up';
    if (mode !== 'bilinear' && mode !== 'nearest') this.fail(op, `mode must be bilinear or nearest, got '${String(mode)}'`);
    this.expectRank(op, low, 4, 'low input');
    for (const x of xs) this.expectRank(op, x, 4, 'input');
    const [n, cl, hl, wl] = low.shape;
    const h = 2 * hl, w = 2 * wl;
    for (const x of xs)
      if (x.shape[0] !== n || x.shape[2] !== h || x.shape[3] !== w)
        this.fail(op, `inputs ${xs.map((v) => fmt(v.shape)).join(', ')} must be [${n},*,${h},${w}]: ` +
          `the batch and twice the spatial size of the up-sampled input ${fmt(low.shape)}`);
    const c = xs.reduce((s, x) => s + x.shape[1], cl);
    return this.out(this.add(op, [...xs, low], { mode, alignCorners: !!alignCorners }, [[n, c, h, w]]));
  }

  batchNorm(x: Value, gamma: Value, beta: Value, runningMean: string, runningVar: string,
            attrs: { training: boolean; eps?: number; momentum?: number; relu?: boolean }): Value {
    this.expectRank('batchnorm', x, 4, 'input');
    const c = x.shape[1];
    for (const [v, what] of [[gamma, 'weight'], [beta, 'bias']] as const)
      if (v.shape.length !== 1 || v.shape[0] !== c) this.fail('batchnorm', `${what} ${fmt(v.shape)} does not match ${c} channels of ${fmt(x.shape)}`);
    if (attrs.training && x.shape[0] * x.shape[2] * x.shape[3] < 2)
      this.fail('batchnorm', `training needs more than one value per channel, got ${fmt(x.shape)}`);
    const rm = this.param(runningMean, [c]);
    const rv = this.param(runningVar, [c]);
    const a: BatchNormAttrs = { eps: 1e-5, momentum: 0.1, relu: false, ...attrs, runningMean, runningVar };
    return this.out(this.add('batchnorm', [x, gamma, beta, rm, rv], a, [x.shape]));
  }

  relu(x: Value): Value { return this.unary('relu', x); }
  leakyRelu(x: Value, alpha = 0.01): Value { return this.unary('leaky_relu', x, { alpha }); }
  sigmoid(x: Value): Value { return this.unary('sigmoid', x); }
  /** Softmax over the channel axis (1). */
  softmax(x: Value): Value { this.expectRank('softmax', x, 4, 'input'); return this.unary('softmax', x); }
  /** Inverted dropout; the mask is a hash of (seed, run step, logical NCHW index): same on every backend. */
  dropout(x: Value, p: number, seed: number, training: boolean): Value {
    if (!(p >= 0 && p < 1)) this.fail('dropout', `p must be in [0, 1), got ${p}`);
    if (!training || p === 0) return x;
    return this.unary('dropout', x, { p, seed });
  }
  scale(x: Value, s: number): Value { return this.unary('scale', x, { s }); }

  add2(a: Value, b: Value): Value { this.same('add', a, b); return this.out(this.add('add', [a, b], {}, [a.shape], [a.node.layouts[a.index]])); }
  mul(a: Value, b: Value): Value { this.same('mul', a, b); return this.out(this.add('mul', [a, b], {}, [a.shape], [a.node.layouts[a.index]])); }
  /** Sum of several same-shaped values. */
  addN(xs: Value[]): Value {
    if (xs.length === 1) return xs[0];
    for (const x of xs.slice(1)) this.same('add_n', xs[0], x);
    return this.out(this.add('add_n', xs, {}, [xs[0].shape], [xs[0].node.layouts[xs[0].index]]));
  }
  /** Mean of all elements, shape [1]. */
  meanAll(x: Value): Value { return this.out(this.add('mean_all', [x], {}, [[1]], ['plain'])); }

  /**
   * Segmentation loss on logits [N,K,H,W] and a target of the same shape (one-hot for ce kinds),
   * shape [1]. bce_dice = bceWeight * BCE-with-logits (mean) + (1 - mean over images of soft Dice);
   * ce_dice = cross-entropy of the channel softmax + (1 - mean over images and classes of soft Dice).
   */
  loss(logits: Value, target: Value, kind: LossKind, bceWeight = 0.5): Value {
    this.expectRank('loss', logits, 4, 'logits');
    this.same('loss', logits, target);
    return this.out(this.add('loss', [logits, target], { kind, bceWeight }, [[1]], ['plain']));
  }

  private unary(op: string, x: Value, attrs: Record<string, any> = {}): Value {
    return this.out(this.add(op, [x], attrs, [x.shape], [x.node.layouts[x.index]]));
  }
}
