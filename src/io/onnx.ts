// ONNX export (opset 17): serialises the forward graph of a model in eval mode, with its
// probabilities (accurate = mean of the heads', fast = one head, pruned = L^d's head) as the
// output. Input 'input' [N, C, H, W] with dynamic N, H, W (H, W multiples of 2^level); for
// volume models (dims 3) [N, C, D, H, W], every op written for the input's spatial rank.
import { Graph, paramName, type Node, type OpNode, type Value } from '../engine/graph.js';
import { SegModel, type InferenceMode } from '../models/model.js';
import { multipleText, sizeMultiple } from '../models/config.js';
import { factorsOf, padsOf } from '../engine/ops.js';
import { ProtoWriter } from './protobuf.js';
import { writeFileAtomicSync } from './safetensors.js';

export type OnnxMode = InferenceMode | { kind: 'pruned'; level: number };

export interface OnnxOptions {
  mode?: OnnxMode;
  /** Symbolic H and W (D, H, W for volumes; default true); false fixes them to `size`. */
  dynamicSize?: boolean;
  /** Spatial size written when dynamicSize is false (default 96). */
  size?: number;
  /** Fold each batch norm into the conv before it (fewer ops; default false = BatchNormalization). */
  foldBatchNorm?: boolean;
}

const OPSET = 17;
const IR_VERSION = 8; // the IR of opset 17
const FLOAT = 1;
const INT64 = 7;

interface Attr { name: string; i?: number; f?: number; s?: string; ints?: number[] }
interface ONode { op: string; inputs: string[]; outputs: string[]; attrs: Attr[]; name: string }
interface Init { name: string; dims: number[]; data: Float32Array | BigInt64Array }

function attrProto(a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  // AttributeType: FLOAT 1, INT 2, STRING 3, INTS 7
  if (a.f !== undefined) w.float(2, a.f).int(20, 1);
  else if (a.i !== undefined) w.int(3, a.i).int(20, 2);
  else if (a.s !== undefined) w.string(4, a.s).int(20, 3);
  else { for (const v of a.ints ?? []) w.int(8, v); w.int(20, 7); }
  return w;
}

function tensorProto(t: Init): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data instanceof Float32Array ? FLOAT : INT64).string(8, t.name);
  return w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensor = new ProtoWriter().int(1, FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensor));
}

/** The model (pruned if asked) and the value to export, built on a graph in eval mode. */
function buildGraph(model: SegModel, mode: OnnxMode, sides: number[]): { g: Graph; m: SegModel; out: Value } {
  const m = mode.kind === 'pruned' ? model.prune(mode.level) : model;
  const g = new Graph();
  const x = g.input('input', [1, m.config.inChannels, ...sides]);
  const heads = m.forward(g, x, { training: false });
  const out = m.probabilities(g, heads, mode.kind === 'pruned' ? { kind: 'fast' } : mode);
  return { g, m, out };
}

