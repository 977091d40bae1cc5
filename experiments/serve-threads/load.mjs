// The load table of docs/serve.md ("Worker threads"); not a test. From the repo root after the
// build: node experiments/serve-threads/load.mjs [--seconds 10] [--clients 1,8,32,128]
//   [--configs 0,1,2] [--threads 2] [--filters 32,64,128,256,512] [--out docs/bench/DATE-serve-threads.json]
// For each model (a full 2D UNet++ on 96x96 PNGs, a small 3D UNet++ on 32^3 NIfTI volumes) and
// each --workers count (0: predictions on the main thread, as before worker threads), autocannon
// runs every client count for --seconds (after a 2 s warm-up) while a probe asks /healthz every
// 100 ms: throughput, latency p50/p99 of predictions and of the health checks, non-2xx answers.
// The machine's load average is recorded with each row: on a shared machine it is the context.
import { spawn, execSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import sharp from 'sharp';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const SECONDS = Number(arg('seconds', 10));
const CLIENTS = arg('clients', '1,8,32,128').split(',').map(Number);
const CONFIGS = arg('configs', '0,1,2').split(',').map(Number);
const THREADS = arg('threads', '2');
// the 2D model's filters (default the full UNet++'s 32..512; on a busy machine a smaller one finishes)
const FILTERS2 = arg('filters', '32,64,128,256,512').split(',').map(Number);
const date = new Date().toISOString();
const OUT = arg('out', `docs/bench/${date.slice(0, 10)}-serve-threads.json`);
const MAIN = resolve('dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'unetpp-load-'));
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const commit = execSync('git rev-parse --short HEAD').toString().trim();
const result = { date, commit, uptimeBefore: execSync('uptime').toString().trim(), cpus: cpus().length, cpu: cpus()[0].model,
  seconds: SECONDS, threads: Number(THREADS), rows: [] };

const { SegModel } = await import(resolve('dist/src/models/model.js'));
const { saveModel } = await import(resolve('dist/src/io/checkpoint.js'));
const { completeMeta } = await import(resolve('dist/src/io/meta-defaults.js'));
const { encodeNifti } = await import(resolve('dist/src/data/formats/nifti-encode.js'));

// the models: their initial weights (the cost measured is the network's)
const m2 = new SegModel({ preset: 'bn', inChannels: 1, deepSupervision: true, filters: FILTERS2 });
const ckpt2 = join(tmp, 'unetpp2d.safetensors');
saveModel(ckpt2, m2, completeMeta(m2.config, { input: { kind: 'image', normalize: { kind: 'zscore' }, resize: [96, 96] } }, 'train'));
const m3 = new SegModel({ preset: 'bn', dims: 3, inChannels: 1, filters: [8, 16, 32, 64], deepSupervision: false });
const ckpt3 = join(tmp, 'unetpp3d.safetensors');
saveModel(ckpt3, m3, completeMeta(m3.config, { window: [32, 32, 32] }, 'train'));
const px = Buffer.from(new Uint8Array(96 * 96).map((_, i) => (i * 37 + (i % 96) * 11) % 251));
const png = await sharp(px, { raw: { width: 96, height: 96, channels: 1 } }).png().toBuffer();
const vox = new Float32Array(32 ** 3).map((_, i) => Math.sin(i * 0.013) * 50 + 100);
const eye = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
const nii = gzipSync(encodeNifti({ dims: [32, 32, 32], spacing: [1, 1, 1], affine: eye, data: vox }, 'float32'));
const MODELS = [
  { name: '2d', ckpt: ckpt2, body: png, what: `UNet++ 2D bn (filters ${FILTERS2.join(',')}), ${m2.params.count()} params, 96x96 PNG` },
  { name: '3d', ckpt: ckpt3, body: nii, what: `UNet++ 3D bn (filters 8..64), ${m3.params.count()} params, 32^3 NIfTI (.nii.gz), window 32^3` },
];
result.models = MODELS.map(({ name, what }) => ({ name, what }));

function start(args) {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, OMP_WAIT_POLICY: 'passive' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise((r) => child.on('exit', r));
  return new Promise((res, rej) => {
    const on = (d) => { text += d; const m = /listening on (http:\/\/\S+)/.exec(text); if (m) res({ child, base: m[1], exited, out: () => text }); };
    child.stdout.on('data', on); child.stderr.on('data', (d) => (text += d));
    child.on('exit', (c) => rej(new Error(`serve exited ${c}: ${text}`)));
  });
}

/** /healthz every 100 ms until stopped: answer times in ms. */
function probe(base) {
  const times = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      const t0 = performance.now();
      try { await fetch(`${base}/healthz`); times.push(performance.now() - t0); } catch { times.push(Infinity); }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => { on = false; await loop; return times.sort((a, b) => a - b); };
}
const pct = (s, p) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null);

for (const model of MODELS) {
  for (const workers of CONFIGS) {
    const s = await start(['serve', '-m', model.ckpt, '--port', '0', '--threads', THREADS, '--workers', String(workers),
      '--max-batch', '8', '--max-wait', '5', '--max-queue', '256', '--timeout', '120000']);
    const url = `${s.base}/v1/predict`;
    const opts = (c, duration) => ({ url, method: 'POST', body: model.body, connections: c, duration, timeout: 120,
      headers: { 'content-type': 'application/octet-stream' } });
    try {
      for (const c of CLIENTS) {
        await autocannon(opts(c, 2)); // warm-up
        const load0 = loadavg()[0];
        const health = probe(s.base);
        const r = await autocannon(opts(c, SECONDS));
        const h = await health();
        const row = { model: model.name, workers, clients: c, reqPerSec: r.requests.average, p50ms: r.latency.p50, p99ms: r.latency.p99,
          ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
          healthP50ms: pct(h, 0.5), healthP99ms: pct(h, 0.99), healthMaxms: h[h.length - 1] ?? null,
          loadAvg1Before: load0, loadAvg1After: loadavg()[0] };
        result.rows.push(row);
        log(`${model.name} --workers ${workers}, ${c} clients: ${row.reqPerSec.toFixed(1)} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, ` +
          `health p99 ${row.healthP99ms?.toFixed(1)} ms, non-2xx ${row.non2xx}, load ${load0.toFixed(1)}`);
      }
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
}
result.uptimeAfter = execSync('uptime').toString().trim();
writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
log(`wrote ${OUT}`);
rmSync(tmp, { recursive: true, force: true });
