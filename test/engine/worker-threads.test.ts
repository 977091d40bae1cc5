// The native backend in worker_threads (docs/engine.md, "Worker threads"): under
// OMP_WAIT_POLICY=passive a worker that predicts and exits neither crashes the process nor
// differs from the same prediction made on the main thread. Each run is a fresh process, since
// libgomp reads the policy once per process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeAvailable } from '../../src/engine/backends/native.js';

const native = nativeAvailable();
const helper = fileURLToPath(new URL('../helpers/worker-predict.js', import.meta.url));
const main = fileURLToPath(new URL('../../src/models/model.js', import.meta.url));
const predictJs = fileURLToPath(new URL('../../src/infer/predict.js', import.meta.url));
const selectJs = fileURLToPath(new URL('../../src/engine/backends/select.js', import.meta.url));

// Parent script: the same prediction on the main thread and in a worker; prints the max difference.
const script = `
import { Worker } from 'node:worker_threads';
const { SegModel } = await import(${JSON.stringify(main)});
const { createPredictor } = await import(${JSON.stringify(predictJs)});
const { getBackend } = await import(${JSON.stringify(selectJs)});
const size = 48, image = new Float32Array(size * size).map((_, i) => Math.sin(i * 0.37));
const model = new SegModel({ inChannels: 1, classes: 1, filters: [4, 8, 16], deepSupervision: true, seed: 3 });
const here = createPredictor(model, { backend: getBackend('native') }).predict({ data: image, channels: 1, sizes: [size, size] }).data;
const there = await new Promise((res, rej) => {
  const w = new Worker(${JSON.stringify(helper)}, { workerData: { image, size } });
  let got; w.on('message', (m) => { got = m; }); w.on('error', rej); w.on('exit', (c) => c === 0 ? res(got) : rej(new Error('worker exit ' + c)));
});
let d = 0; for (let i = 0; i < here.length; i++) d = Math.max(d, Math.abs(here[i] - there[i]));
console.log(JSON.stringify({ n: there.length, maxDiff: d }));
`;

test('native backend in a worker thread: same prediction, clean exit (OMP_WAIT_POLICY=passive)', { skip: native.ok ? false : native.reason }, () => {
  const file = join(mkdtempSync(join(tmpdir(), 'unetpp-worker-')), 'parent.mjs');
  writeFileSync(file, script);
  for (let run = 0; run < 4; run++) {
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
    assert.equal(r.signal, null, `run ${run}: the process died of ${r.signal}\n${r.stderr}`);
    assert.equal(r.status, 0, `run ${run}: exit ${r.status}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /UNETPP_OMP_WORKER/, 'no warning under the passive policy');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.n, 48 * 48);
    assert.ok(out.maxDiff <= 1e-6, `worker vs main thread: ${out.maxDiff}`);
  }
  // without the policy the addon warns when it loads in a worker
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: '' } });
  assert.match(r.stderr, /UNETPP_OMP_WORKER/);
});
