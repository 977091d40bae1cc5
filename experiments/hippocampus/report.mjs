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
    const held = p?.holdFraction ? ` after ${Math.round(p.holdFraction * 100)}%` : '';
    return p ? `${p.optimizer} ${p.lr}, ${p.schedule}${held} (plan)` : 'adam 0.0003, constant';
  };
  // what the run trained: the plan's network unless its flags replaced a part of it
  const flag = (r, name) => { const f = r.extraFlags ?? [], i = f.indexOf(name); return i >= 0 ? f[i + 1] : undefined; };
  const batchOf = (r) => Number(flag(r, '--batch-size') ?? r.plan?.batchSize);
  const filtersOf = (r) => flag(r, '--filters') ?? r.plan?.filters?.join(',') ?? '–';
  const stepsPerEpoch = (r) => {
    const samples = flag(r, '--samples-per-epoch');
    return samples ? Math.ceil(Number(samples) / batchOf(r)) : r.plan?.time?.stepsPerEpoch;
  };
  // wall time per training step, validation included: tells the hosts apart (AVX2 ~2.6 s, AVX-512 ~0.65 s here)
  const perStep = (r) => (stepsPerEpoch(r) ? (r.training.seconds / (r.training.epochs * stepsPerEpoch(r))).toFixed(2) : '–');
  lines.push('| budget | recipe | trained (min) | epochs | s a step | patch | filters | batch | anterior | posterior | mean ± SE | ' +
    'mean, no post-processing | mean, flips the other way | load | commit |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const [a, p] = Object.values(r.test.perClass);
    lines.push(`| ${r.budget}${r.tag ? ` (${r.tag})` : ''} | ${recipe(r)} | ${(r.training.seconds / 60).toFixed(1)} | ${r.training.epochs} | ${perStep(r)} | ` +
      `${r.plan?.patch?.join('x') ?? '–'} | ${filtersOf(r)} | ${Number.isNaN(batchOf(r)) ? '–' : batchOf(r)} | ${f3(a.dice)} | ${f3(p.dice)} | ` +
      `**${f3(r.test.meanDice)}** ± ${f3(r.test.meanSe)} | ${f3(r.testWithoutPostprocess?.meanDice ?? r.test.meanDice)} | ` +
      `${r.testOtherTta ? `${f3(r.testOtherTta.meanDice)} (\`${r.testOtherTta.flag}\`)` : '–'} | ` +
      `${r.meanLoadDuringTraining == null ? '–' : r.meanLoadDuringTraining.toFixed(1)} | ${r.commit} |`);
  }
  lines.push('', 'Load: the mean 1-minute load average sampled while the run trained (2 cores; above 2 the run shared the CPU and',
    'its budget bought fewer steps, unless the others ran at the lowest priority: compare the seconds a step). Runs up to',
    'commit 3b05863 ran on a host with AVX2 only (no AVX-512), the later ones on an AVX-512 host; post-processing: rules',
    'chosen on the validation cases at the end of training. Flips: the mean of the 8 flips of every subset of the axes',
    '(`--tta`) against one pass (`--no-tta`), on the same checkpoint; the bold mean is as the checkpoint predicts by default.', '');
  // where the training time went, for runs whose epochs record it (the trainer's per-epoch split)
  const split = results.filter((r) => r.training.split);
  if (split.length) {
    const pc = (r, k) => `${((100 * r.training.split[k]) / r.training.split.seconds).toFixed(1)}%`;
    lines.push('Where the training time went (summed over the epochs; engine: forward and backward passes; batches: waiting for',
      'the loader to read, crop and augment the next patches; updates: gradients read back and the optimiser):', '',
      '| run | epochs | engine | batches | updates | validation |', '|---|---|---|---|---|---|');
    for (const r of split)
      lines.push(`| ${r.budget}${r.tag ? ` (${r.tag})` : ''} | ${r.training.split.epochs} | ${pc(r, 'step')} | ${pc(r, 'data')} | ` +
        `${pc(r, 'update')} | ${pc(r, 'validation')} |`);
    lines.push('');
  }
  // recipes compared on one pinned plan (--plan) per budget: each against the best, paired over test cases
  const stats = await import(join(here, '../../dist/src/metrics/stats.js'));
  const perCase = (r) => {
    const cls = Object.values(r.test.perClass);
    return cls[0].cases.map((_, i) => cls.reduce((s, c) => s + c.cases[i], 0) / cls.length);
  };
  // and runs as planned whose plans differ only in the recipe (the same patch, filters and batch)
  const network = (r) => JSON.stringify([r.plan?.patch, r.plan?.filters, r.plan?.batchSize]);
  const groups = [];
  for (const budget of [...new Set(results.map((r) => r.budget))]) {
    const at = results.filter((r) => r.budget === budget);
    groups.push({ title: `Recipes at ${budget} on one plan`, runs: at.filter((r) => (r.extraFlags ?? []).includes('--plan')) });
    const planned = at.filter((r) => !(r.extraFlags ?? []).length);
    // a network given on the command line (--filters) against the runs as planned
    const widths = at.filter((r) => (r.extraFlags ?? []).includes('--filters'));
    if (widths.length) groups.push({ title: `Networks at ${budget}: the filters given against the plan's`, runs: [...widths, ...planned] });
    // the loss's Dice options on a planned run's plan (--plan pins it) against the runs as planned of that network
    const losses = at.filter((r) => (r.extraFlags ?? []).some((f) => f === '--dice-classes' || f === '--batch-dice'));
    if (losses.length)
      groups.push({ title: `Loss options at ${budget}: against the runs as planned of the same network`,
        runs: [...losses, ...planned.filter((r) => losses.some((l) => network(l) === network(r)))] });
    for (const n of new Set(planned.map(network))) {
      const runs = planned.filter((r) => network(r) === n);
      if (new Set(runs.map((r) => JSON.stringify(r.plan?.recipe))).size === runs.length)
        groups.push({ title: `Recipes at ${budget} as planned (patch ${runs[0].plan?.patch?.join('x')}, batch ${runs[0].plan?.batchSize})`, runs });
    }
  }
  for (const { title, runs } of groups) {
    if (runs.length < 2) continue;
    const best = runs.reduce((a, b) => (b.test.meanDice > a.test.meanDice ? b : a));
    lines.push(`${title}, each against the best (${best.tag ?? 'untagged'}), paired over the ${best.test.cases} ` +
      'test cases (one seed each: seed-to-seed variation is not in these intervals):', '',
      '| recipe | mean Dice | best minus it | 95% CI (bootstrap over cases) | paired t-test p |', '|---|---|---|---|---|');
    for (const r of runs) {
      if (r === best) { lines.push(`| ${recipe(r)} | **${f3(r.test.meanDice)}** | – | – | – |`); continue; }
      const a = perCase(best), b = perCase(r);
      const ci = stats.pairedBootstrapCi([a], [b], { seed: 1 }), t = stats.pairedTTest(a, b);
      lines.push(`| ${recipe(r)} | ${f3(r.test.meanDice)} | ${f3(ci.estimate)} | ${f3(ci.lo)} .. ${f3(ci.hi)} | ` +
        `${t.p < 1e-4 ? t.p.toExponential(1) : t.p.toFixed(4)} |`);
    }
    lines.push('');
  }
  // test-time flips against one pass, paired over the test cases of each run scored both ways
  const both = results.filter((r) => r.testOtherTta);
  if (both.length) {
    lines.push('Test-time flips (the 8 flips averaged) against one pass, the same checkpoint, paired over the test cases:', '',
      '| run | one pass | 8 flips | flips minus one pass | 95% CI (bootstrap over cases) | paired t-test p |', '|---|---|---|---|---|---|');
    for (const r of both) {
      const [flips, one] = r.tta ? [r.test, r.testOtherTta] : [r.testOtherTta, r.test];
      const a = perCase({ test: flips }), b = perCase({ test: one });
      const ci = stats.pairedBootstrapCi([a], [b], { seed: 1 }), t = stats.pairedTTest(a, b);
      lines.push(`| ${r.budget}${r.tag ? ` (${r.tag})` : ''} | ${f3(one.meanDice)} | ${f3(flips.meanDice)} | ${f3(ci.estimate)} | ` +
        `${f3(ci.lo)} .. ${f3(ci.hi)} | ${t.p < 1e-4 ? t.p.toExponential(1) : t.p.toFixed(4)} |`);
    }
    lines.push('');
  }
  // the curve of the best run as planned (no flags added) of the longest budget: what a user gets
  const top = Math.max(...results.map((r) => seconds(r.budget)));
  const atTop = results.filter((r) => seconds(r.budget) === top);
  const planned = atTop.filter((r) => !(r.extraFlags ?? []).length);
  const longest = (planned.length ? planned : atTop).reduce((a, b) => (b.test.meanDice > a.test.meanDice ? b : a));
  lines.push(`Validation Dice against training time, ${longest.budget}${longest.tag ? ` (${longest.tag})` : ''} run (every validated epoch):`, '', '| min | epoch | val Dice |', '|---|---|---|');
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
