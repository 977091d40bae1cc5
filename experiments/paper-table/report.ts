// Rebuilds docs/results.md (and its plots) from the result JSON files alone; runs without a
// result show "pending". `node dist/experiments/paper-table/report.js [--results DIR] [--out FILE]`
import { parseArgs } from 'node:util';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomicSync } from '../../src/io/safetensors.js';
import { writePlots } from './plots.js';
import { readPruning, readRun, type PruningResult, type RunResult, type Machine } from './results.js';
import { DATASETS, FULL, MODELS, MODEL_LABELS, PAPER, type DatasetKey, type ModelKey } from './settings.js';
import { DATASET_NOTES } from './data.js';
import { scheduleOf } from './unit.js';
import { bratsSection } from '../brats/report.js';

export const FULL_COMMAND = 'npm run build && OMP_WAIT_POLICY=passive node dist/experiments/paper-table/run.js --time-budget 10200';

const pct = (x: number) => (100 * x).toFixed(2);
const pm = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${pct(s.std)}`;
const n = (x: number) => x.toLocaleString('en-US');
const mega = (x: number) => `${(x / 1e6).toFixed(2)}M`;
function duration(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The ranking of the finished runs by test IoU, and whether the gaps exceed the noise: the
 * standard error of a mean over n test images is std / sqrt(n) (one training seed each, so
 * seed-to-seed variation comes on top).
 */
function reading(runs: (RunResult | null)[]): string {
  const done = MODELS.map((m, i) => ({ m, r: runs[i] })).filter((x): x is { m: ModelKey; r: RunResult } => !!x.r);
  if (done.length < 2) return 'fewer than two models finished: no comparison yet.';
  done.sort((a, b) => b.r.test.iou.mean - a.r.test.iou.mean);
  const se = Math.max(...done.map((x) => x.r.test.iou.std / Math.sqrt(x.r.test.n)));
  const spread = done[0].r.test.iou.mean - done[done.length - 1].r.test.iou.mean;
  const order = done.map((x) => `${MODEL_LABELS[x.m]} ${(100 * x.r.test.iou.mean).toFixed(2)}`).join(' > ');
  const verdict = spread < 2 * se
    ? `the whole spread (${(100 * spread).toFixed(2)} points) is within two standard errors of a mean over the test images (${(100 * se).toFixed(2)} points), so these runs do not separate the models`
    : `the spread (${(100 * spread).toFixed(2)} points) exceeds two standard errors of a mean over the test images (${(100 * se).toFixed(2)} points)`;
  return `${order} (test IoU %); ${verdict}; one seed per model. ${done.length < MODELS.length ? 'Not all models have finished.' : ''}`.trim();
}

function runTable(ds: DatasetKey, runs: (RunResult | null)[]): string {
  const paper = ds === 'dsb2018';
  const lines = [
    `| model | params (ours, bn) | params (paper preset) | paper params | test IoU % (mean ± std) | test Dice % | paper IoU % | epochs (best) | training time |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  MODELS.forEach((m, i) => {
    const r = runs[i];
    const paperIou = paper ? PAPER.nucleiIou[m].toFixed(2) : '-';
    if (!r) { lines.push(`| ${MODEL_LABELS[m]} | pending | | ${mega(PAPER.params[m])} | pending | pending | ${paperIou} | | |`); return; }
    lines.push(`| ${MODEL_LABELS[m]} | ${n(r.params)} | ${n(r.paramsPaperPreset)} | ${mega(PAPER.params[m])} | ${pm(r.test.iou)} | ${pm(r.test.dice)} | ${paperIou} | ` +
      `${r.training.epochs} (${r.training.bestEpoch}) | ${duration(r.training.seconds)}${r.training.medianEpochSeconds ? ` (median epoch ${r.training.medianEpochSeconds.toFixed(0)} s)` : ''} |`);
  });
  return lines.join('\n');
}

