// The unetpp command line, spawned as users run it: help, errors as one line with exit code
// 1, --config merging, predict/eval end to end on a tiny random model (reference backend).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { readMaskRaw, writeImagePng } from '../../src/data/images/read-image.js';
import { writeFolder } from '../../src/data/images/folder.js';
import { Rng } from '../../src/data/rng.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const COMMANDS = ['train', 'predict', 'eval', 'postprocess', 'export', 'info', 'demo', 'bench'];

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'unetpp-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const ckpt = join(tmp, 'tiny.safetensors');
const tiny = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, deepSupervision: true, seed: 3 });
saveModel(ckpt, tiny, completeMeta(tiny.config, {}, 'train'));
const r = new Rng(1);
const noise = (n: number) => Float32Array.from({ length: n }, () => r.next());
await writeImagePng(join(tmp, 'odd.png'), { width: 53, height: 37, channels: 1, data: noise(53 * 37) });

test('every subcommand has --help', () => {
  const top = cli(['--help']);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) {
    assert.match(top.out, new RegExp(`\\n\\s+${c}\\b`));
    const h = cli([c, '--help']);
    assert.equal(h.code, 0, `${c} --help: ${h.err}`);
    assert.match(h.out, new RegExp(`^Usage: unetpp ${c} `));
    assert.match(h.out, /--config <file>/);
  }
});

const oneLine = (s: string) => s.trim().split('\n').filter((l) => !l.startsWith('(add --help')).length === 1;

test('bad options and inputs: one line naming the option or file, exit code 1, no stack', () => {
  const cases: [string[], RegExp][] = [
    [['predict', 'x.png', '-m', ckpt, '--tile', 'abc'], /option '--tile <size>' argument 'abc' is invalid/],
    [['predict', 'x.png', '-m', ckpt, '--overlap', '1.5'], /--overlap/],
    [['predict', 'x.png', '-m', ckpt, '--bogus'], /unknown option '--bogus'/],
    [['predict', 'x.png', '-m', join(tmp, 'none.safetensors')], /--model .*none\.safetensors: no such file/],
    [['predict', join(tmp, 'missing.png'), '-m', ckpt, '--backend', 'reference'], /missing\.png: no such file/],
    [['predict', join(tmp, 'odd.png'), '-m', ckpt, '--backend', 'reference', '--tile', '10'], /--tile 10x10: every side must be a multiple of 2\^2 = 4 .*: use 8x8 or 12x12/],
    [['eval', '-m', ckpt, '-d', join(tmp, 'nodata')], /--data .*nodata: no such folder/],
    [['postprocess', '-m', ckpt, '-d', join(tmp, 'nodata')], /--data .*nodata: no such folder/],
    [['postprocess', '-m', ckpt, '-d', tmp], /post-processing is chosen for volume models: give a 3D checkpoint/],
    [['postprocess', '--pytorch', ckpt, '-d', tmp], /--pytorch: post-processing is recorded in a unetpp checkpoint; give --model/],
    [['predict', 'x.png', '-m', ckpt, '--backend', 'gpu'], /--backend <name>' argument 'gpu' is invalid/],
  ];
  for (const [args, re] of cases) {
    const res = cli(args);
    assert.equal(res.code, 1, args.join(' '));
    assert.match(res.err, re, args.join(' '));
    assert.ok(oneLine(res.err), `one line: ${res.err}`);
    assert.doesNotMatch(res.err, /\n\s+at /);
  }
  const env = cli(['predict', join(tmp, 'odd.png'), '-m', ckpt], { UNETPP_THREADS: 'many' });
  assert.equal(env.code, 1);
  assert.match(env.err, /UNETPP_THREADS=many: expected a positive integer/);
  // --verbose shows the stack
  const v = cli(['predict', join(tmp, 'missing.png'), '-m', ckpt, '--backend', 'reference', '--verbose']);
  assert.equal(v.code, 1);
  assert.match(v.err, /\n\s+at /);
});

test('predict on a tiny random model writes masks of the input size (37x53), with overlay', async () => {
  const out = join(tmp, 'pred');
  const res = cli(['predict', join(tmp, 'odd.png'), '-m', ckpt, '-o', out, '--backend', 'reference', '--overlay', '--tta', '--tile', '16', '--mode', 'fast', '--head', '1']);
  assert.equal(res.code, 0, res.err);
  const m = await readMaskRaw(join(out, 'odd.png'));
  assert.deepEqual([m.width, m.height], [53, 37]);
  assert.ok([...m.values].every((v) => v === 0 || v === 255));
  assert.ok(existsSync(join(out, 'odd_overlay.png')));
  assert.match(res.out, /1 file\(s\) in .* on reference/);
});

test('--config fills options; flags on the command line override it; unknown keys are named', async () => {
  const cfg = join(tmp, 'cfg.json');
  writeFileSync(cfg, JSON.stringify({ model: ckpt, backend: 'reference', threshold: 1, out: join(tmp, 'c1'), 'tile': 16 }));
  assert.equal(cli(['predict', join(tmp, 'odd.png'), '--config', cfg]).code, 0);
  const all0 = await readMaskRaw(join(tmp, 'c1', 'odd.png'));
  assert.ok([...all0.values].every((v) => v === 0)); // threshold 1: nothing above
  const res = cli(['predict', join(tmp, 'odd.png'), '--config', cfg, '--threshold', '0', '-o', join(tmp, 'c2')]);
  assert.equal(res.code, 0, res.err);
  const all1 = await readMaskRaw(join(tmp, 'c2', 'odd.png'));
  assert.ok([...all1.values].every((v) => v === 255)); // the flag won
  writeFileSync(cfg, JSON.stringify({ model: ckpt, tiles: 16 }));
  const bad = cli(['predict', join(tmp, 'odd.png'), '--config', cfg]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--config .*cfg\.json: unknown option "tiles" for 'predict'/);
  writeFileSync(cfg, JSON.stringify({ overlap: 'lots' }));
  assert.match(cli(['predict', 'x.png', '--config', cfg]).err, /option "overlap": expected a number/);
});

test('eval writes CSV rows for each image and a summary; info describes the model', async () => {
  const rr = new Rng(5);
  const samples = ['a', 'b', 'c'].map((id) => ({
    id, split: 'test' as const,
    image: { width: 20, height: 13, channels: 1, data: Float32Array.from({ length: 260 }, () => rr.next()) },
    mask: { width: 20, height: 13, channels: 1, data: Float32Array.from({ length: 260 }, () => (rr.next() > 0.6 ? 1 : 0)) },
  }));
  await writeFolder(join(tmp, 'ds'), samples);
  const out = join(tmp, 'ev');
  const res = cli(['eval', '-d', join(tmp, 'ds'), '-m', ckpt, '--backend', 'reference', '-o', out, '--split', 'test']);
  assert.equal(res.code, 0, res.err);
  const rows = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(rows[0], 'id,iou,dice,precision,recall,hd95');
  assert.deepEqual(rows.slice(1).map((l) => l.split(',')[0]), ['a', 'b', 'c']);
  assert.match(readFileSync(join(out, 'summary.csv'), 'utf8'), /^metric,mean,std,n,undefined\niou,/);
  assert.match(res.out, /\| dice \|/);
  const info = cli(['info', ckpt, '--size', '32']);
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /UNet\+\+ L2, preset bn, filters 4,8,16, 1 in, 1 class/);
  const paper = cli(['info', '--preset', 'paper', '--in-channels', '1', '--depth', '4']);
  assert.match(paper.out, /9,041,601 params/);
});
