#!/usr/bin/env node
// Speed of two commits in one run: each is checked out into a temporary worktree and built (TypeScript and the
// native addon), then `unetpp bench --parts model` runs alternately on both, so that drift of the machine hits
// both alike. Writes docs/bench/<date>-ab-<before>-<after>.json with every run, medians and after/before ratios.
//
//   node scripts/bench-ab.mjs --before <rev> [--after <rev>] [--dims 2,3] [--runs 3] [--env KEY=VALUE ...]
//                             [-- extra bench flags]
// --after defaults to the working tree (uncommitted changes included, built in place as `npm run build` does).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const sep = args.indexOf('--');
const benchExtra = sep >= 0 ? args.slice(sep + 1) : [];
const own = sep >= 0 ? args.slice(0, sep) : args;
const opt = (name, dflt) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : dflt;
};
const envPairs = own.flatMap((a, i) => (a === '--env' ? [own[i + 1]] : []));
const before = opt('--before');
if (!before) {
  console.error('bench-ab: --before <rev> is required (a commit, tag or branch)');
  process.exit(2);
}
const after = opt('--after', 'WORKTREE');
const dims = opt('--dims', '2,3').split(',').map(Number);
const runs = Number(opt('--runs', '3'));
const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
const short = (rev) => (rev === 'WORKTREE' ? `${git('rev-parse', '--short', 'HEAD')}+worktree` : git('rev-parse', '--short', rev));

function checkout(rev) {
  if (rev === 'WORKTREE') return { dir: ROOT, remove: () => {} };
  const dir = mkdtempSync(join(tmpdir(), `unetpp-ab-${short(rev)}-`));
  git('worktree', 'add', '--detach', dir, rev);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, remove: () => { git('worktree', 'remove', '--force', dir); rmSync(dir, { recursive: true, force: true }); } };
}

function build(dir) {
  for (const [cmd, a] of [['npx', ['tsc', '-p', '.']], [process.execPath, ['scripts/build-native.mjs']]]) {
    const r = spawnSync(cmd, a, { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`bench-ab: ${cmd} ${a.join(' ')} failed in ${dir}`);
  }
  if (!existsSync(join(dir, 'build', 'Release', 'unetpp_native.node'))) throw new Error(`bench-ab: no native addon built in ${dir}`);
}

function benchOnce(dir, d) {
  const env = { ...process.env, ...Object.fromEntries(envPairs.map((p) => p.split(/=(.*)/s).slice(0, 2))) };
  // --dims only for volumes: images are the default, and commits before volumes know no such flag
  const a = ['dist/src/cli/main.js', 'bench', '--parts', 'model', ...(d === 3 ? ['--dims', '3'] : []), ...benchExtra];
  const r = spawnSync(process.execPath, a, { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench-ab: bench failed in ${dir}:\n${r.stderr}`);
  const model = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((j) => j.kind === 'model');
  if (!model) throw new Error(`bench-ab: no model line from the bench in ${dir}:\n${r.stdout}`);
  const { train_img_per_s, infer_img_per_s, train_peak_rss_mb, train_layout, infer_layout } = model;
  return { train_img_per_s, infer_img_per_s, train_peak_rss_mb, train_layout, infer_layout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const sides = [{ name: 'before', rev: before }, { name: 'after', rev: after }].map((s) => ({ ...s, commit: short(s.rev), ...checkout(s.rev) }));
try {
  for (const s of sides) build(s.dir);
  const results = [];
  for (const d of dims) {
    const byName = { before: [], after: [] };
    for (let i = 0; i < runs; i++) {
      // alternate the order each run so neither side always goes first
      for (const s of i % 2 ? [...sides].reverse() : sides) {
        const r = benchOnce(s.dir, d);
        byName[s.name].push(r);
        console.log(JSON.stringify({ dims: d, run: i, side: s.name, commit: s.commit, ...r }));
      }
    }
    const med = (name, key) => median(byName[name].map((r) => r[key]));
    const summary = {};
    for (const key of ['train_img_per_s', 'infer_img_per_s', 'train_peak_rss_mb']) {
      summary[key] = { before: med('before', key), after: med('after', key), ratio: med('after', key) / med('before', key) };
    }
    results.push({ dims: d, runs: byName, median: summary });
    console.log(JSON.stringify({ dims: d, median: summary }));
  }
  const date = new Date().toISOString().slice(0, 10);
  const out = join(ROOT, 'docs', 'bench', `${date}-ab-${sides[0].commit}-${sides[1].commit.replace('+worktree', '')}.json`);
  const record = {
    date: new Date().toISOString(), before: sides[0].commit, after: sides[1].commit, env: envPairs, bench_flags: benchExtra,
    loadavg_at_start: execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim(), results,
  };
  writeFileSync(`${out}.tmp`, `${JSON.stringify(record, null, 1)}\n`);
  execFileSync('mv', [`${out}.tmp`, out]);
  console.log(`bench-ab: wrote ${out}`);
} finally {
  for (const s of sides) s.remove();
}