function pruningTable(p: PruningResult | null): string {
  const lines = [
    '| network | params | paper params (Keras) | GFLOP / image | ms / image, batch 1 | ms / image, batch 16 | test IoU % | test Dice % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const paperParams = (level: number | 'accurate') => n(PAPER.levelParams[(level === 'accurate' ? 4 : level) - 1] ?? NaN);
  if (!p) {
    for (const l of [1, 2, 3, 4]) lines.push(`| L${l} (fast) | pending | ${paperParams(l)} | pending | pending | pending | pending | pending |`);
    lines.push(`| L4, accurate | pending | ${paperParams('accurate')} | pending | pending | pending | pending | pending |`);
    return lines.join('\n');
  }
  for (const r of p.rows)
    lines.push(`| ${r.level === 'accurate' ? `L${p.rows.length - 1}, accurate` : `L${r.level} (fast)`} | ${n(r.params)} | ${paperParams(r.level)} | ${r.gflops.toFixed(2)} | ` +
      `${r.msBatch1.toFixed(1)} | ${r.msBatch16.toFixed(1)} | ${pm(r.iou)} | ${pm(r.dice)} |`);
  return lines.join('\n');
}

const machineLine = (m: Machine) => `${m.cpu}, ${m.cores} cores (threads: ${m.threads}), ${m.os}, Node ${m.node}, backend ${m.backend}`;

export async function buildReport(o: { results: string; out: string; brats?: string }): Promise<string> {
  const runs = DATASETS.map((ds) => MODELS.map((m) => readRun(o.results, ds, m)));
  const pruning = DATASETS.map((ds) => readPruning(o.results, ds));
  const all = runs.flat().filter((r): r is RunResult => !!r);
  const allPruning = pruning.filter((p): p is PruningResult => !!p);
  const plotDir = join(dirname(o.out), basename(o.out, extname(o.out)));
  const plots = await writePlots(plotDir, all, allPruning);
  const smoke = all.some((r) => r.smoke);
  const machines = [...new Set([...all.map((r) => r.machine), ...allPruning.map((p) => p.machine)].map(machineLine))];
  const dates = [...all.map((r) => r.date), ...allPruning.map((p) => p.date)].sort();
  const commands = [...new Set(all.map((r) => r.command))];
  const schedule = all[0]?.schedule ?? scheduleOf(FULL, 'dsb2018');
  const md: string[] = [
    '# Results: the UNet++ paper\'s comparison, reproduced',
    '',
    `Generated by \`node dist/experiments/paper-table/report.js\` from \`experiments/paper-table/results/*.json\`: do not edit by hand. ` +
    `${all.length} of ${DATASETS.length * MODELS.length} runs finished${all.length < 8 ? ' (the others show "pending")' : ''}.` +
    (smoke ? ' **Smoke mode: tiny models, 1-2 epochs, a few images: these numbers check the pipeline only.**' : ''),
    '',
    '## Setup',
    '',
    'Every run has the same seed, schedule and early stopping (bn preset: conv3x3 + BN + ReLU, bilinear up-sampling):',
    '',
    ...Object.entries(schedule).filter(([k]) => k !== 'data').map(([k, v]) => `- ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`),
    ...DATASETS.map((ds) => `- ${ds}: ${DATASET_NOTES[ds]}`),
    '- test scores: best checkpoint (validation IoU), accurate mode (mean of the heads\' probabilities), threshold 0.5, IoU and Dice per image, then mean ± std over the test images; an image with empty prediction and truth scores 1.',
    '',
    `Machine: ${machines.length ? machines.join('; ') : 'pending'}. Runs dated ${dates.length ? `${dates[0].slice(0, 10)} to ${dates[dates.length - 1].slice(0, 10)}` : 'pending'}.`,
    'Training time is wall clock summed over epochs, on a machine shared with other jobs (and runs paused for benchmarks), so it overstates the cost; the median epoch (where recorded) is the better guide.',
    '',
    '## Segmentation: the four models',
    '',
    ...DATASETS.flatMap((ds, i) => [`### ${ds}`, '', runTable(ds, runs[i]), '']),
    'Paper: Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image Segmentation" (DLMIA 2018), table 2, cell nuclei. ' +
    'That paper has no EM task ("-"). Its wide U-Net is listed with 9.13M params; the official Keras code builds 9,282,246 ' +
    '(the "paper preset" column counts our paper-preset build of each architecture with 1 input channel: it matches the official code).',
    '',
    '## Pruning: UNet++ with deep supervision',
    '',
    'L1..L4 are the pruned networks (nodes i + j <= d, head d) in fast mode (L4 = the full network reading head 4 only); ' +
    '"accurate" averages all heads. GFLOPs and times are per 96x96 image; times are medians on the native backend. ' +
    'Paper params are the official Keras code\'s (paper preset), for scale.',
    '',
    ...DATASETS.flatMap((ds, i) => [`### ${ds}`, '', pruningTable(pruning[i]), '']),
    '## Plots',
    '',
    ...(plots.length ? plots.flatMap((p) => [`![${p.file}](${basename(plotDir)}/${p.file})`, '', p.caption, '']) : ['pending (no finished run yet)', '']),
    '## Commands',
    '',
    'Full experiment (resumable: re-run the same command in each session until every run is finished; ~2 h 50 min per session):',
    '',
    '```sh', FULL_COMMAND, 'node dist/experiments/paper-table/report.js   # rebuild this page from the JSON files', '```',
    '',
    ...(commands.length ? ['Commands that produced these results:', '', '```sh', ...commands, '```', ''] : []),
    '## What the numbers say',
    '',
    ...DATASETS.map((ds, i) => `- ${ds}: ${reading(runs[i])}`),
    '',
    '## Differences from the paper',
    '',
    '- **Metric.** Ours is the IoU of each test image at threshold 0.5, averaged over the test images of `split.csv` (Dice likewise). ' +
    'The paper does not define its protocol in detail, and the official code\'s helper named `compute_iou` (helper_functions.py) ' +
    'actually computes 2|A∩B| / (|A| + |B|), a Dice coefficient, while training reports a separate Keras `mean_iou` metric; its split is ' +
    'not published either. The paper\'s IoU column is therefore not directly comparable to ours (compare it with both of our columns); ' +
    'the ranking of the models is what should reproduce.',
    '- **Data.** dsb2018 stage-1 training set with the community\'s label fixes, our fixed 464/66/134 split, every image resized to 96x96 ' +
    '(the paper also trained at 96x96; its split is not published). ISBI 2012 EM is not in the DLMIA paper.',
    '- **Architecture preset.** The bn preset (conv + batch norm, bilinear up-sampling, as the PyTorch NestedUNet) instead of the Keras ' +
    'paper preset (conv + ReLU + dropout 0.5, transposed convolutions), so our parameter counts differ (see both columns).',
    `- **Schedule.** Adam ${FULL.lr} constant as the paper, batch ${FULL.batchSize}, at most ${FULL.maxEpochs} epochs with early stopping on validation IoU ` +
    `(patience ${FULL.patience}); the paper stops early on the validation loss with its own patience. Flips and 90-degree turns as augmentation.`,
    '- **Loss.** 0.5 BCE + Dice per head (mean over heads with deep supervision), as the paper.',
    '- **One seed.** One run per model; the std is over test images, not over training seeds.',
    '',
    ...(o.brats ? bratsSection(o.brats) : []),
  ];
  const text = md.join('\n');
  writeFileAtomicSync(o.out, new TextEncoder().encode(text));
  return text;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const { values } = parseArgs({ options: { results: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const out = resolve(values.out ?? join(repo, 'docs/results.md'));
  buildReport({ results: resolve(values.results ?? join(repo, 'experiments/paper-table/results')), out, brats: join(repo, 'experiments/brats/results') })
    .then(() => console.log(`wrote ${out}`))
    .catch((e: Error) => { console.error(`report: ${e.message}`); process.exit(1); });
}
