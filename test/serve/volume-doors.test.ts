// A 3D checkpoint through every front door (issue 24): a tiny 3D UNet++ trained by the CLI on
// synthetic volumes (resampled, so that labels go back onto the file's grid) and killed after
// its first epoch; its last.safetensors predicts a case byte for byte alike through `unetpp
// predict`, a real `unetpp serve` (POST /v1/predict with the NIfTI) and a real `unetpp worker`
// on redis-server; the same weights as PyTorch weights with a JSON sidecar and as a version 1
// file give the same bytes; a run stopped by --time-limit predicts as well. With a keep-largest
// post-processing rule in its meta the checkpoint gives post-processed labels, again byte for byte
// alike through the three doors; --no-postprocess and ?postprocess=0 give the raw ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeSyntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { readCheckpointMeta, updateMeta } from '../../src/io/checkpoint.js';
import { connectedComponents } from '../../src/infer/components.js';
import { readSafetensors, writeSafetensors, type TensorIn } from '../../src/io/safetensors.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { MAIN, REDIS_MISSING, cli, freePort, startCli, startRedis, stop, type Proc } from '../helpers/services.js';

const native = nativeAvailable();
const skip = native.ok ? false : `native backend unavailable (${native.reason})`;
let tmp: string, data: string, run: string, last: string, caseFile: string, cliOut: Buffer;

const ENV = { ...process.env, OMP_WAIT_POLICY: 'passive' };
// --no-plan: the runs keep the fixed defaults (e.g. 'mri' normalisation) this test checks through every door
const TRAIN = ['--patch', '16', '--filters', '4,8,16', '--labels', '1,2', '--spacing', '1.25,1.25,1.25', '--samples-per-epoch', '2', '--no-progress', '--no-plot',
  '--no-plan'];

/** Runs `unetpp train` until its first epoch is logged, then kills it (SIGKILL: nothing runs after). */
function trainAndKill(out: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [MAIN, 'train', '-d', data, '-o', out, '--epochs', '50', ...TRAIN], { env: ENV });
    let text = '';
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`no epoch within 120 s:\n${text}`)); }, 120_000);
    c.stdout.on('data', (d) => {
      text += d;
      if (/epoch 1\/50/.test(text)) c.kill('SIGKILL');
    });
    c.stderr.on('data', (d) => (text += d));
    c.on('exit', () => { clearTimeout(timer); resolve(text); });
  });
}

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-doors-'));
  data = join(tmp, 'vols');
  await writeSyntheticVolumes(data, { count: 4, dims: [28, 24, 22], channels: 1, seed: 5, splitFractions: [0.5, 0.25, 0.25] });
  run = join(tmp, 'killed');
  const log = await trainAndKill(run);
  assert.match(log, /epoch 1\/50/);
  last = join(run, 'last.safetensors');
  caseFile = join(data, 'images', 'synth_001_0000.nii.gz');
});

after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

test('a killed 3D run: best and last carry the full meta from the first epoch and predict', { skip }, async () => {
  for (const f of ['best.safetensors', 'last.safetensors']) {
    const { meta } = readCheckpointMeta(join(run, f));
    assert.equal(meta.training?.status, 'running', f);
    assert.ok(meta.training!.epoch >= 1, f);
    assert.deepEqual([meta.input.kind, meta.window, meta.labels, meta.classNames], ['volume', [16, 16, 16], { kind: 'classes', values: [1, 2], background: true }, ['background', 'label 1', 'label 2']], f);
    assert.deepEqual(meta.input.kind === 'volume' && meta.input.spacing, [1.25, 1.25, 1.25]);
  }
  const r = cli(['predict', caseFile, '-m', last, '-o', join(tmp, 'cli'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tiling: .* windows of 16x16x16/);
  const out = join(tmp, 'cli', 'synth_001.nii.gz');
  const [inp, pred] = await Promise.all([readNifti(caseFile), readNifti(out)]);
  assert.deepEqual([pred.dims, pred.affine], [inp.dims, inp.affine]); // back on the file's grid
  const values = new Set(pred.data);
  assert.ok([...values].every((v) => v === 0 || v === 1 || v === 2), `labels ${[...values]}`);
  assert.ok(values.size >= 2, 'the labels are not all one value: a meaningful comparison below');
  cliOut = readFileSync(out);
});

test('the same 3D checkpoint and volume: byte-identical labels through predict, serve and worker', { skip }, async () => {
  assert.ok(cliOut, 'the CLI prediction of the test above');
  // serve: the NIfTI as the body; JSON names the classes from the meta; /v1/models shows no paths
  const s = await startCli(['serve', '-m', last, '--port', '0', '--backend', 'native'], /listening on (http:\/\/\S+)/);
  try {
    const post = (q: string, body: Buffer) => fetch(`${s.match[1]}/v1/predict${q}`, { method: 'POST', body: body as unknown as BodyInit });
    const res = await post('', readFileSync(caseFile));
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), cliOut);
    const j = await (await post('?format=json', readFileSync(caseFile))).json() as any;
    assert.equal(j.kind, 'volume');
    assert.ok(j.classes.every((c: any) => ['label 1', 'label 2'].includes(c.name)), JSON.stringify(j.classes));
    const [m] = (await (await fetch(`${s.match[1]}/v1/models`)).json() as any).models;
    assert.deepEqual([m.checkpoint, m.dims, m.classNames, m.window, m.input, m.tta], ['last.safetensors', 3, ['background', 'label 1', 'label 2'], [16, 16, 16], 'volume', false]);
    assert.ok(!JSON.stringify(m).includes(tmp), 'no absolute paths in /v1/models');
    const png = await post('', await sharp({ create: { width: 16, height: 16, channels: 3, background: 'red' } }).png().toBuffer());
    assert.equal(png.status, 400);
    assert.match((await png.json() as any).message, /the model is 3D and the input is an image/);
  } finally {
    await stop(s);
  }
  if (REDIS_MISSING) return;
  // worker: a job of the case on a real redis-server
  const port = await freePort();
  const redis = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  let w: Proc | undefined;
  try {
    w = await startCli(['worker', '--redis', url, '--backend', 'native', '--queues', 'predict', '--roots', tmp], /waiting for jobs/);
    const r = cli(['submit', caseFile, '-m', last, '-o', join(tmp, 'queue'), '--redis', url, '--no-progress']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 file\(s\): 1 predicted/);
    assert.deepEqual(readFileSync(join(tmp, 'queue', 'synth_001.nii.gz')), cliOut);
    const again = cli(['submit', caseFile, '-m', last, '-o', join(tmp, 'queue'), '--redis', url, '--no-progress']);
    assert.match(again.stdout, /1 file\(s\): 0 predicted, 1 already done/);
  } finally {
    await stop(w);
    await stop(redis);
  }
});

