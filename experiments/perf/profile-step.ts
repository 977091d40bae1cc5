// Per-op kernel time of one UNet++ training step (bn preset, deep supervision) on the native
// backend, plus what lies outside the kernels: step wall time minus kernel time (JS/plan
// overhead) and the Adam step. Usage: node dist/experiments/perf/profile-step.js [batch] [steps] [fp32|bf16]
import { NativeBackend } from '../../src/engine/backends/native.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { Adam, type Grad } from '../../src/optim/index.js';
import { trainGraph, median } from '../../src/bench/model.js';

const batch = Number(process.argv[2] ?? 16), steps = Number(process.argv[3] ?? 5), size = 96;
const precision = (process.argv[4] ?? 'fp32') as 'fp32' | 'bf16';
const model = new SegModel({ preset: 'bn', inChannels: 3, deepSupervision: true });
const { g, loss, names, grads } = trainGraph(model, batch, size);
const withGrad = names.map((n, i) => [n, grads[i]] as const).filter(([, v]) => v !== null);
const plan = new Plan(g, new NativeBackend({ precision }), model.params, [loss, ...withGrad.map(([, v]) => v!)], { profile: true });
const x = new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i * 0.37));
const t = new Float32Array(batch * size * size).map((_, i) => (Math.sin(i * 0.11) > 0 ? 1 : 0));
const opt = new Adam({ lr: 3e-4 });

const wall: number[] = [], kern: number[] = [], adam: number[] = [];
const perOp = new Map<string, number[]>();
for (let s = 0; s < steps + 1; s++) {
  plan.profile.clear();
  const t0 = performance.now();
  const outs = plan.run({ x, t });
  const t1 = performance.now();
  opt.step(model.params, new Map<string, Grad>(withGrad.map(([n], i) => [n, outs[i + 1].data as Float32Array])));
  const t2 = performance.now();
  if (s === 0) continue;  // warm-up: primitive creation
  let k = 0;
  for (const [op, e] of plan.profile) { k += e.ms; (perOp.get(op) ?? perOp.set(op, []).get(op)!).push(e.ms); }
  wall.push(t2 - t0); kern.push(k); adam.push(t2 - t1);
}
const step = median(wall), k = median(kern);
const rows = [...perOp].map(([op, v]) => [op, median(v), plan.profile.get(op)?.calls ?? 0] as const).sort((a, b) => b[1] - a[1]);
console.log(`${precision}, batch ${batch}, ${steps} steps (medians), step ${step.toFixed(1)} ms = ${(batch / step * 1e3).toFixed(2)} img/s`);
for (const [op, ms, calls] of rows) console.log(`${op.padEnd(30)} ${ms.toFixed(1).padStart(8)} ms ${(100 * ms / step).toFixed(1).padStart(5)}%  ${calls} calls`);
console.log(`${'kernels total'.padEnd(30)} ${k.toFixed(1).padStart(8)} ms ${(100 * k / step).toFixed(1).padStart(5)}%`);
console.log(`${'adam'.padEnd(30)} ${median(adam).toFixed(1).padStart(8)} ms ${(100 * median(adam) / step).toFixed(1).padStart(5)}%`);
const other = median(wall.map((w, i) => w - kern[i] - adam[i]));
console.log(`${'JS/plan overhead'.padEnd(30)} ${other.toFixed(1).padStart(8)} ms ${(100 * other / step).toFixed(1).padStart(5)}%`);

// Inference (eval mode, probabilities), same batch.
const ge = new (g.constructor as typeof import('../../src/engine/graph.js').Graph)();
const xe = ge.input('x', [batch, 3, size, size]);
const inferPlan = new Plan(ge, new NativeBackend({ precision, use: 'infer' }), model.params, [model.probabilities(ge, model.forward(ge, xe, { training: false, fuseBn: process.env.FUSE_BN !== '0' }))], { profile: true });
const iw: number[] = [], ik: number[] = [];
const iOp = new Map<string, number[]>();
for (let s = 0; s < steps + 1; s++) {
  inferPlan.profile.clear();
  const t0 = performance.now();
  inferPlan.run({ x });
  const w = performance.now() - t0;
  if (s === 0) continue;
  let k = 0;
  for (const [op, e] of inferPlan.profile) { k += e.ms; (iOp.get(op) ?? iOp.set(op, []).get(op)!).push(e.ms); }
  iw.push(w); ik.push(k);
}
const inf = median(iw);
console.log(`\ninference: batch ${inf.toFixed(1)} ms = ${(batch / inf * 1e3).toFixed(2)} img/s`);
for (const [op, v] of [...iOp].map(([op, v]) => [op, median(v)] as const).sort((a, b) => b[1] - a[1]))
  console.log(`${op.padEnd(30)} ${v.toFixed(1).padStart(8)} ms ${(100 * v / inf).toFixed(1).padStart(5)}%`);
console.log(`${'JS/plan overhead'.padEnd(30)} ${median(iw.map((w, i) => w - ik[i])).toFixed(1).padStart(8)} ms`);
