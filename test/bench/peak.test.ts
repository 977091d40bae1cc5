// The bench's model FLOPs (benchGflop, from `unetpp info`'s count) against a count by hand on
// two-level UNet++s, 2D and 3D; the peak GFLOP/s's option, environment and default, and their
// errors (library and command line). No timing: the summary's fields are checked in bench*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { benchGflop, type ModelBenchOptions } from '../../src/bench/model.js';
import { DEFAULT_PEAKS, DEFAULT_PEAK_SOURCE, againstPeak, measureNativePeak, parsePeaks, peakFor } from '../../src/bench/peak.js';
import { getThreads, measurePeak, nativeAvailable } from '../../src/engine/backends/native.js';
import { readFileSync } from 'node:fs';
import { runBench } from '../../src/bench/index.js';

/** Forward FLOP of a UNet++ of depth 2 (filters [a, b, c]) on one input of side s, by hand: every
 *  conv 2 * k^dims * Cin * Cout * side^dims; a block is two 3^dims convs; heads 1^dims a -> 1. */
function byHand(dims: 2 | 3, cin: number, [a, b, c]: number[], s: number, heads: number): number {
  const conv = (k: number, ci: number, co: number, side: number) => 2 * k ** dims * ci * co * side ** dims;
  const block = (ci: number, co: number, side: number) => conv(3, ci, co, side) + conv(3, co, co, side);
  return block(cin, a, s) + block(a, b, s / 2) + block(b, c, s / 4) // X(0,0), X(1,0), X(2,0)
    + block(a + b, a, s) // X(0,1) = H([X(0,0), U(X(1,0))])
    + block(b + c, b, s / 2) // X(1,1) = H([X(1,0), U(X(2,0))])
    + block(a + a + b, a, s) // X(0,2) = H([X(0,0), X(0,1), U(X(1,1))])
    + heads * conv(1, a, 1, s);
}

const opts = (o: Partial<ModelBenchOptions>): ModelBenchOptions =>
  ({ batch: 2, size: 16, steps: 1, warmup: 0, ds: true, channels: 3, filters: [4, 8, 16], ...o });

test('bench model FLOPs: two-level UNet++ counted by hand, 2D and 3D; training 3x the forward', () => {
  for (const [o, hand] of [
    [opts({ dims: 2 }), byHand(2, 3, [4, 8, 16], 16, 2)],
    [opts({ dims: 2, ds: false }), byHand(2, 3, [4, 8, 16], 16, 1)],
    [opts({ dims: 2, size: 32, channels: 1, filters: [8, 16, 32] }), byHand(2, 1, [8, 16, 32], 32, 2)],
    [opts({ dims: 3, size: 8, channels: 1 }), byHand(3, 1, [4, 8, 16], 8, 2)],
    [opts({ dims: 3, size: 16, channels: 2, filters: [2, 4, 8], norm: 'batch' }), byHand(3, 2, [2, 4, 8], 16, 2)],
  ] as const) {
    const g = benchGflop(o);
    assert.ok(Math.abs(g.infer * 1e9 - hand) < 1e-6 * hand, `${JSON.stringify(o)}: ${g.infer * 1e9} vs ${hand} by hand`);
    assert.ok(Math.abs(g.train - 3 * g.infer) < 1e-12, 'forward + data gradient + weight gradient');
  }
  // The default bench models: `unetpp info`'s 9.70 GFLOP a 96x96 image, 125.85 a 64^3 volume.
  assert.ok(Math.abs(benchGflop(opts({ size: 96, filters: undefined })).infer - 9.70) < 0.005);
  const vol = benchGflop(opts({ dims: 3, size: 64, channels: 1, filters: undefined }));
  assert.ok(Math.abs(vol.infer - 125.85) < 0.005, `${vol.infer}`);
});

