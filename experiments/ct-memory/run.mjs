// Issue 17 part 4: a 512x512x300 CT (int16 NIfTI, 0.7x0.7x1.5 mm) through `unetpp predict` with
// a 3D UNet++ (default volume model: filters 16..256, instance norm, deep supervision, trained
// patch 64^3, CT normalisation), timing it and reading its peak RSS (/usr/bin/time). The weights
// are random: time and memory do not depend on them. Cases: no flags (the default memory budget,
// half the available memory), --max-memory 2G, and --tta. Each result goes to results.json as
// soon as it is measured; a re-run skips those already there. From the repo root after a build:
//   node experiments/ct-memory/run.mjs
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg, freemem } from 'node:os';
import { SegModel } from '../../dist/src/models/model.js';
import { saveModel } from '../../dist/src/io/checkpoint.js';
import { completeMeta } from '../../dist/src/io/meta-defaults.js';
import { writeNifti } from '../../dist/src/data/formats/nifti.js';

const here = dirname(fileURLToPath(import.meta.url));
const work = process.env.CT_MEMORY_TMP ?? '/tmp/unetpp-ct-memory';
const out = join(here, 'results.json');
const results = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : [];
const save = () => { writeFileSync(out + '.tmp', JSON.stringify(results, null, 1) + '\n'); renameSync(out + '.tmp', out); };
mkdirSync(work, { recursive: true });
const [X, Y, Z] = [512, 512, 300];

const ckpt = join(work, 'ct-model.safetensors');
if (!existsSync(ckpt)) {
  const model = new SegModel({ arch: 'unetpp', dims: 3, inChannels: 1, classes: 1, filters: [16, 32, 64, 128, 256], deepSupervision: true, seed: 1 });
  const input = { kind: 'volume', modalities: ['ct'], normalize: ['ct'], ct: [{ lo: -1000, hi: 1500, mean: 40, std: 350 }] };
  saveModel(ckpt, model, completeMeta(model.config, { input, labels: { kind: 'binary' }, classNames: ['foreground'], window: [64, 64, 64] }, 'train'));
}
const ct = join(work, `ct-${X}x${Y}x${Z}.nii.gz`);
if (!existsSync(ct)) {
  // air around a body ellipse of soft tissue, a bright "bone" ring and noise: CT-like values in HU
  const data = new Float32Array(X * Y * Z);
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    const r = Math.hypot((x - X / 2) / 200, (y - Y / 2) / 160);
    data[i] = Math.round((r > 1 ? -1000 : r > 0.92 ? 700 : 40) + 20 * (Math.random() - 0.5));
  }
  const affine = [[-0.7, 0, 0, 179], [0, -0.7, 0, 179], [0, 0, 1.5, -450], [0, 0, 0, 1]];
  await writeNifti(ct, { dims: [X, Y, Z], spacing: [0.7, 0.7, 1.5], data, affine }, { datatype: 'int16' });
}

const cases = [
  { id: 'default', flags: [] },
  { id: 'max-memory 2G', flags: ['--max-memory', '2G'] },
];
for (const c of cases) {
  if (results.some((r) => r.id === c.id)) continue;
  const load_before = loadavg()[0], free_gb = freemem() / 2 ** 30;
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', process.execPath, 'dist/src/cli/main.js', 'predict', ct, '-m', ckpt, '-o', join(work, 'out'), ...c.flags],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  const row = { id: c.id, flags: c.flags, voxels: X * Y * Z, status: r.status, seconds: m ? Number(m[1]) : null, peak_rss_mb: m ? Math.round(Number(m[2]) / 1024) : null,
    stdout: r.stdout.trim().split('\n').slice(-4), stderr: r.status ? r.stderr.trim().split('\n').slice(-3) : undefined, load_before, free_gb: +free_gb.toFixed(1), date: new Date().toISOString() };
  results.push(row);
  save();
  console.log(c.id, r.status === 0 ? `${row.seconds} s, ${row.peak_rss_mb} MB` : `FAILED ${r.signal ?? r.status}: ${row.stderr}`);
}
