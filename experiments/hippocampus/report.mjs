// Builds the Hippocampus section of docs/results.md (between its markers) from results/*.json,
// written by run.mjs; nothing in the section is typed by hand.
//   node experiments/hippocampus/report.mjs
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const docs = resolve(here, '../../docs/results.md');
const START = '<!-- hippocampus:start -->', END = '<!-- hippocampus:end -->';
const dir = join(here, 'results');
const seconds = (b) => Number(b.replace(/[a-z]+$/, '')) * ({ s: 1, m: 60, h: 3600 }[b.at(-1)] ?? 1);
const results = (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .sort((a, b) => seconds(a.budget) - seconds(b.budget) || String(a.tag).localeCompare(String(b.tag)));

const f3 = (x) => (x == null ? '–' : x.toFixed(3));
const lines = [
  START,
  '## MSD Hippocampus (3D), as a user gets it',
  '',
  'Commands: `unetpp train -d ../shared/data/hippocampus-msd -o RUN --time-budget B` (the plan chooses spacing, patch,',
  'network, batch, normalisation and the number of epochs from a timed step) and `unetpp eval -d ... -m RUN/best.safetensors',
  '--split test`; driven by `node experiments/hippocampus/run.mjs --budgets 15m,30m,1h,2h` (resumable), this table by',
  '`node experiments/hippocampus/report.mjs`. Test split: the 30 fixed test cases; Dice per case and label, then the mean',
  'over cases (± standard error over cases). Published references on the Decathlon\'s five folds: nnU-Net ~0.90 anterior /',
  '~0.89 posterior; MONAI Auto3DSeg SegResNet 0.889 (mean of the labels).',
  '',
];
if (!results.length) lines.push('No run has been scored yet.', '');
else {
  // the recipe flags a run added to the plan's (a --plan file pins the plan for a comparison)
  const recipe = (r) => {
    const f = r.extraFlags ?? [];
    const kept = f.filter((x, i) => x !== '--plan' && f[i - 1] !== '--plan').join(' ');
    if (kept) return `\`${kept}\``;
    const p = r.plan?.recipe; // plans before recipes were planned trained on the fixed defaults
    return p ? `${p.optimizer} ${p.lr}, ${p.schedule} (plan)` : 'adam 0.0003, constant';
  };
  lines.push('| budget | recipe | trained (min) | epochs | patch | filters | batch | anterior | posterior | mean ± SE | mean, no post-processing | load | commit |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const [a, p] = Object.values(r.test.perClass);
    lines.push(`| ${r.budget}${r.tag ? ` (${r.tag})` : ''} | ${recipe(r)} | ${(r.training.seconds / 60).toFixed(1)} | ${r.training.epochs} | ` +
      `${r.plan?.patch?.join('x') ?? '–'} | ${r.plan?.filters?.join(',') ?? '–'} | ${r.plan?.batchSize ?? '–'} | ${f3(a.dice)} | ${f3(p.dice)} | ` +
      `**${f3(r.test.meanDice)}** ± ${f3(r.test.meanSe)} | ${f3(r.testWithoutPostprocess?.meanDice ?? r.test.meanDice)} | ` +
      `${r.meanLoadDuringTraining == null ? '–' : r.meanLoadDuringTraining.toFixed(1)} | ${r.commit} |`);
  }
  lines.push('', 'Load: the mean 1-minute load average sampled while the run trained (2 cores; above 2 the run shared the CPU and',
    'its budget bought fewer steps). Post-processing: rules chosen on the validation cases at the end of training.', '');
  const longest = results[results.length - 1];
  lines.push(`Validation Dice against training time, ${longest.budget} run (every validated epoch):`, '', '| min | epoch | val Dice |', '|---|---|---|');
  let t = 0;
  for (const e of longest.training.curve) {
    t += e.seconds;
    if (e.valDice != null) lines.push(`| ${(t / 60).toFixed(1)} | ${e.epoch} | ${f3(e.valDice)} |`);
  }
  lines.push('');
}
lines.push(END);

const text = existsSync(docs) ? readFileSync(docs, 'utf8') : '# Results\n';
const i = text.indexOf(START), j = text.indexOf(END);
const next = i >= 0 && j > i ? text.slice(0, i) + lines.join('\n') + text.slice(j + END.length) : `${text.trimEnd()}\n\n${lines.join('\n')}\n`;
writeFileSync(docs, next);
console.log(`wrote the Hippocampus section of ${docs} (${results.length} runs)`);
