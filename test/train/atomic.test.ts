// A checkpoint write that fails part-way (file size limit: EFBIG after some bytes) leaves the
// previous last.safetensors and its optimiser file intact and loadable, and no temp files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { train } from '../../src/train/trainer.js';
import { loadLast } from '../../src/train/state.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { tinyData, tinyModel, tmp } from './helpers.js';

test('a failing checkpoint write leaves the old checkpoint', async () => {
  const dir = tmp('atomic');
  await train(tinyModel(), tinyData(12), { outDir: dir, epochs: 1, batchSize: 4, backend: new ReferenceBackend(), log: null, progress: false, plot: false });
  const before = readFileSync(join(dir, 'last.safetensors'));
  const dist = resolve('dist/src');
  // A bigger model's checkpoint, written by a child limited to 64 KiB per file.
  const script = join(dir, 'write.mjs');
  writeFileSync(script, `
    import { SegModel } from '${dist}/models/model.js';
    import { saveLast } from '${dist}/train/state.js';
    import { Adam } from '${dist}/optim/adam.js';
    const m = new SegModel({ preset: 'bn', filters: [16, 32, 64], inChannels: 1, deepSupervision: true });
    const opt = new Adam();
    const grads = new Map(m.params.trainableNames().map((n) => [n, new Float32Array(m.params.get(n).data.length).fill(0.1)]));
    opt.step(m.params, grads);
    try {
      saveLast(process.argv[2], m, { version: 1, epoch: 2, globalStep: 9, loader: { seed: 0, epoch: 2, batch: 0 }, planSteps: {},
        schedule: { kind: 'constant', state: {} }, early: { best: null, bestEpoch: 0, bad: 0 }, history: [] }, opt.state());
      console.log('written');
    } catch (e) { console.log('failed:', e.code ?? e.message); process.exit(3); }
  `);
  const r = spawnSync('bash', ['-c', `ulimit -f 64; exec "${process.execPath}" "${script}" "${dir}"`], { encoding: 'utf8' });
  assert.equal(r.status, 3, `child: ${r.stdout} ${r.stderr}`);
  assert.match(r.stdout, /EFBIG/);
  assert.deepEqual(readFileSync(join(dir, 'last.safetensors')), before);
  const resumed = loadLast(dir);
  assert.equal(resumed.state.epoch, 1);
  assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp')), readdirSync(dir).join(' '));
});