test('a checkpoint that records test-time flips: predict and serve average them by default, tta=0 is one pass', { skip }, async () => {
  assert.ok(cliOut, 'the CLI prediction of the first test');
  const flips = join(tmp, 'flips.safetensors');
  copyFileSync(last, flips);
  updateMeta(flips, (meta) => ({ ...meta, tta: true }));
  const asked = cli(['predict', caseFile, '-m', last, '-o', join(tmp, 'asked'), '--backend', 'native', '--tta']);
  assert.equal(asked.status, 0, asked.stderr);
  const byDefault = cli(['predict', caseFile, '-m', flips, '-o', join(tmp, 'recorded'), '--backend', 'native']);
  assert.equal(byDefault.status, 0, byDefault.stderr);
  const withFlips = readFileSync(join(tmp, 'asked', 'synth_001.nii.gz'));
  assert.deepEqual(readFileSync(join(tmp, 'recorded', 'synth_001.nii.gz')), withFlips);
  assert.notDeepEqual(withFlips, cliOut, 'the flips change the labels: a meaningful comparison');
  const s = await startCli(['serve', '-m', flips, '--port', '0', '--backend', 'native'], /listening on (http:\/\/\S+)/);
  try {
    const post = async (q: string) => Buffer.from(await (await fetch(`${s.match[1]}/v1/predict${q}`, { method: 'POST', body: readFileSync(caseFile) as unknown as BodyInit })).arrayBuffer());
    assert.deepEqual(await post(''), withFlips);
    assert.deepEqual(await post('?tta=0'), cliOut);
    const [m] = (await (await fetch(`${s.match[1]}/v1/models`)).json() as any).models;
    assert.equal(m.tta, true);
  } finally {
    await stop(s);
  }
});