test('peak GFLOP/s: parsed list, option over environment over default, errors name their source', () => {
  assert.deepEqual(parsePeaks('fp32=223,bf16=460'), { fp32: 223, bf16: 460 });
  assert.deepEqual(parsePeaks(' bf16=912.5 '), { bf16: 912.5 });
  for (const bad of ['fp32=abc', 'fp32=0', 'fp32=-5', 'fp16=100', 'fp32', '223', 'fp32=1,', ''])
    assert.throws(() => parsePeaks(bad), /expected fp32=N and\/or bf16=N/, bad);
  assert.deepEqual(peakFor('fp32', {}, undefined), { gflops: DEFAULT_PEAKS.fp32, source: DEFAULT_PEAK_SOURCE });
  assert.deepEqual(peakFor('bf16', {}, ''), { gflops: 460, source: DEFAULT_PEAK_SOURCE });
  assert.deepEqual(peakFor('bf16', {}, 'bf16=900'), { gflops: 900, source: 'env UNETPP_PEAK_GFLOPS' });
  assert.deepEqual(peakFor('fp32', {}, 'bf16=900'), { gflops: 223, source: DEFAULT_PEAK_SOURCE }, 'not in the env: default');
  assert.deepEqual(peakFor('bf16', { bf16: 800 }, 'bf16=900'), { gflops: 800, source: 'option' });
  // a measurement comes after option and environment, before the default
  const fake = (p: string) => (p === 'bf16' ? null : { gflops: 500, source: 'measured: fake' });
  assert.deepEqual(peakFor('fp32', {}, '', fake), { gflops: 500, source: 'measured: fake' });
  assert.deepEqual(peakFor('fp32', {}, 'fp32=300', fake), { gflops: 300, source: 'env UNETPP_PEAK_GFLOPS' });
  assert.deepEqual(peakFor('bf16', {}, '', fake), { gflops: 460, source: DEFAULT_PEAK_SOURCE }, 'nothing measured: default');
  assert.throws(() => peakFor('fp32', {}, 'fp32=fast'), /^Error: UNETPP_PEAK_GFLOPS: expected fp32=N.*got "fp32=fast"/);
  assert.throws(() => peakFor('fp32', { bf16: -1 }), /--peak-gflops \(peakGflops\).*bf16=-1/);
  // gflop_per_s = GFLOP per image x images a second; fraction = that / peak
  assert.deepEqual(againstPeak(29.1, 10, 223), { gflopPerS: 291, fraction: 1.3049 });
});

test('bench: a bad peak fails before anything runs (library and command line)', async () => {
  const lines: object[] = [];
  await assert.rejects(runBench({ peakGflops: { fp32: Number.NaN }, emit: (l) => lines.push(l) }), /--peak-gflops/);
  assert.equal(lines.length, 0);
  const main = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [main, 'bench', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const r = cli(['--peak-gflops', 'fp32=abc']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /option '--peak-gflops <list>' argument 'fp32=abc' is invalid\. expected fp32=N/);
  assert.equal(r.stdout, '');
  const e = cli(['--parts', 'floor'], { UNETPP_PEAK_GFLOPS: 'bf16=-1' });
  assert.equal(e.status, 1);
  assert.match(e.stderr, /UNETPP_PEAK_GFLOPS: expected fp32=N.*got "bf16=-1"/);
  assert.equal(e.stdout, '');
});

test('the machine\'s peak, measured by the addon: the loop its CPU has, a positive rate; bf16 only with AVX512_BF16', (t) => {
  const native = nativeAvailable();
  if (!native.ok) {
    if (process.env.CI === 'true') assert.fail(`the native addon is built by the set-up: ${native.reason}`);
    t.skip(`no native addon: ${native.reason}`);
    return;
  }
  const flags = new Set((readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
  const fp32 = measurePeak(false, 200_000), bf16 = measurePeak(true, 200_000);
  assert.equal(fp32.isa, flags.has('avx512f') ? 'avx512' : flags.has('avx2') ? 'avx2' : 'none');
  if (fp32.isa !== 'none') assert.ok(fp32.gflops > 0, JSON.stringify(fp32));
  assert.equal(bf16.isa, flags.has('avx512_bf16') ? 'avx512_bf16' : 'none');
  if (bf16.isa === 'none') assert.equal(bf16.gflops, 0);
  else assert.ok(bf16.gflops > 0, JSON.stringify(bf16));
  assert.equal(fp32.threads, getThreads());
  // the bench's peak: measured, named as such, unless an option or the environment gives it
  const p = peakFor('fp32', {}, '', measureNativePeak);
  if (fp32.isa !== 'none') assert.match(p.source, /^measured: register-only avx(512|2) loop, \d+ threads$/);
});
