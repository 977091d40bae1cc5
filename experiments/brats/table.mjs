// The BraTS results (results/<name>.json) as the Markdown table in docs/results.md: per model,
// Dice and HD95 (mm) per region as "mean (case 1 / case 2)", and the training facts.
//   node experiments/brats/table.mjs
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const names = ['unetpp3d', 'unet3d', 'unetpp2d', 'unetpp3d-peer'].filter((n) => existsSync(join(dir, `${n}.json`)));
const fmt = (xs, d) => {
  const ok = xs.filter(Number.isFinite);
  const mean = ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
  return `${Number.isFinite(mean) ? mean.toFixed(d) : '-'} (${xs.map((x) => (Number.isFinite(x) ? x.toFixed(d) : 'inf')).join(' / ')})`;
};
let classes;
const lines = [];
for (const n of names) {
  const r = JSON.parse(readFileSync(join(dir, `${n}.json`), 'utf8'));
  classes ??= r.classes;
  const col = (key, k) => r.rows.map((row) => row[key][k] ?? NaN);
  const dice = r.classes.map((_, k) => fmt(col('dice', k), 3));
  const hd = r.classes.map((_, k) => fmt(col('hd95', k), 1));
  const mean = fmt(r.rows.map((row) => row.meanDice), 3);
  const train = `${r.epochsRun ?? r.epochs ?? '?'} ep., best ${r.bestEpoch ?? '?'}, ${((r.trainSeconds ?? 0) / 60).toFixed(0)} min, ${Math.round(r.stepMs ?? NaN)} ms/step`;
  lines.push(`| ${n} | ${dice.join(' | ')} | ${mean} | ${hd.join(' | ')} | ${train} |`);
}
if (!names.length) { console.log('no results yet'); process.exit(0); }
console.log(`| model | ${classes.map((c) => `Dice ${c}`).join(' | ')} | mean Dice | ${classes.map((c) => `HD95 ${c} (mm)`).join(' | ')} | training |`);
console.log(`|---|${classes.map(() => '---|').join('')}---|${classes.map(() => '---|').join('')}---|`);
for (const l of lines) console.log(l);
