// The report's section on the earlier single-seed runs (seed 0, schema-1 files
// results/<dataset>-<model>.json): their tables, plots and reading, kept readable beside the
// multi-seed results (and the only numbers while those are missing).
import { basename } from 'node:path';
import { writeLegacyPlots } from './plots.js';
import { readPruning, readRun, type PruningResult, type RunResult } from './legacy-results.js';
import { IMAGE_DATASETS, MODELS, MODEL_LABELS, PAPER, type ImageDatasetKey, type ModelKey } from './settings.js';

const pct = (x: number) => (100 * x).toFixed(2);
const pm = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${pct(s.std)}`;
const n = (x: number) => x.toLocaleString('en-US');
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 120) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The ranking by test IoU, and whether the spread exceeds two standard errors of a mean over the test images. */
function reading(runs: (RunResult | null)[]): string {
  const done = MODELS.map((m, i) => ({ m, r: runs[i] })).filter((x): x is { m: ModelKey; r: RunResult } => !!x.r);
  if (done.length < 2) return 'fewer than two models finished: no comparison.';
  done.sort((a, b) => b.r.test.iou.mean - a.r.test.iou.mean);
  const se = Math.max(...done.map((x) => x.r.test.iou.std / Math.sqrt(x.r.test.n)));
  const spread = done[0].r.test.iou.mean - done[done.length - 1].r.test.iou.mean;
  const order = done.map((x) => `${MODEL_LABELS[x.m]} ${pct(x.r.test.iou.mean)}`).join(' > ');
  const verdict = spread < 2 * se
    ? `the whole spread (${pct(spread)} points) is within two standard errors of a mean over the test images (${pct(se)} points), ` +
      'so these runs do not separate the models'
    : `the spread (${pct(spread)} points) exceeds two standard errors of a mean over the test images (${pct(se)} points)`;
  return `${order} (test IoU %); ${verdict}; one seed per model.`;
}

function runTable(ds: ImageDatasetKey, runs: (RunResult | null)[]): string {
  const lines = [
    '| model | params (ours, bn) | params (paper preset) | test IoU % (mean ± std over images) | test Dice % | paper IoU % | ' +
    'epochs (best) | training time |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  MODELS.forEach((m, i) => {
    const r = runs[i];
    const paperIou = ds === 'dsb2018' ? PAPER.nucleiIou[m].toFixed(2) : '-';
    if (!r) { lines.push(`| ${MODEL_LABELS[m]} | - | - | - | - | ${paperIou} | | |`); return; }
    lines.push(`| ${MODEL_LABELS[m]} | ${n(r.params)} | ${n(r.paramsPaperPreset)} | ${pm(r.test.iou)} | ${pm(r.test.dice)} | ${paperIou} | ` +
      `${r.training.epochs} (${r.training.bestEpoch}) | ${duration(r.training.seconds)}${r.training.medianEpochSeconds ? ` (median epoch ${r.training.medianEpochSeconds.toFixed(0)} s)` : ''} |`);
  });
  return lines.join('\n');
}

function pruningTable(p: PruningResult): string {
  const lines = [
    '| network | params | paper params (Keras) | GFLOP / image | ms / image, batch 1 | ms / image, batch 16 | test IoU % | test Dice % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const paperParams = (level: number | 'accurate') => n(PAPER.levelParams[(level === 'accurate' ? 4 : level) - 1] ?? NaN);
  for (const r of p.rows)
    lines.push(`| ${r.level === 'accurate' ? `L${p.rows.length - 1}, accurate` : `L${r.level} (fast)`} | ${n(r.params)} | ${paperParams(r.level)} | ${r.gflops.toFixed(2)} | ` +
      `${r.msBatch1.toFixed(1)} | ${r.msBatch16.toFixed(1)} | ${pm(r.iou)} | ${pm(r.dice)} |`);
  return lines.join('\n');
}

/** Lines of the section (empty without any earlier result file); plots go to plotDir. */
export async function legacySection(results: string, plotDir: string): Promise<string[]> {
  const runs = IMAGE_DATASETS.map((ds) => MODELS.map((m) => readRun(results, ds, m)));
  const pruning = IMAGE_DATASETS.map((ds) => readPruning(results, ds));
  const all = runs.flat().filter((r): r is RunResult => !!r);
  if (!all.length) return [];
  const plots = await writeLegacyPlots(plotDir, all, pruning.filter((p): p is PruningResult => !!p));
  const commands = [...new Set(all.map((r) => r.command))];
  return [
    '## Earlier single-seed runs',
    '',
    'Before the multi-seed experiment, each model was trained once (seed 0) on the image datasets with the same hand ' +
    `settings; ${all.length} runs, \`experiments/paper-table/results/<dataset>-<model>.json\`. The ± is the std over test ` +
    'images (not over seeds), and their per-image scores were not kept, so no paired test is possible on them. Paper: ' +
    'Zhou et al. 2018, table 2, cell nuclei (IoU; the metric is not precisely defined, see above).',
    '',
    ...IMAGE_DATASETS.flatMap((ds, i) => [`### ${ds}`, '', runTable(ds, runs[i]), '', `Reading: ${reading(runs[i])}`, '']),
    '### Pruning (seed 0)',
    '',
    'L1..L4 in fast mode, then the full network in accurate mode; GFLOPs and ms per 96x96 image (medians, native backend).',
    '',
    ...IMAGE_DATASETS.flatMap((ds, i) => (pruning[i] ? [`#### ${ds}`, '', pruningTable(pruning[i]!), ''] : [])),
    ...plots.flatMap((p) => [`![${p.file}](${basename(plotDir)}/${p.file})`, '', p.caption, '']),
    'Commands that produced them:',
    '',
    '```sh', ...commands, '```',
    '',
  ];
}