test('a keep-largest rule in the meta: the same post-processed labels through predict, serve and worker', { skip }, async () => {
  assert.ok(cliOut, 'the CLI prediction of the first test');
  const ruled = join(tmp, 'ruled.safetensors');
  copyFileSync(last, ruled);
  updateMeta(ruled, (meta) => ({ ...meta, postprocess: [{ values: [1, 2], keep: 'largest' }] }));
  const parts = (v: { data: ArrayLike<number>; dims: number[] }) => connectedComponents(Uint8Array.from(v.data), v.dims, { values: [1, 2] }).count;
  const raw = await readNifti(join(tmp, 'cli', 'synth_001.nii.gz'));
  assert.ok(parts(raw) > 1, `the raw labels have ${parts(raw)} foreground component(s): the rule has work to do`);
  let r = cli(['predict', caseFile, '-m', ruled, '-o', join(tmp, 'ruled'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /post-processing: keep the largest component of 1,2/);
  const out = join(tmp, 'ruled', 'synth_001.nii.gz');
  const ruledOut = readFileSync(out);
  const pp = await readNifti(out);
  assert.deepEqual([pp.dims, pp.affine], [raw.dims, raw.affine]);
  // one component left (kept on the model's grid, brought back by nearest neighbour); voxels kept or cleared, never relabelled
  assert.equal(parts(pp), 1);
  assert.ok(pp.data.every((v, i) => v === 0 || v === raw.data[i]));
  assert.ok(pp.data.some((v, i) => v !== raw.data[i]), 'the rule removed something');
  r = cli(['predict', caseFile, '-m', ruled, '-o', join(tmp, 'ruled-raw'), '--backend', 'native', '--no-postprocess']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /post-processing:/);
  assert.deepEqual(readFileSync(join(tmp, 'ruled-raw', 'synth_001.nii.gz')), cliOut);
  // serve: the rules apply unless ?postprocess=0
  const s = await startCli(['serve', '-m', ruled, '--port', '0', '--backend', 'native'], /listening on (http:\/\/\S+)/);
  try {
    const post = (q: string) => fetch(`${s.match[1]}/v1/predict${q}`, { method: 'POST', body: readFileSync(caseFile) as unknown as BodyInit });
    for (const [q, want] of [['', ruledOut], ['?postprocess=0', cliOut]] as const) {
      const res = await post(q);
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), want, q || 'no query');
    }
    const bad = await post('?postprocess=maybe');
    assert.equal(bad.status, 400);
    assert.match((await bad.json() as any).message, /query parameter postprocess: expected true or false/);
  } finally {
    await stop(s);
  }
  if (REDIS_MISSING) return;
  // worker: the job's checkpoint carries the rules
  const port = await freePort();
  const redis = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  let w: Proc | undefined;
  try {
    w = await startCli(['worker', '--redis', url, '--backend', 'native', '--queues', 'predict', '--roots', tmp], /waiting for jobs/);
    r = cli(['submit', caseFile, '-m', ruled, '-o', join(tmp, 'queue-ruled'), '--redis', url, '--no-progress']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 file\(s\): 1 predicted/);
    assert.deepEqual(readFileSync(join(tmp, 'queue-ruled', 'synth_001.nii.gz')), ruledOut);
  } finally {
    await stop(w);
    await stop(redis);
  }
});

test('the same weights as PyTorch weights with a JSON sidecar, and as a version 1 file, give the same labels', { skip }, async () => {
  assert.ok(cliOut, 'the CLI prediction of the first test');
  const { meta } = readCheckpointMeta(last);
  const weights = join(tmp, 'torch.safetensors');
  const e = cli(['export', '-m', last, '-f', 'pytorch', '-o', weights]);
  assert.equal(e.status, 0, e.stderr);
  const side = join(tmp, 'torch.json');
  writeFileSync(side, JSON.stringify({ input: meta.input, labels: meta.labels, classNames: meta.classNames, window: meta.window }));
  let r = cli(['predict', caseFile, '--pytorch', weights, '--meta', side, '-o', join(tmp, 'torch'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(join(tmp, 'torch', 'synth_001.nii.gz')), cliOut);
  // without a sidecar the weights still run on a volume (defaults: channel0, 'mri', the window from --tile or the whole volume)
  r = cli(['predict', caseFile, '--pytorch', weights, '-o', join(tmp, 'torch-bare'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(tmp, 'torch-bare', 'synth_001.nii.gz')));
  // version 1: the old key layout (config, volumePipeline JSON, patch "DxHxW")
  const f = readSafetensors(last);
  const tensors = Object.fromEntries(Object.entries(f.tensors).map(([n, t]) => [n, { dtype: 'F32', shape: t.shape, data: t.data } as TensorIn]));
  const i = meta.input.kind === 'volume' ? meta.input : assert.fail('a volume input');
  const pipeline = { modalities: i.modalities, normalize: i.normalize, ct: i.ct, spacing: i.spacing, cropToNonzero: i.cropToNonzero, labels: meta.labels, classNames: meta.classNames };
  const v1 = join(tmp, 'v1.safetensors');
  writeSafetensors(v1, tensors, { format: 'unetpp-checkpoint', version: '1', config: JSON.stringify(meta.model), volumePipeline: JSON.stringify(pipeline), patch: '16x16x16', epoch: '1' });
  r = cli(['predict', caseFile, '-m', v1, '-o', join(tmp, 'v1'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(join(tmp, 'v1', 'synth_001.nii.gz')), cliOut);
  const info = cli(['info', v1]);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /input: volume, modalities 0000 \(mri\), spacing 1\.25x1\.25x1\.25 mm/); // the files' modality suffix
  assert.match(info.stdout, /window: 16x16x16/);
  assert.match(info.stdout, /from: legacy/);
});

test('a 3D run stopped by --time-limit: finished, stopped by time, and its best predicts', { skip }, async () => {
  const out = join(tmp, 'timed');
  const t = cli(['train', '-d', data, '-o', out, '--epochs', '5', '--time-limit', '0', ...TRAIN]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /done: 1 epochs \(time\)/);
  const { meta } = readCheckpointMeta(join(out, 'best.safetensors'));
  assert.deepEqual([meta.training?.status, meta.training?.stoppedBy, meta.training?.epoch, meta.training?.epochs], ['finished', 'time', 1, 5]);
  const r = cli(['predict', caseFile, '-m', join(out, 'best.safetensors'), '-o', join(tmp, 'timed-pred'), '--backend', 'native']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(tmp, 'timed-pred', 'synth_001.nii.gz')));
});
