// Summarises `unetpp bench` JSON lines (one or more runs appended to a file): per run the
// ratios the issues set targets for, then their medians. Usage: node scripts/bench-summary.mjs FILE...
import { readFileSync } from 'node:fs';

const KEYS = [
  ['train x peer', (s) => s.train_vs_peer_bf16_cl ?? s.train_vs_peer_cl],
  ['train x peer (rounds)', (s) => s.train_vs_peer_rounds],
  ['infer x peer', (s) => s.infer_vs_peer_bf16_cl ?? s.infer_vs_peer_cl],
  ['infer x peer (rounds)', (s) => s.infer_vs_peer_rounds],
  ['infer x ort', (s) => s.infer_vs_ort],
  ['infer x ort (rounds)', (s) => s.infer_vs_ort_rounds],
  ['ours img/s (rounds)', (s) => s.rounds_infer_img_per_s],
  ['peer img/s (rounds)', (s) => s.rounds_peer_infer_img_per_s],
  ['step / floor', (s) => s.train_step_vs_floor],
  ['infer / floor', (s) => s.infer_vs_floor],
  ['memory / peer', (s) => s.rss_vs_peer_bf16_cl ?? s.rss_vs_peer_cl],
  ['train / peak', (s) => s.rounds_train_fraction_of_peak ?? s.train_fraction_of_peak],
  ['infer / peak', (s) => s.rounds_infer_fraction_of_peak ?? s.infer_fraction_of_peak],
];
const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const runs = process.argv.slice(2).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l)).filter((l) => l.kind === 'summary'));
if (!runs.length) { console.error('no summary lines (usage: node scripts/bench-summary.mjs FILE...)'); process.exit(1); }
console.log(`${runs.length} run(s), ${runs[0].precision}`);
for (const [name, get] of KEYS) {
  const v = runs.map(get).filter((x) => typeof x === 'number');
  if (!v.length) continue;
  console.log(`${name.padEnd(22)} ${v.map((x) => x.toFixed(2)).join(' / ')}   median ${median(v).toFixed(3)}`);
}
