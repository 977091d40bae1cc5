// Issue 16's scaling table for volumes: the bench's default volume model (UNet++ with deep
// supervision, filters 16..256, instance norm, 1 channel, fp32) at sides 32..96 and batches 1..4,
// ours and the PyTorch peer (NCDHW and channels_last_3d), each configuration in a fresh process:
// median training-step and inference-batch times and the process's peak RSS (getrusage's
// ru_maxrss on both sides). Entries go to results.json as they finish (re-runs skip them; a
// configuration skipped as too large for the free memory is tried again), the table to table.md.
// Run from the repo root after npm run build:
//   node experiments/scaling-3d/run.mjs [--sides 32,48,64,96] [--batches 1,2,4] [--steps 3]
//     [--peer pytorch,pytorch-cl] [--threads N] [--memory-gb G] [--out DIR]
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, freemem, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { scalingTable, estimatePeakMb, work } from '../../dist/src/bench/scaling.js';
import { findPeer, peerModelArgs, PYTHON } from '../../dist/src/bench/peer.js';
import { median, VOLUME_FILTERS } from '../../dist/src/bench/model.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const list = (v) => v.split(',').map(Number);
const { values: a } = parseArgs({ options: {
  sides: { type: 'string', default: '32,48,64,96' }, batches: { type: 'string', default: '1,2,4' },
  steps: { type: 'string', default: '3' }, threads: { type: 'string', default: String(cpus().length) },
  peer: { type: 'string', default: 'pytorch,pytorch-cl' }, out: { type: 'string', default: here }, 'memory-gb': { type: 'string' },
} });
const steps = Number(a.steps), threads = Number(a.threads);
const who = ['unetpp', ...a.peer.split(',').filter(Boolean)];
for (const w of who.slice(1)) if (w !== 'pytorch' && w !== 'pytorch-cl') throw new Error(`--peer: pytorch (NCDHW) or pytorch-cl (channels_last_3d), got ${w}`);
mkdirSync(a.out, { recursive: true });
const out = join(a.out, 'results.json');
const atomic = (path, text) => { writeFileSync(path + '.tmp', text); renameSync(path + '.tmp', path); };
// skipped entries are tried again (this machine may have more memory free now)
let results = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).filter((r) => !r.skipped) : [];
const save = () => {
  atomic(out, JSON.stringify(results, null, 1) + '\n');
  atomic(join(a.out, 'table.md'), `${header()}\n${scalingTable(results)}`);
};
const header = () => {
  const loads = results.map((r) => r.load_before), torch = results.find((r) => r.torch)?.torch;
  return `Volumes: UNet++ with deep supervision, filters ${VOLUME_FILTERS[0]}..${VOLUME_FILTERS.at(-1)}, instance norm, 1 channel, fp32, `
    + `${[...new Set(results.map((r) => r.threads))].join('/')} threads (${cpus()[0]?.model}); medians of ${[...new Set(results.map((r) => r.steps))].join('/')} `
    + `steps after one warm-up, each configuration in its own process; peer: PyTorch${torch ? ` ${torch}` : ''}, the faster of NCDHW and `
    + `channels_last_3d "(cl)" per phase; ratios: peer time / ours. Load average before the runs: ${Math.min(...loads)}-${Math.max(...loads)} `
    + `(experiments/scaling-3d/results.json). At batch 1 the peer runs its convolutions with N*C*D*H <= 20480 without oneDNN `
    + `(PyTorch's dispatch rule; experiments/scaling-3d/peer_batch1.py): the batch-1 ratios measure that rule more than the kernels.\n`;
};

/** MemAvailable (MB): what a new process can take without swapping or the OOM killer (--memory-gb: less). */
function availableMb() {
  if (a['memory-gb']) return Number(a['memory-gb']) * 1024;
  const m = /MemAvailable:\s+(\d+) kB/.exec(existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '');
  return m ? Number(m[1]) / 1024 : freemem() / 2 ** 20;
}
const lastLine = (s) => (s ?? '').trim().split('\n').pop();
const failed = (r) => ({ error: r.signal ? `killed by ${r.signal}` : `exit ${r.status}: ${lastLine(r.stderr) ?? r.error?.message}` });

