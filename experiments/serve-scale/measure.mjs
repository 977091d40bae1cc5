// Measures the service and the queue (issue 18); not a test. Run from the repo root after
// `npm run build`, on a machine with redis-server:
//   node experiments/serve-scale/measure.mjs [--jobs 1000] [--seconds 10] [--parts serve,batch,fault]
//     [--batches 8,1] [--clients 1,8,32] [--out docs/serve-measured.json]
// 1. serve under load (autocannon) at 1, 8 and 32 concurrent clients, with micro-batching
//    (--batches, default max-batch 8) and without (max-batch 1): throughput, p50/p99 latency;
// 2. batch prediction of DSB2018 images through submit with 1 and 2 workers (jobs beyond the
//    664 images repeat them into distinct outputs, through symlinks);
// 3. a fault run: two workers, one killed with SIGKILL mid-run, Redis restarted once (AOF
//    persistence on); then every image must have exactly one mask, equal to local predict's.
// The model is a full-size UNet++ (bn preset, filters 32..512, deep supervision) with its
// initial weights: the cost measured is the network's, whatever it learned.
import { spawn, spawnSync, execSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import autocannon from 'autocannon';
import sharp from 'sharp';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const JOBS = Number(arg('jobs', 1000));
const SECONDS = Number(arg('seconds', 10));
const OUT = arg('out', 'docs/serve-measured.json');
const DATA = arg('data', '/work/shared/data/dsb2018');
const PARTS = arg('parts', 'serve,batch,fault').split(',');
const MAIN = resolve('dist/src/cli/main.js');
const ENV = { ...process.env, OMP_WAIT_POLICY: 'passive' };
const tmp = mkdtempSync(join(tmpdir(), 'unetpp-measure-'));
const result = { date: new Date().toISOString(), uptimeBefore: execSync('uptime').toString().trim(), cpus: cpus().length, cpu: cpus()[0].model };
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
function start(cmd, args, ready, env = ENV) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise((r) => child.on('exit', r));
  return new Promise((res, rej) => {
    const on = (d) => { text += d; const m = ready.exec(text); if (m) res({ child, match: m, out: () => text, exited }); };
    child.stdout.on('data', on); child.stderr.on('data', (d) => (text += d));
    child.on('exit', (c) => rej(new Error(`${cmd} ${args[0]} exited ${c}: ${text}`)));
  });
}
const stop = async (p, sig = 'SIGTERM') => { if (p && p.child.exitCode === null && p.child.signalCode === null) { p.child.kill(sig); await p.exited; } };
const cli = (args) => { const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: ENV }); if (r.status !== 0 && !args.includes('submit')) throw new Error(r.stderr); return r; };

// the model
const ckpt = join(tmp, 'unetpp.safetensors');
{
  const { SegModel } = await import(resolve('dist/src/models/model.js'));
  const { saveModel } = await import(resolve('dist/src/io/checkpoint.js'));
  const { completeMeta } = await import(resolve('dist/src/io/meta-defaults.js'));
  const m = new SegModel({ preset: 'bn', inChannels: 1, deepSupervision: true });
  saveModel(ckpt, m, completeMeta(m.config, { input: { kind: 'image', normalize: { kind: 'zscore' }, resize: [96, 96] } }, 'train'));
  result.model = { preset: 'bn', filters: m.config.filters, params: m.params.count(), input: '96x96 grey, DSB2018 images resized (--resize 96)' };
}
const images = readdirSync(join(DATA, 'images')).sort().map((n) => join(DATA, 'images', n));

// 1. serve under load
async function load(maxBatch) {
  const port = await freePort();
  const s = await start(process.execPath, [MAIN, 'serve', '-m', ckpt, '--port', String(port), '--max-batch', String(maxBatch), '--max-wait', '10', '--max-queue', '256'], /listening/);
  const body = await sharp(images[0]).greyscale().resize(96, 96).png().toBuffer();
  const url = `http://127.0.0.1:${port}/v1/predict`;
  const rows = [];
  try {
    for (const c of (arg('clients', '1,8,32')).split(',').map(Number)) {
      await autocannon({ url, method: 'POST', body, connections: c, duration: 2, headers: { 'content-type': 'image/png' } }); // warm-up
      const r = await autocannon({ url, method: 'POST', body, connections: c, duration: SECONDS, headers: { 'content-type': 'image/png' } });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const row = { maxBatch, clients: c, reqPerSec: r.requests.average, p50ms: r.latency.p50, p99ms: r.latency.p99, ok: r['2xx'], non2xx: r.non2xx, errors: r.errors,
        meanBatch: Number(/unetpp_batch_size_sum (\S+)/.exec(metrics)[1]) / Number(/unetpp_batch_size_count (\S+)/.exec(metrics)[1]) };
      rows.push(row);
      log(`serve max-batch ${maxBatch}, ${c} clients: ${row.reqPerSec.toFixed(1)} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, mean batch so far ${row.meanBatch.toFixed(2)}`);
    }
  } finally { await stop(s); }
  return rows;
}
if (PARTS.includes('serve')) { result.serve = []; for (const b of arg('batches', '8,1').split(',').map(Number)) result.serve.push(...(await load(b))); }

// Redis with AOF persistence (the fault run restarts it)
const redisDir = join(tmp, 'redis'); mkdirSync(redisDir);
const rport = await freePort();
const startRedis = () => start('redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', redisDir], /Ready to accept connections/);
let redis = await startRedis();
const url = `redis://127.0.0.1:${rport}`;
const worker = (threads) => start(process.execPath, [MAIN, 'worker', '--redis', url, '--queues', 'predict', '--roots', `${tmp},${DATA}`,
  '--threads', String(threads), '--lock-duration', '10000', '--stalled-interval', '5000'], /waiting for jobs/);
