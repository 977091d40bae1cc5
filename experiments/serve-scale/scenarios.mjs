// The service's figures of docs/serve.md ("Measured": issue 25's closing table); not a test. From the
// repo root after the build (`npx tsc -p .`):
//   node experiments/serve-scale/scenarios.mjs [--parts load,big,stops] [--seconds 10] [--clients 1,8,32,128]
//     [--workers 1] [--threads 2] [--filters 32,64,128,256,512] [--big 2400] [--stops 8] [--stop-timeout 5000] [--out FILE]
// Writes docs/bench/<date>-<commit>-serve-scale.json (or --out) and prints the tables.
// 1. load: for each --workers count (comma-separated; 0: predictions on the main thread), autocannon
//    posts a 96x96 PNG with 1, 8, 32 and 128 clients for --seconds each (after a 2 s warm-up):
//    req/s, latency p50/p99, answers by status code, the serve process's RSS (peak while the row ran,
//    and after it), and /healthz p50/p99 asked every 100 ms meanwhile;
// 2. big: for each --workers count, one --big x --big PNG predicted while /healthz is asked every 50 ms
//    (the issue's "/healthz under 50 ms p99 while a 2400^2 image is predicted"): its time, status, RSS
//    peak, health p50/p99;
// 3. stops: --stops requests cut by --timeout --stop-timeout (a 1024^2 TTA image in windows of 256, after
//    a 256^2 one that runs the same plan to its end): their answers, how long each took to stop, RSS and
//    worker count after each (a stopped prediction's memory is reused, its worker lives on).
// The model is the full UNet++ (bn preset, deep supervision) with its initial weights (the cost is the
// network's); --filters 8,16,32,64 makes a small one for a short check. The load average is recorded
// with every row: on a shared machine it is the context of the figures.
import { spawn, execSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const nums = (s) => s.split(',').map(Number);
const PARTS = arg('parts', 'load,big,stops').split(',');
const SECONDS = Number(arg('seconds', 10));
const CLIENTS = nums(arg('clients', '1,8,32,128'));
const WORKERS = nums(arg('workers', '1'));
const THREADS = arg('threads', '2');
const FILTERS = nums(arg('filters', '32,64,128,256,512'));
const BIG = Number(arg('big', 2400));
const STOPS = Number(arg('stops', 8));
const STOP_TIMEOUT = Number(arg('stop-timeout', 5000));
const date = new Date().toISOString();
const commit = execSync('git rev-parse --short HEAD').toString().trim();
const OUT = arg('out', `docs/bench/${date.slice(0, 10)}-${commit}-serve-scale.json`);
const MAIN = resolve('dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'unetpp-scenarios-'));
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const result = { date, commit, argv: process.argv.slice(2), uptimeBefore: execSync('uptime').toString().trim(), cpus: cpus().length,
  cpu: cpus()[0].model, seconds: SECONDS, threads: Number(THREADS) };

const { SegModel } = await import(resolve('dist/src/models/model.js'));
const { saveModel } = await import(resolve('dist/src/io/checkpoint.js'));
const { completeMeta } = await import(resolve('dist/src/io/meta-defaults.js'));
const model = new SegModel({ preset: 'bn', inChannels: 1, deepSupervision: true, filters: FILTERS });
const ckpt = join(tmp, 'unetpp.safetensors');
saveModel(ckpt, model, completeMeta(model.config, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train'));
result.model = `UNet++ 2D bn, filters ${FILTERS.join(',')}, deep supervision, ${model.params.count()} params, initial weights`;
const png = (w, h) => sharp(Buffer.from(new Uint8Array(w * h).map((_, i) => (i * 37 + (i % w) * 11) % 251)),
  { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();

function serve(args) {
  const child = spawn(process.execPath, [MAIN, 'serve', '-m', ckpt, '--port', '0', '--threads', THREADS, ...args],
    { env: { ...process.env, OMP_WAIT_POLICY: 'passive' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise((r) => child.on('exit', r));
  return new Promise((res, rej) => {
    const on = (d) => { text += d; const m = /listening on (http:\/\/\S+)/.exec(text); if (m) res({ child, base: m[1], exited, out: () => text }); };
    child.stdout.on('data', on);
    child.stderr.on('data', (d) => (text += d));
    child.on('exit', (c) => rej(new Error(`serve exited ${c}: ${text}`)));
  });
}
const stop = async (s) => { s.child.kill('SIGTERM'); await s.exited; };
const rssMb = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Until stopped: /healthz every `ms` (answer times, sorted) and the RSS peak of `pid`. */
function watch(base, pid, ms) {
  const times = [];
  let peak = rssMb(pid), on = true;
  const loop = (async () => {
    while (on) {
      peak = Math.max(peak, rssMb(pid));
      const t0 = performance.now();
      try { await fetch(`${base}/healthz`); times.push(performance.now() - t0); } catch { times.push(Infinity); }
      await new Promise((r) => setTimeout(r, ms));
    }
  })();
  return async () => { on = false; await loop; return { health: times.sort((a, b) => a - b), peakMb: peak }; };
}
const pct = (s, p) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null);
const fix = (v, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

// 1. load
if (PARTS.includes('load')) {
  result.load = [];
  const body = await png(96, 96);
  for (const workers of WORKERS) {
    const s = await serve(['--workers', String(workers), '--max-batch', '8', '--max-wait', '5', '--max-queue', '64', '--timeout', '60000']);
    const opts = (c, duration) => ({ url: `${s.base}/v1/predict`, method: 'POST', body, connections: c, duration, timeout: 120,
      headers: { 'content-type': 'application/octet-stream' } });
    try {
      for (const c of CLIENTS) {
        await autocannon(opts(c, 2)); // warm-up
        const load0 = loadavg()[0];
        const w = watch(s.base, s.child.pid, 100);
        const r = await autocannon(opts(c, SECONDS));
        const { health, peakMb } = await w();
        const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
        const row = { workers, clients: c, reqPerSec: r.requests.average, p50ms: r.latency.p50, p99ms: r.latency.p99, codes,
          errors: r.errors, timeouts: r.timeouts, rssPeakMb: peakMb, rssAfterMb: rssMb(s.child.pid),
          healthP50ms: pct(health, 0.5), healthP99ms: pct(health, 0.99), loadAvg1Before: load0, loadAvg1After: loadavg()[0] };
        result.load.push(row);
        log(`load --workers ${workers}, ${c} clients: ${fix(row.reqPerSec)} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, ` +
          `codes ${JSON.stringify(codes)}, RSS peak ${fix(peakMb, 0)} MB, health p99 ${fix(row.healthP99ms)} ms, load ${load0.toFixed(1)}`);
      }
    } finally { await stop(s); }
  }
}

// 2. /healthz while one large image is predicted
if (PARTS.includes('big')) {
  const body = await png(BIG, BIG);
  result.big = [];
  for (const workers of WORKERS) {
    const s = await serve(['--workers', String(workers), '--no-warm', '--timeout', '3600000', '--max-pixels', String(BIG * BIG)]);
    try {
      const load0 = loadavg()[0];
      const w = watch(s.base, s.child.pid, 50);
      const t0 = performance.now();
      const r = await fetch(`${s.base}/v1/predict?format=json`, { method: 'POST', body }).catch((e) => {
        throw new Error(`big --workers ${workers}: ${e.cause?.message ?? e.message}; the service said:\n${s.out()}`);
      });
      const answer = await r.text();
      const ms = performance.now() - t0;
      const { health, peakMb } = await w();
      const row = { workers, size: BIG, status: r.status, ms, message: r.ok ? undefined : answer, healthChecks: health.length,
        healthP50ms: pct(health, 0.5), healthP99ms: pct(health, 0.99), healthMaxMs: health[health.length - 1] ?? null,
        rssPeakMb: peakMb, loadAvg1Before: load0, loadAvg1After: loadavg()[0] };
      result.big.push(row);
      log(`big --workers ${workers}: ${BIG}x${BIG} ${r.status} in ${(ms / 1000).toFixed(1)} s; ${health.length} health checks: ` +
        `p50 ${fix(row.healthP50ms)} ms, p99 ${fix(row.healthP99ms)} ms; RSS peak ${fix(peakMb, 0)} MB`);
    } finally { await stop(s); }
  }
}

// 3. requests cut by --timeout: the worker stops them and lives on
if (PARTS.includes('stops')) {
  const big = await png(1024, 1024), small = await png(96, 96);
  const s = await serve(['--workers', '1', '--no-warm', '--timeout', String(STOP_TIMEOUT)]);
  const workersNow = async () => (await (await fetch(`${s.base}/readyz`)).json()).workers;
  try {
    const warm = await fetch(`${s.base}/v1/predict?tta=1&tile=256`, { method: 'POST', body: await png(256, 256) });
    result.stops = { timeoutMs: STOP_TIMEOUT, warmStatus: warm.status, rounds: [] };
    if (!warm.ok) log(`stops: the 256^2 warm-up answered ${warm.status}: give a longer --stop-timeout`);
    for (let i = 0; i < STOPS; i++) {
      const t0 = performance.now();
      const r = await fetch(`${s.base}/v1/predict?tta=1&tile=256`, { method: 'POST', body: big });
      await r.arrayBuffer();
      const ms = performance.now() - t0;
      const t1 = performance.now();
      while ((s.out().match(/a job past its time (stopped|finished) in its worker/g) ?? []).length <= i && performance.now() - t1 < 30000)
        await new Promise((res) => setTimeout(res, 20));
      const next = await fetch(`${s.base}/v1/predict`, { method: 'POST', body: small });
      await next.arrayBuffer();
      result.stops.rounds.push({ status: r.status, ms, nextStatus: next.status, rssMb: rssMb(s.child.pid), workers: await workersNow() });
    }
    result.stops.respawns = (s.out().match(/a new worker thread is ready/g) ?? []).length;
    result.stops.stopLines = s.out().split('\n').filter((l) => /past its time/.test(l));
    const rss = result.stops.rounds.map((r) => r.rssMb);
    log(`stops: ${result.stops.rounds.map((r) => `${r.status}/${r.ms.toFixed(0)}ms`).join(' ')}; RSS ${rss.map((m) => m.toFixed(0)).join(', ')} MB; ` +
      `respawns ${result.stops.respawns}`);
  } finally { await stop(s); }
}

result.uptimeAfter = execSync('uptime').toString().trim();
mkdirSync(dirname(resolve(OUT)), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
log(`wrote ${OUT}`);
const md = [];
if (result.load) {
  md.push('| workers | clients | req/s | p50 ms | p99 ms | codes | RSS peak MB | /healthz p50 ms | /healthz p99 ms | load avg |',
    '|---|---|---|---|---|---|---|---|---|---|');
  for (const r of result.load) {
    const codes = Object.entries(r.codes).map(([k, v]) => `${k}: ${v}`).join(', ') + (r.errors ? `, errors: ${r.errors}` : '');
    md.push(`| ${r.workers} | ${r.clients} | ${fix(r.reqPerSec)} | ${r.p50ms} | ${r.p99ms} | ${codes || '-'} | ${fix(r.rssPeakMb, 0)} | ` +
      `${fix(r.healthP50ms)} | ${fix(r.healthP99ms)} | ${r.loadAvg1Before.toFixed(1)} |`);
  }
}
for (const b of result.big ?? []) {
  md.push('', `--workers ${b.workers}, ${b.size}x${b.size}: ${b.status} in ${(b.ms / 1000).toFixed(1)} s; /healthz meanwhile ` +
    `(${b.healthChecks} checks): p50 ${fix(b.healthP50ms)} ms, p99 ${fix(b.healthP99ms)} ms, slowest ${fix(b.healthMaxMs)} ms; ` +
    `RSS peak ${fix(b.rssPeakMb, 0)} MB.`);
}
if (result.stops) {
  const r = result.stops.rounds;
  md.push('', `${r.length} requests cut by --timeout ${STOP_TIMEOUT}: ${r.map((x) => x.status).join(', ')}; RSS after each ` +
    `${r.map((x) => x.rssMb.toFixed(0)).join(', ')} MB; workers ${r.map((x) => x.workers).join(', ')}; respawns ${result.stops.respawns}.`);
}
console.log(md.join('\n'));
rmSync(tmp, { recursive: true, force: true });