/** Translates the nodes `out` depends on into ONNX nodes and initializers. */
function translate(g: Graph, m: SegModel, out: Value, fold: boolean): { nodes: ONode[]; inits: Init[] } {
  const need = new Set<number>();
  const stack = [out.node];
  while (stack.length) {
    const n = stack.pop()!;
    if (need.has(n.id)) continue;
    need.add(n.id);
    for (const i of n.inputs) stack.push(i.node);
  }
  const readers = new Map<number, Node[]>();
  for (const n of g.nodes) if (need.has(n.id)) for (const i of n.inputs) readers.set(i.node.id, [...(readers.get(i.node.id) ?? []), n]);
  const nodes: ONode[] = [];
  const inits: Init[] = [];
  const used = new Set<string>();
  const param = (name: string) => {
    if (!used.has(name)) {
      const p = m.params.get(name);
      inits.push({ name, dims: [...p.shape], data: p.data });
      used.add(name);
    }
    return name;
  };
  const constant = (name: string, dims: number[], data: Float32Array | BigInt64Array) => {
    if (!used.has(name)) { inits.push({ name, dims, data }); used.add(name); }
    return name;
  };
  const name = (v: Value): string => {
    if (v.node.op === 'input') return v.node.attrs.name;
    if (v.node.op === 'param') return param(v.node.attrs.name);
    if (v === out || (v.node === out.node && v.index === out.index)) return 'output';
    return `${v.node.name}:${v.index}`;
  };
  const emit = (op: string, inputs: string[], outputs: string[], attrs: Attr[], nodeName: string) =>
    nodes.push({ op, inputs, outputs, attrs, name: nodeName });
  /** Emits op, then Relu when fused in our graph; the last output is the node's value. */
  const withRelu = (n: Node, op: string, inputs: string[], attrs: Attr[], relu: boolean) => {
    const y = name(g.out(n));
    if (!relu) return emit(op, inputs, [y], attrs, n.name);
    emit(op, inputs, [`${y}:pre`], attrs, n.name);
    emit('Relu', [`${y}:pre`], [y], [], `${n.name}/relu`);
  };

  /** Per spatial axis of x: [v, v] or [v, v, v]. */
  const each = (x: Value, v: number) => x.shape.slice(2).map(() => v);
  /** Inputs and attributes of the Resize that up-samples x by 2 (or n's per-axis factors) as n's mode says
   *  (upsample2x, concat_up): 'linear' interpolates along every scaled axis (bilinear, trilinear for volumes). */
  const resize = (x: Value, n: OpNode<'upsample2x' | 'concat_up'>) => {
    const f = factorsOf(n.attrs, x.shape.length - 2);
    const id = f.every((v) => v === 2) ? `x2${x.shape.length === 5 ? '_3d' : ''}` : f.join('x');
    return [name(x), '', constant(`resize_scales_${id}`, [x.shape.length], Float32Array.from([1, 1, ...f]))];
  };
  const resizeAttrs = (n: OpNode<'upsample2x' | 'concat_up'>): Attr[] => n.attrs.mode === 'nearest'
    ? [{ name: 'mode', s: 'nearest' }, { name: 'coordinate_transformation_mode', s: 'asymmetric' }, { name: 'nearest_mode', s: 'floor' }]
    : [{ name: 'mode', s: 'linear' }, { name: 'coordinate_transformation_mode', s: n.attrs.alignCorners ? 'align_corners' : 'pytorch_half_pixel' }];

  for (const n of g.nodes) {
    if (!need.has(n.id) || n.op === 'input' || n.op === 'param') continue;
    const ins = () => n.inputs.map(name);
    switch (n.op) {
      case 'conv': {
        const [x, w, b] = n.inputs;
        // pads: the begins of every axis, then the ends (per axis for kernels such as 1x3x3)
        const p = padsOf(n.attrs.pad, x.shape.length - 2);
        const attrs: Attr[] = [{ name: 'kernel_shape', ints: w.shape.slice(2) }, { name: 'pads', ints: [...p, ...p] },
          { name: 'strides', ints: each(x, n.attrs.stride) }];
        const bn = readers.get(n.id);
        const next = bn?.length === 1 && bn[0].op === 'batchnorm' && !n.attrs.relu && fold ? bn[0] : null;
        if (next) {
          // conv then BN: w' = w g / sqrt(v + eps), b' = (b - mean) g / sqrt(v + eps) + beta.
          const [wf, bf] = foldBn(m, paramName(w), b ? paramName(b) : null, next);
          const wn = constant(`${paramName(w)}:folded`, [...w.shape], wf);
          const bnName = constant(`${paramName(w).replace(/weight$/, 'bias')}:folded`, [w.shape[0]], bf);
          withRelu(next, 'Conv', [name(n.inputs[0]), wn, bnName], attrs, next.attrs.relu);
          need.delete(next.id); // emitted here, with the conv
        } else withRelu(n, 'Conv', ins(), attrs, n.attrs.relu);
        break;
      }
      case 'conv_transpose': {
        const s = n.attrs.stride, x = n.inputs[0];
        withRelu(n, 'ConvTranspose', ins(), [{ name: 'kernel_shape', ints: each(x, s) }, { name: 'strides', ints: each(x, s) }], false);
        break;
      }
      case 'maxpool': {
        const f = factorsOf(n.attrs, n.inputs[0].shape.length - 2);
        withRelu(n, 'MaxPool', ins(), [{ name: 'kernel_shape', ints: f }, { name: 'strides', ints: f }], false);
        break;
      }
      case 'upsample2x': withRelu(n, 'Resize', resize(n.inputs[0], n), resizeAttrs(n), false); break;
      case 'concat': withRelu(n, 'Concat', ins(), [{ name: 'axis', i: 1 }], false); break;
      case 'concat_up': {
        // Exported as the pair it fuses: Resize of the last input, then Concat.
        const xs = n.inputs.slice(0, -1), low = n.inputs[n.inputs.length - 1];
        if (!xs.length) { withRelu(n, 'Resize', resize(low, n), resizeAttrs(n), false); break; }
        const u = `${n.name}/up:0`;
        emit('Resize', resize(low, n), [u], resizeAttrs(n), `${n.name}/up`);
        withRelu(n, 'Concat', [...xs.map(name), u], [{ name: 'axis', i: 1 }], false);
        break;
      }
      case 'batchnorm': {
        const [x, gamma, beta, rm, rv] = n.inputs;
        withRelu(n, 'BatchNormalization', [name(x), name(gamma), name(beta), name(rm), name(rv)],
          [{ name: 'epsilon', f: n.attrs.eps }, { name: 'momentum', f: 1 - n.attrs.momentum }], n.attrs.relu);
        break;
      }
      case 'instancenorm':
        // InstanceNormalization: per image and channel over the spatial axes, biased variance, as ours.
        withRelu(n, 'InstanceNormalization', ins(), [{ name: 'epsilon', f: n.attrs.eps }], n.attrs.relu);
        break;
      case 'relu': withRelu(n, 'Relu', ins(), [], false); break;
      case 'sigmoid': withRelu(n, 'Sigmoid', ins(), [], false); break;
      case 'softmax': withRelu(n, 'Softmax', ins(), [{ name: 'axis', i: 1 }], false); break;
      case 'leaky_relu': withRelu(n, 'LeakyRelu', ins(), [{ name: 'alpha', f: n.attrs.alpha }], false); break;
      case 'scale': {
        const s = constant(`scale_${n.id}`, [], Float32Array.from([n.attrs.s]));
        withRelu(n, 'Mul', [name(n.inputs[0]), s], [], false);
        break;
      }
      case 'add': withRelu(n, 'Add', ins(), [], false); break;
      case 'mul': withRelu(n, 'Mul', ins(), [], false); break;
      case 'add_n': withRelu(n, 'Sum', ins(), [], false); break;
      default: throw new Error(`ONNX export: op '${n.op}' (node ${n.name}) has no ONNX translation (export the eval-mode forward graph)`);
    }
  }
  return { nodes, inits };
}

