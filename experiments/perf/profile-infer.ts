// Inference time of every node of the UNet++ inference plan (bn preset, deep supervision,
// native backend, its inference layout), and for each conv the raw oneDNN primitive on the same
// shape (benchConvRaw): where the plan is above the kernel floor, node by node.
// Usage: node dist/experiments/perf/profile-infer.js [batch] [runs] [fp32|bf16]
import { NativeBackend, benchConvRaw } from '../../src/engine/backends/native.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { median } from '../../src/bench/model.js';

const batch = Number(process.argv[2] ?? 16), runs = Number(process.argv[3] ?? 10), size = 96;
const precision = (process.argv[4] ?? 'bf16') as 'fp32' | 'bf16';
const model = new SegModel({ preset: 'bn', inChannels: 3, deepSupervision: true });
const g = new Graph();
const xin = g.input('x', [batch, 3, size, size]);
const probs = model.probabilities(g, model.forward(g, xin, { training: false, fuseBn: true }));
const plan = new Plan(g, new NativeBackend({ precision, use: 'infer' }), model.params, [probs],
  { profile: true, profileKey: (n) => n.name, frozenParams: true });
const x = new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i * 0.37));

const perNode = new Map<string, number[]>();
const wall: number[] = [];
for (let r = 0; r < runs + 2; r++) {
  plan.profile.clear();
  const t0 = performance.now();
  plan.run({ x });
  if (r < 2) continue;
  wall.push(performance.now() - t0);
  for (const [k, e] of plan.profile) (perNode.get(k) ?? perNode.set(k, []).get(k)!).push(e.ms);
}
const rawCache = new Map<string, number>();
let total = 0, convOurs = 0, convRaw = 0;
console.log(`${'node'.padEnd(28)} ${'op'.padEnd(10)} ${'shape in'.padEnd(18)} ${'ms'.padStart(7)} ${'raw'.padStart(7)} ratio`);
for (const n of plan.schedule) {
  const t = perNode.get(n.name);
  if (!t) continue;
  const ms = median(t);
  total += ms;
  let raw = '';
  if (n.op === 'conv' || n.op === 'conv_bn') {
    const [N, C, H, W] = n.inputs[0].shape;
    const [O, , K] = n.inputs[1].shape; // images: square kernels, one pad
    const k = [N, C, O, H, W, K].join('x');
    if (!rawCache.has(k)) rawCache.set(k, benchConvRaw({ n: N, c: C, o: O, h: H, w: W, k: K, pad: n.attrs.pad as number, iters: runs, bf16: precision === 'bf16' }).fwdMs);
    const r = rawCache.get(k)!;
    convOurs += ms; convRaw += r;
    raw = `${r.toFixed(2).padStart(7)} ${(ms / r).toFixed(2)}`;
  }
  console.log(`${n.name.slice(0, 28).padEnd(28)} ${n.op.padEnd(10)} ${n.inputs[0].shape.join('x').padEnd(18)} ${ms.toFixed(2).padStart(7)} ${raw}`);
}
console.log(`\nbatch wall ${median(wall).toFixed(1)} ms, kernels ${total.toFixed(1)} ms; convs ${convOurs.toFixed(1)} ms vs raw oneDNN ${convRaw.toFixed(1)} ms (${(convOurs / convRaw).toFixed(3)})`);
