// train -> predict through the CLI on a tiny synthetic set (reference backend, one epoch):
// the checkpoint records the preprocessing that predict then repeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSynthetic } from '../../src/data/images/synthetic.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { readMaskRaw } from '../../src/data/images/read-image.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });

test('train one epoch, then predict with the best checkpoint', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-train-'));
  try {
    await writeSynthetic(join(tmp, 'syn'), { count: 10, width: 16, height: 16, channels: 1, seed: 2, splitFractions: [0.6, 0.2, 0.2] });
    const run = join(tmp, 'run');
    const t = cli(['train', '-d', join(tmp, 'syn'), '-o', run, '--epochs', '1', '--batch-size', '2', '--filters', '4,8,16',
      '--backend', 'reference', '--normalize', 'zscore', '--no-progress', '--no-plot']);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /done: 1 epochs/);
    const meta = readCheckpointMeta(join(run, 'best.safetensors'));
    assert.deepEqual(meta.meta.input, { kind: 'image', normalize: { kind: 'zscore' } });
    assert.deepEqual(meta.meta.classNames, ['foreground']);
    assert.equal(meta.meta.model.filters.join(','), '4,8,16');
    assert.deepEqual([meta.meta.training?.status, meta.meta.training?.epoch, meta.meta.provenance.source], ['finished', 1, 'train']);
    const p = cli(['predict', join(tmp, 'syn', 'images'), '-m', join(run, 'best.safetensors'), '-o', join(tmp, 'pred'), '--backend', 'reference']);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /10 file\(s\)/);
    const m = await readMaskRaw(join(tmp, 'pred', 'syn_0000.png'));
    assert.deepEqual([m.width, m.height], [16, 16]);
    assert.ok(existsSync(join(run, 'last.safetensors')));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// --precision bf16 through the CLI: bf16 where the CPU has it; with bf16 hidden from oneDNN
// (ONEDNN_MAX_CPU_ISA=AVX512_CORE) the same command runs fp32 and says why in one line.
const nativeOk = existsSync(join(process.cwd(), 'build', 'Release', 'unetpp_native.node'));
test('train and predict with --precision bf16, and the fp32 fallback without bf16', { skip: nativeOk ? false : 'native addon not built' }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-bf16-'));
  try {
    await writeSynthetic(join(tmp, 'syn'), { count: 10, width: 16, height: 16, channels: 1, seed: 2, splitFractions: [0.6, 0.2, 0.2] });
    const train = (out: string, env: Record<string, string> = {}) => spawnSync(process.execPath, [MAIN, 'train', '-d', join(tmp, 'syn'), '-o', join(tmp, out),
      '--epochs', '1', '--batch-size', '2', '--filters', '4,8,16', '--backend', 'native', '--precision', 'bf16', '--no-progress', '--no-plot'],
    { encoding: 'utf8', env: { ...process.env, ...env } });
    const info = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(join(process.cwd(), 'build', 'Release', 'unetpp_native.node'))}); console.log(a.info().bf16)`], { encoding: 'utf8' });
    const hasBf16 = info.stdout.trim() === 'true';
    const t = train('run');
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, new RegExp(`\\(native, ${hasBf16 ? 'bf16' : 'fp32'}\\)`));
    const f = train('run32', { ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' });
    assert.equal(f.status, 0, f.stderr);
    assert.match(f.stdout, /\(native, fp32\)/);
    assert.match(f.stderr, /warning: precision bf16 unavailable: this CPU has no native bf16.*running in fp32/);
    const p = cli(['predict', join(tmp, 'syn', 'images'), '-m', join(tmp, 'run', 'best.safetensors'), '-o', join(tmp, 'pred'), '--backend', 'native', '--precision', 'bf16']);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, new RegExp(`on native \\(${hasBf16 ? 'bf16' : 'fp32'}\\)`));
    const bad = cli(['predict', join(tmp, 'syn', 'images'), '-m', join(tmp, 'run', 'best.safetensors'), '--precision', 'fp16']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--precision <p>' argument 'fp16' is invalid/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