const submit = (dir, out) => new Promise((res) => {
  const c = spawn(process.execPath, [MAIN, 'submit', dir, '--redis', url, '-m', ckpt, '-o', out, '--resize', '96', '--no-progress'], { env: ENV });
  let text = ''; c.stdout.on('data', (d) => (text += d)); c.stderr.on('data', (d) => (text += d));
  c.on('exit', (code) => res({ code, text }));
});

// 2. batch prediction: JOBS jobs, distinct outputs
const jobsDir = join(tmp, 'jobs'); mkdirSync(jobsDir);
for (let i = 0; i < JOBS; i++) symlinkSync(images[i % images.length], join(jobsDir, `job${String(i).padStart(5, '0')}.png`));
result.batch = [];
for (const n of PARTS.includes('batch') ? [1, 2] : []) {
  const ws = [];
  for (let i = 0; i < n; i++) ws.push(await worker(n === 1 ? 2 : 1));
  const t0 = performance.now();
  const r = await submit(jobsDir, join(tmp, `batch${n}`));
  const s = (performance.now() - t0) / 1000;
  await Promise.all(ws.map((w) => stop(w)));
  const line = /(\d+) file\(s\): (\d+) predicted.*\n/.exec(r.text)?.[0]?.trim();
  result.batch.push({ workers: n, threadsEach: n === 1 ? 2 : 1, jobs: JOBS, seconds: s, imagesPerSec: JOBS / s, summary: line });
  log(`batch: ${n} worker(s), ${JOBS} jobs in ${s.toFixed(1)} s (${(JOBS / s).toFixed(1)} img/s): ${line}`);
}

// 3. fault run over every image once: kill -9 one worker at ~25%, restart Redis at ~50%
if (PARTS.includes('fault')) {
  const out = join(tmp, 'fault');
  const ws = [await worker(1), await worker(1)];
  const t0 = performance.now();
  const run = submit(join(DATA, 'images'), out);
  const done = () => { try { return readdirSync(out).filter((n) => n.endsWith('.png')).length; } catch { return 0; } };
  while (done() < images.length * 0.25) await new Promise((r) => setTimeout(r, 100));
  ws[0].child.kill('SIGKILL'); await ws[0].exited;
  log(`fault: killed worker ${ws[0].child.pid} (SIGKILL) at ${done()} masks`);
  const replacement = await worker(1);
  while (done() < images.length * 0.5) await new Promise((r) => setTimeout(r, 100));
  await stop(redis); log(`fault: Redis stopped at ${done()} masks`);
  await new Promise((r) => setTimeout(r, 2000));
  redis = await startRedis(); log('fault: Redis restarted (AOF)');
  const r = await run;
  const s = (performance.now() - t0) / 1000;
  const stalled = [ws[1], replacement].map((w) => (w.out().match(/stalled/g) ?? []).length).reduce((a, b) => a + b, 0);
  await Promise.all([ws[1], replacement].map((w) => stop(w)));
  // check: one mask per image, nothing else, equal to local predict
  const local = join(tmp, 'local');
  cli(['predict', join(DATA, 'images'), '-m', ckpt, '-o', local, '--resize', '96', '--threads', '2']);
  const names = readdirSync(out);
  const masks = names.filter((n) => n.endsWith('.png'));
  const other = names.filter((n) => !n.endsWith('.png') && !n.endsWith('.unetpp.json')); // job records are expected
  const differ = masks.filter((n) => !readFileSync(join(out, n)).equals(readFileSync(join(local, n))));
  const line = /(\d+) file\(s\): .*\n/.exec(r.text)?.[0]?.trim();
  result.fault = {
    images: images.length, masks: masks.length, otherFiles: other, differFromLocal: differ.length, submitExit: r.code, seconds: s,
    stalledJobsTakenOver: stalled, summary: line,
    everyImageOnce: masks.length === images.length && other.length === 0 && differ.length === 0 && r.code === 0,
  };
  log(`fault: ${JSON.stringify(result.fault)}`);
}
await stop(redis);
result.uptimeAfter = execSync('uptime').toString().trim();
result.loadavg = loadavg();
mkdirSync(resolve(OUT, '..'), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
log(`written ${OUT}`);
// the tables of docs/serve.md
const md = [];
if (result.serve) {
  md.push('| max-batch | clients | req/s | p50 ms | p99 ms | mean batch | non-2xx |', '|---|---|---|---|---|---|---|');
  for (const r of result.serve) md.push(`| ${r.maxBatch} | ${r.clients} | ${r.reqPerSec.toFixed(1)} | ${r.p50ms} | ${r.p99ms} | ${r.meanBatch.toFixed(2)} | ${r.non2xx + r.errors} |`);
}
if (result.batch.length) {
  md.push('', '| workers | threads each | jobs | seconds | images/s |', '|---|---|---|---|---|');
  for (const b of result.batch) md.push(`| ${b.workers} | ${b.threadsEach} | ${b.jobs} | ${b.seconds.toFixed(1)} | ${b.imagesPerSec.toFixed(1)} |`);
}
if (result.fault) {
  const f = result.fault;
  md.push('', `Fault run: ${f.images} images, ${f.masks} masks, ${f.otherFiles.length} other files, ${f.differFromLocal} differing from local predict, ` +
    `${f.stalledJobsTakenOver} stalled job(s) taken over, submit exit ${f.submitExit}, ${f.seconds.toFixed(1)} s: every image once and equal: ${f.everyImageOnce}.`);
}
console.log(md.join('\n'));
rmSync(tmp, { recursive: true, force: true });
