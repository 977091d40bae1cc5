// Parity with the PyTorch peer (torch_unetpp.py export): imports its weights, runs our graph
// forward + backward in eval and train mode on a backend and measures the largest differences
// of logits, loss, d loss/d x and every parameter gradient against the peer's.
import { join } from 'node:path';
import { Graph, type Value } from '../engine/graph.js';
import { gradients } from '../engine/autodiff.js';
import { Plan } from '../engine/plan.js';
import type { Backend } from '../engine/backend.js';
import { readSafetensors, type TensorOut } from './safetensors.js';
import { importPyTorch } from './pytorch.js';

export interface Diff {
  /** max |ours - peer| */
  maxAbs: number;
  /** max |peer| */
  maxRef: number;
  /** maxAbs / max(1, maxRef): the figure compared with the tolerance */
  rel: number;
}

export interface ParityReport {
  mode: 'eval' | 'train';
  logits: Diff;
  loss: Diff;
  dx: Diff;
  /** The worst parameter gradient, and how many were compared. */
  grads: Diff & { worst: string; count: number };
}

function diff(ours: ArrayLike<number>, ref: ArrayLike<number>, what: string): Diff {
  if (ours.length !== ref.length) throw new Error(`${what}: ${ours.length} values vs the peer's ${ref.length}`);
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates as the worst
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { maxAbs, maxRef, rel: maxAbs / Math.max(1, maxRef) };
}

const worse = (a: Diff, b: Diff) => (b.rel > a.rel || Number.isNaN(b.rel) ? b : a);

function f32(t: TensorOut | undefined, name: string, file: string): Float32Array {
  if (!t) throw new Error(`${file}: tensor "${name}" is missing`);
  return t.data as Float32Array;
}

/** Runs one mode against the peer's export in `dir` (weights/io/grads.safetensors). */
export function peerParity(dir: string, backend: Backend, mode: 'eval' | 'train'): ParityReport {
  const ioPath = join(dir, 'io.safetensors');
  const gradPath = join(dir, 'grads.safetensors');
  const io = readSafetensors(ioPath).tensors;
  const peerGrads = readSafetensors(gradPath).tensors;
  // A fresh import per run: train mode updates the running statistics in place.
  const model = importPyTorch(join(dir, 'weights.safetensors'));
  const xT = io.x;
  const g = new Graph();
  const x = g.input('x', xT.shape);
  const t = g.input('t', io.t.shape);
  const heads = model.forward(g, x, { training: mode === 'train' });
  const losses = heads.map((h) => g.loss(h, t, 'bce_dice', 0.5));
  const loss = g.scale(g.addN(losses), 1 / losses.length);
  const names = model.params.trainableNames();
  const wrt: Value[] = [x, ...names.map((n) => g.params.get(n)!)];
  const grads = gradients(g, loss, wrt);
  grads.forEach((v, i) => { if (!v) throw new Error(`no gradient for ${i === 0 ? 'x' : names[i - 1]}`); });
  const plan = new Plan(g, backend, model.params, [...heads, loss, ...(grads as Value[])]);
  const outs = plan.runToHost({ x: f32(xT, 'x', ioPath), t: f32(io.t, 't', ioPath) });

  const headNames = model.headNames();
  let logits: Diff = { maxAbs: 0, maxRef: 0, rel: 0 };
  headNames.forEach((_h, j) => {
    const key = headNames.length > 1 ? `y${j + 1}_${mode}` : `y_${mode}`;
    // Peer names a single deep-supervision head y1 (never happens: ds has >= 2 heads).
    logits = worse(logits, diff(outs[j], f32(io[key], key, ioPath), key));
  });
  const k = heads.length;
  const lossD = diff(outs[k], f32(io[`loss_${mode}`], `loss_${mode}`, ioPath), 'loss');
  const dx = diff(outs[k + 1], f32(io[`dx_${mode}`], `dx_${mode}`, ioPath), 'dx');
  let gw: Diff & { worst: string } = { maxAbs: 0, maxRef: 0, rel: 0, worst: '' };
  const peerNames = Object.keys(peerGrads).filter((n) => n.startsWith(`${mode}/`)).map((n) => n.slice(mode.length + 1));
  const extra = peerNames.filter((n) => !names.includes(n));
  if (extra.length || peerNames.length !== names.length) throw new Error(`${gradPath}: the peer has gradients we do not (${extra.join(', ')}) or lacks some of ours`);
  names.forEach((n, i) => {
    const d = diff(outs[k + 2 + i], f32(peerGrads[`${mode}/${n}`], `${mode}/${n}`, gradPath), n);
    if (worse(gw, d) === d && d !== gw) gw = { ...d, worst: n };
  });
  return { mode, logits, loss: lossD, dx, grads: { ...gw, count: names.length } };
}

/** The worst relative difference of a report. */
export function worstRel(r: ParityReport): number {
  return Math.max(r.logits.rel, r.loss.rel, r.dx.rel, r.grads.rel);
}

export function formatParity(r: ParityReport): string {
  const f = (d: Diff) => `${d.maxAbs.toExponential(2)} (ref ${d.maxRef.toExponential(2)})`;
  return `${r.mode}: logits ${f(r.logits)}, loss ${f(r.loss)}, dx ${f(r.dx)}, grads worst ${r.grads.worst} ${f(r.grads)} over ${r.grads.count}`;
}