/** Ours: `unetpp bench --dims 3 --parts model` (warm-up 1, `steps` timed training steps, then inference). */
function runOurs(side, batch) {
  const r = spawnSync(process.execPath, [join(repo, 'dist/src/cli/main.js'), 'bench', '--dims', '3', '--size', `${side}`, '--batch', `${batch}`,
    '--steps', `${steps}`, '--warmup', '1', '--threads', `${threads}`, '--parts', 'model'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = r.status === 0 && r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.kind === 'model');
  if (!m) return failed(r);
  return { train_step_s: m.train_step_s, infer_batch_s: m.infer_batch_s, peak_rss_mb: m.peak_rss_mb, train_peak_rss_mb: m.train_peak_rss_mb,
    train_ms: m.train_ms, infer_ms: m.infer_ms, params: m.params };
}

/** The peer: scripts/peer-server.py as the bench's rounds run it, here once: one warm-up training
 *  step, `steps` timed ones, one warm-up inference batch, `steps` timed ones. */
function runPeer(side, batch, channelsLast) {
  const script = findPeer();
  if (!script) return { error: 'peer script not found (set UNETPP_PEER or keep ../shared/peer)' };
  const args = [join(repo, 'scripts', 'peer-server.py'), '--peer', script, ...peerModelArgs({ batch, size: side, threads, steps, channelsLast, bf16: false,
    ds: true, channels: 1, dims: 3, norm: 'instance', filters: VOLUME_FILTERS }), '--train-steps', '1', '--warmup', '0'];
  const r = spawnSync(PYTHON, args, { input: `train ${steps}\ninfer 1\ninfer ${steps}\nquit\n`, encoding: 'utf8', maxBuffer: 1 << 26 });
  const replies = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  if (r.status !== 0 || replies.length !== 4 || replies.some((x) => x.error)) return failed(r);
  const [ready, train, , infer] = replies;
  return { train_step_s: median(train.ms) / 1e3, infer_batch_s: median(infer.ms) / 1e3, peak_rss_mb: infer.peak_rss_mb,
    train_ms: train.ms.map((v) => +v.toFixed(1)), infer_ms: infer.ms.map((v) => +v.toFixed(1)), params: ready.params, torch: ready.torch };
}

const configs = list(a.sides).flatMap((side) => list(a.batches).map((batch) => ({ side, batch })))
  .sort((x, y) => work(x) - work(y));
for (const c of configs) for (const w of who) {
  if (results.some((r) => r.who === w && r.side === c.side && r.batch === c.batch)) continue;
  const id = `${w} ${c.side}^3 batch ${c.batch}`;
  const est = estimatePeakMb(results.filter((r) => r.who === w && r.peak_rss_mb).map((r) => ({ work: work(r), peakMb: r.peak_rss_mb })), work(c));
  const avail = availableMb();
  const base = { who: w, side: c.side, batch: c.batch, steps, threads, load_before: +loadavg()[0].toFixed(2), date: new Date().toISOString() };
  if (est !== undefined && est > 0.9 * avail) {
    results.push({ ...base, skipped: `estimated peak ${(est / 1024).toFixed(1)} GB > 90% of the ${(avail / 1024).toFixed(1)} GB available` });
    save();
    console.log(id, 'skipped:', results.at(-1).skipped);
    continue;
  }
  const t = Date.now();
  const r = w === 'unetpp' ? runOurs(c.side, c.batch) : runPeer(c.side, c.batch, w === 'pytorch-cl');
  results.push({ ...base, ...r, wall_s: +((Date.now() - t) / 1e3).toFixed(1), estimated_peak_mb: est && +est.toFixed(0) });
  save();
  console.log(id, r.error ? `FAILED: ${r.error}` : `train ${r.train_step_s.toFixed(3)} s, infer ${r.infer_batch_s.toFixed(3)} s, peak ${r.peak_rss_mb.toFixed(0)} MB (${results.at(-1).wall_s} s)`);
}
save();
console.log(`wrote ${out} and ${join(a.out, 'table.md')}`);
