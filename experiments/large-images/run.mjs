// Issue 15's table, re-run: `unetpp predict` with no extra flags on random RGB PNGs of 1 to 6.5
// Mpx (and with UNETPP_WINOGRAD=0, and --tile 1024), next to the PyTorch peer on the same sizes.
// Each case's time and peak RSS go to results.json as soon as it finishes; a re-run skips the
// cases already there (delete the file to start over). Run from the repo root after npm run build:
//   node experiments/large-images/run.mjs
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import sharp from 'sharp';
import { SegModel } from '../../dist/src/models/model.js';
import { saveModel } from '../../dist/src/io/checkpoint.js';
import { completeMeta } from '../../dist/src/io/meta-defaults.js';

const here = dirname(fileURLToPath(import.meta.url));
const work = process.env.LARGE_IMAGES_TMP ?? '/tmp/unetpp-large-images';
const out = join(here, 'results.json');
const results = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : [];
const save = () => { writeFileSync(out + '.tmp', JSON.stringify(results, null, 1) + '\n'); renameSync(out + '.tmp', out); };
mkdirSync(work, { recursive: true });

const ckpt = join(work, 'model.safetensors');
if (!existsSync(ckpt)) {
  const m = new SegModel({ preset: 'bn', inChannels: 3, classes: 1, deepSupervision: true, seed: 1 });
  saveModel(ckpt, m, completeMeta(m.config, {}, 'train')); // no recorded size: images run at their own size
}
const image = async (w, h) => {
  const p = join(work, `random-${w}x${h}.png`);
  if (existsSync(p)) return p;
  const buf = Buffer.alloc(w * h * 3);
  for (let i = 0; i < buf.length; i++) buf[i] = (Math.random() * 256) | 0;
  await sharp(buf, { raw: { width: w, height: h, channels: 3 } }).png().toFile(p);
  return p;
};
const timed = (cmd, args, env = {}) => {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  return { status: r.status, signal: r.signal, seconds: m ? Number(m[1]) : null, peak_rss_mb: m ? Number(m[2]) / 1024 : null,
           stdout: r.stdout.trim().split('\n').slice(-3), stderr: r.status ? r.stderr.trim().split('\n').slice(-3) : undefined };
};

const cases = [
  ...[[1024, 1024], [2048, 2048], [2560, 2560], [3000, 2000]].map(([w, h]) => ({ who: 'unetpp', w, h, flags: [], env: {} })),
  { who: 'unetpp', w: 2560, h: 2560, flags: [], env: { UNETPP_WINOGRAD: '0' } },
  { who: 'unetpp', w: 2560, h: 2560, flags: ['--tile', '1024'], env: {} },
  ...[[1024, 1024], [2048, 2048], [2560, 2560]].map(([w, h]) => ({ who: 'pytorch', w, h, flags: [], env: {} })),
];
for (const c of cases) {
  const id = `${c.who} ${c.w}x${c.h} ${c.flags.join(' ')} ${Object.entries(c.env).map(([k, v]) => `${k}=${v}`).join(' ')}`.trim();
  if (results.some((r) => r.id === id)) continue;
  const load_before = loadavg()[0];
  const r = c.who === 'unetpp'
    ? timed(process.execPath, ['dist/src/cli/main.js', 'predict', await image(c.w, c.h), '-m', ckpt, '-o', join(work, 'out'), ...c.flags], c.env)
    : timed('/usr/bin/python3', [join(here, 'peer_predict.py'), '--height', String(c.h), '--width', String(c.w)]);
  results.push({ id, ...c, megapixels: (c.w * c.h) / 1e6, ...r, load_before, date: new Date().toISOString() });
  save();
  console.log(id, r.status === 0 ? `${r.seconds} s, ${r.peak_rss_mb?.toFixed(0)} MB` : `FAILED ${r.signal ?? r.status}: ${r.stderr}`);
}
