// bf16 mixed precision end to end: a whole UNet++ training step in bf16 against the same step in
// float32 (loss, every parameter gradient), training through the trainer, and the fp32 fallback
// on a CPU without bf16 (simulated with ONEDNN_MAX_CPU_ISA=AVX512_CORE in a child process).
// Kernel-level bf16 parity is in native.test.ts and native-bf16.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { NativeBackend, nativeAvailable, bf16Support } from '../../src/engine/backends/native.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { Plan } from '../../src/engine/plan.js';
import { SegModel } from '../../src/models/model.js';
import { trainGraph } from '../../src/bench/model.js';
import { train } from '../../src/train/trainer.js';
import { rng, uniform32 } from '../helpers/gradcheck.js';
import { tinyData, tinyModel, tmp } from '../train/helpers.js';

const avail = nativeAvailable();
const bf16 = avail.ok ? bf16Support() : { ok: false, reason: avail.reason };
const skip = bf16.ok ? false : `no bf16 here: ${bf16.reason}`;

function step(precision: 'fp32' | 'bf16') {
  const model = new SegModel({ preset: 'bn', filters: [8, 16, 32, 64], inChannels: 3, deepSupervision: true, seed: 5 });
  const { g, loss, names, grads } = trainGraph(model, 4, 32);
  const withGrad = names.map((n, i) => [n, grads[i]] as const).filter(([, v]) => v !== null);
  const be = new NativeBackend({ precision });
  const plan = new Plan(g, be, model.params, [loss, ...withGrad.map(([, v]) => v!)], { checkFinite: true });
  const rand = rng(11);
  const x = uniform32(4 * 3 * 32 * 32, rand);
  const t = Float32Array.from({ length: 4 * 32 * 32 }, (_, i) => ((i >> 3) + (i >> 9)) % 3 === 0 ? 1 : 0);
  const outs = plan.runToHost({ x, t });
  return { loss: outs[0][0], grads: new Map(withGrad.map(([n], i) => [n, outs[i + 1]])) };
}

test('bf16 training step of a 4-level UNet++ (DS) matches float32: loss and every gradient', { skip }, () => {
  const a = step('fp32'), b = step('bf16');
  assert.ok(Math.abs(a.loss - b.loss) <= 0.01 * Math.abs(a.loss), `loss fp32 ${a.loss} vs bf16 ${b.loss}`);
  let worst = 1, worstName = '';
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  const biggest = Math.max(...[...a.grads.values()].map(norm));
  let checked = 0;
  for (const [name, ga] of a.grads) {
    const gb = b.grads.get(name)!;
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < ga.length; i++) { dot += ga[i] * gb[i]; na += ga[i] * ga[i]; nb += gb[i] * gb[i]; }
    // Conv biases followed by batch norm have a zero gradient: fp32 gives rounding noise around
    // 0, bf16 larger noise. Both must stay negligible next to the real gradients.
    if (Math.sqrt(na) < 1e-4 * biggest) {
      assert.ok(Math.sqrt(nb) < 1e-2 * biggest, `${name}: gradient should be ~0, bf16 norm ${Math.sqrt(nb)} vs largest ${biggest}`);
      continue;
    }
    // A head's bias gradient is one sum of the loss gradient over all pixels, which mostly
    // cancels: bf16 rounding of the summands moves it by tens of percent. Weights only.
    if (name.endsWith('.bias')) continue;
    checked++;
    const cos = dot / Math.sqrt(na * nb);
    const ratio = Math.sqrt(nb / na);
    assert.ok(ratio > 0.8 && ratio < 1.25, `${name}: gradient norm bf16/fp32 = ${ratio}`);
    if (cos < worst) { worst = cos; worstName = name; }
  }
  assert.ok(checked >= 40, `only ${checked} gradients compared`);
  // bf16 rounding near ReLU thresholds makes deep gradients noisy (cosine 0.92-1.0 measured);
  // a wrong kernel gives cosines near 0.
  assert.ok(worst > 0.85, `worst gradient cosine ${worst} (${worstName})`);
});

test('bf16 trainer run: activations in bf16, weights float32, loss falls, result says bf16', { skip }, async () => {
  const dir = tmp('bf16');
  const r = await train(tinyModel(), tinyData(24), { outDir: dir, epochs: 3, batchSize: 4, backend: 'native', precision: 'bf16', log: null, progress: false, plot: false, optimizer: { kind: 'adam', lr: 3e-3 } });
  assert.equal(r.precision, 'bf16');
  const losses = r.history.map((h) => h.trainLoss);
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.ok(losses[losses.length - 1] < losses[0], `train loss did not fall: ${losses}`);
});

test('getBackend: bf16 on this CPU gives a bf16 native backend', { skip }, () => {
  assert.equal(getBackend('auto', 'bf16').precision, 'bf16');
  assert.equal(getBackend('native', 'fp32').precision, 'fp32');
  assert.throws(() => getBackend('auto', 'fp16' as any), /unknown precision 'fp16'/);
});

test('without bf16 in the CPU (ONEDNN_MAX_CPU_ISA=AVX512_CORE): fp32 with a clear message', { skip: avail.ok ? false : avail.reason }, () => {
  const dist = resolve('dist/src');
  const script = `
    import { getBackend } from '${dist}/engine/backends/select.js';
    import { NativeBackend } from '${dist}/engine/backends/native.js';
    const be = getBackend('auto', 'bf16');
    let err = '';
    try { new NativeBackend({ precision: 'bf16' }); } catch (e) { err = e.message; }
    console.log(JSON.stringify({ precision: be.precision, name: be.name, err }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.name, 'native');
  assert.equal(out.precision, 'fp32');
  assert.match(r.stderr, /precision bf16 unavailable: this CPU has no native bf16 .*ONEDNN_MAX_CPU_ISA=AVX512_CORE.*running in fp32/);
  assert.match(out.err, /precision bf16: this CPU has no native bf16/);
});
