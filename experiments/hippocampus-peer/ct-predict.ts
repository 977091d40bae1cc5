// The CT prediction row of the peer comparison: one 512x512x300 CT (int16 NIfTI, synthetic, as
// experiments/ct-memory) through `unetpp predict` with the default volume model (UNet++ 16..256,
// instance norm, deep supervision, CT normalisation, windows 64^3, overlap 0.25, Gaussian
// blending: predict's defaults), and through the PyTorch peer's sliding window over the same
// normalised volume with the same weights (peer_predict_ct.py: the same window starts and
// Gaussian weights, batch 4, mean of the heads' sigmoids). The weights are random: time does not
// depend on them. Ours is timed as a user runs it (the whole command, reading and writing the
// NIfTI included) and by its own per-case time; the peer by its windows alone and its process.
// Results go to results/ct-predict.json as each is measured; a re-run skips those there.
//   npm run build && node dist/experiments/hippocampus-peer/ct-predict.js [--size 512x512x300] [--precision fp32|bf16]
//     [--threads 2] [--work /tmp/hippo-peer-ct]
//   (full size: ~40 min each for ours and the peer on 2 quiet cores; --size 96x96x64 is a smoke test of seconds)
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { SegModel } from '../../src/models/model.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { exportPyTorch } from '../../src/io/pytorch.js';
import { writeNifti } from '../../src/data/formats/nifti.js';
import { normalizeChannel, type CtStats } from '../../src/data/volumes/intensity.js';
import { VOLUME_FILTERS } from '../../src/cli/commands/train-volumes.js';
import { OUT, arg, here } from './setup.js';

const [X, Y, Z] = (arg('--size') ?? '512x512x300').split('x').map(Number);
const precision = arg('--precision') ?? 'fp32';
const threads = arg('--threads') ?? '2';
const work = arg('--work') ?? '/tmp/hippo-peer-ct';
const root = join(here, '..', '..');
mkdirSync(work, { recursive: true });
mkdirSync(join(OUT, 'results'), { recursive: true });
const out = join(OUT, 'results', 'ct-predict.json');
const results: Record<string, unknown>[] = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : [];
const save = () => { writeFileSync(`${out}.tmp`, `${JSON.stringify(results, null, 1)}\n`); renameSync(`${out}.tmp`, out); };

const ct: CtStats = { lo: -1000, hi: 1500, mean: 40, std: 350 };
const ckpt = join(work, 'ct-model.safetensors'), torchWeights = join(work, 'ct-model.torch.safetensors');
if (!existsSync(ckpt) || !existsSync(torchWeights)) {
  const model = new SegModel({
    arch: 'unetpp', dims: 3, inChannels: 1, classes: 1, filters: VOLUME_FILTERS, norm: 'instance', deepSupervision: true, seed: 1,
  });
  const input = { kind: 'volume' as const, modalities: ['ct'], normalize: ['ct' as const], ct: [ct] };
  const meta = { input, labels: { kind: 'binary' as const }, classNames: ['foreground'], window: [64, 64, 64] };
  saveModel(ckpt, model, completeMeta(model.config, meta, 'train'));
  exportPyTorch(torchWeights, model, { source: 'experiments/hippocampus-peer/ct-predict.ts' });
}
const nii = join(work, `ct-${X}x${Y}x${Z}.nii.gz`), raw = join(work, `ct-${X}x${Y}x${Z}.f32`);
if (!existsSync(nii) || !existsSync(raw)) {
  // air around a body ellipse of soft tissue, a bright "bone" ring and noise: CT-like values in HU
  const data = new Float32Array(X * Y * Z);
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    const r = Math.hypot((x - X / 2) / (0.39 * X), (y - Y / 2) / (0.31 * Y));
    data[i] = Math.round((r > 1 ? -1000 : r > 0.92 ? 700 : 40) + 20 * (Math.random() - 0.5));
  }
  const affine = [[-0.7, 0, 0, 0.35 * X], [0, -0.7, 0, 0.35 * Y], [0, 0, 1.5, -0.75 * Z], [0, 0, 0, 1]];
  await writeNifti(nii, { dims: [X, Y, Z], spacing: [0.7, 0.7, 1.5], data, affine }, { datatype: 'int16' });
  // the peer reads the volume as our pipeline hands it to the network: CT-normalised float32, [Z, Y, X]
  normalizeChannel(data, 'ct', { ct });
  writeFileSync(raw, new Uint8Array(data.buffer));
}

const size = `${X}x${Y}x${Z}`;
const done = (engine: string) => results.some((r) => r.engine === engine && r.size === size && r.precision === precision);
const env = { ...process.env, OMP_NUM_THREADS: threads, UNETPP_THREADS: threads };
const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ');
if (!done('unetpp')) {
  const load = loadavg()[0];
  const cli = [join(root, 'dist/src/cli/main.js'), 'predict', nii, '-m', ckpt, '-o', join(work, 'out'),
    '--precision', precision, '--threads', threads];
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', process.execPath, ...cli], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const t = /TIME ([\d.]+) (\d+)/.exec(r.stderr), perCase = /, (\d+) ms\)/.exec(r.stdout);
  if (r.status !== 0) throw new Error(`unetpp predict failed (${r.status}): ${tail(r.stderr)}`);
  results.push({ engine: 'unetpp', size, precision, threads: Number(threads), seconds: t ? Number(t[1]) : null,
    caseSeconds: perCase ? Number(perCase[1]) / 1000 : null, peakRssMb: t ? Math.round(Number(t[2]) / 1024) : null,
    log: r.stdout.trim().split('\n').slice(-3), loadBefore: load, date: new Date().toISOString() });
  save();
  console.log(`unetpp predict ${size} ${precision}: ${t?.[1]} s (the case: ${perCase ? Number(perCase[1]) / 1000 : '?'} s)`);
}
if (!done('pytorch')) {
  const load = loadavg()[0];
  const py = [join(here, 'peer_predict_ct.py'), '--weights', torchWeights, '--volume', raw, '--size', `${Z},${Y},${X}`,
    '--precision', precision, '--threads', threads];
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', '/usr/bin/python3', ...py], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`peer_predict_ct.py failed (${r.status}): ${tail(r.stderr)}`);
  const t = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  const peer = JSON.parse(r.stdout.trim().split('\n').pop()!);
  results.push({
    engine: 'pytorch', size, precision, threads: Number(threads), seconds: t ? Number(t[1]) : null, caseSeconds: peer.seconds,
    peakRssMb: t ? Math.round(Number(t[2]) / 1024) : null, windows: peer.windows, torch: peer.torch, loadBefore: load,
    date: new Date().toISOString(),
  });
  save();
  console.log(`peer sliding window ${size} ${precision}: ${peer.seconds.toFixed(1)} s (${peer.windows} windows; process ${t?.[1]} s)`);
}