function foldBn(m: SegModel, wName: string, bName: string | null, bn: OpNode<'batchnorm'>): [Float32Array, Float32Array] {
  const w = m.params.get(wName);
  const [gamma, beta, rm, rv] = bn.inputs.slice(1).map((v) => m.params.get(paramName(v)).data);
  const cout = w.shape[0];
  const per = w.data.length / cout;
  const wf = new Float32Array(w.data.length);
  const bf = new Float32Array(cout);
  const b = bName ? m.params.get(bName).data : new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const s = gamma[o] / Math.sqrt(rv[o] + bn.attrs.eps);
    for (let k = 0; k < per; k++) wf[o * per + k] = w.data[o * per + k] * s;
    bf[o] = (b[o] - rm[o]) * s + beta[o];
  }
  return [wf, bf];
}

/** The ONNX ModelProto bytes of `model` in the given mode. */
export function toOnnx(model: SegModel, opts: OnnxOptions = {}): Uint8Array {
  const mode = opts.mode ?? { kind: 'accurate' };
  const dynamic = opts.dynamicSize ?? true;
  // Sides 2x the size multiple: the smallest that leave instance norm more than one position at the bottom.
  const ms = sizeMultiple(mode.kind === 'pruned' ? { ...model.config, level: mode.level } : model.config);
  const { g, m, out } = buildGraph(model, mode, ms.map((v) => 2 * v));
  const { nodes, inits } = translate(g, m, out, opts.foldBatchNorm ?? false);
  const size = opts.size ?? 96;
  const sides = m.config.dims === 3 ? ['D', 'H', 'W'] : ['H', 'W'];
  const hw: (number | string)[] = dynamic ? sides : sides.map(() => size);
  const graph = new ProtoWriter();
  for (const n of nodes) {
    const nw = new ProtoWriter();
    for (const i of n.inputs) nw.string(1, i);
    for (const o of n.outputs) nw.string(2, o);
    nw.string(3, n.name).string(4, n.op);
    for (const a of n.attrs) nw.message(5, attrProto(a));
    graph.message(1, nw);
  }
  const modeText = mode.kind === 'fast' ? `fast${mode.head !== undefined ? ` head ${mode.head}` : ''}` : mode.kind === 'pruned' ? `pruned L${mode.level}` : 'accurate';
  graph.string(2, `unetpp ${m.config.arch} ${modeText}`);
  for (const t of inits) graph.message(5, tensorProto(t));
  graph.message(11, valueInfo('input', ['N', m.config.inChannels, ...hw]));
  graph.message(12, valueInfo('output', ['N', m.config.classes, ...hw]));
  const meta = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
  const w = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'unetpp')
    .string(3, '0.1.0')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET))
    .message(14, meta('config', JSON.stringify(m.config)))
    .message(14, meta('mode', modeText))
    .message(14, meta('output', 'probabilities'))
    .message(14, meta('input_multiple', multipleText(sizeMultiple(m.config))));
  return w.finish();
}

/** Writes the ONNX file atomically. */
export function exportOnnx(path: string, model: SegModel, opts: OnnxOptions = {}): void {
  writeFileAtomicSync(path, toOnnx(model, opts));
}
