// `demo --dims 3`: a small 3D UNet++ learns the synthetic lesions within a minute of training
// on the native backend (test Dice through the reloaded checkpoint and the predictor), and
// writes its prediction as NIfTI on the volume's grid. Skipped without the native addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { runVolumeDemo } from '../../src/train/demo-volumes.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { tmp } from './helpers.js';

const native = nativeAvailable();

test('demo --dims 3: synthetic volumes, test Dice >= 0.7 after a minute', { skip: native.ok ? false : `native backend unavailable (${native.reason})` }, async () => {
  const dir = tmp('demo3d');
  const r = await runVolumeDemo({ outDir: dir, seed: 0, minutes: 1, backend: 'native', log: null, progress: false });
  assert.ok(r.dice >= 0.7, `test Dice ${r.dice} after ${r.epochs} epochs (${r.seconds} s)`);
  for (const f of ['best.safetensors', 'last.safetensors', 'log.jsonl']) assert.ok(existsSync(join(dir, f)), f);
  const nii = await readNifti(r.prediction);
  assert.deepEqual(nii.dims.slice(0, 3), [32, 32, 32]);
});
