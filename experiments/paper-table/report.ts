// Rebuilds docs/results.md (and its plots) from the result files alone: the multi-seed tables,
// paired statistics, pruning and cost (analysis.ts), then the earlier single-seed runs and BraTS.
// `node dist/experiments/paper-table/report.js [--results DIR] [--out FILE]`
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomicSync } from '../../src/io/safetensors.js';
import { mean } from '../../src/metrics/stats.js';
import {
  ALPHA, COMPARISONS, analyse, seedStat, type Analysis, type Comparison, type Metric, type ModelSummary, type PruningSummary, type SeedStat,
} from './analysis.js';
import { legacySection, duration } from './legacy-report.js';
import { writePruningPlots } from './plots.js';
import { readJson, readSeedRuns, type Machine, type SeedRun } from './results.js';
import { planFacts, type PlanFacts } from './recipe.js';
import type { DatasetPlan } from '../../src/plan/index.js';
import {
  DATASETS, DATASET_NOTES, MODELS, MODEL_LABELS, PAPER, PLAN_BUDGET, SEEDS, SMOKE_SEEDS, type DatasetKey, type ModelKey,
} from './settings.js';
import { bratsSection } from '../brats/report.js';

export const FULL_COMMAND =
  'npm run build && OMP_WAIT_POLICY=passive node dist/experiments/paper-table/run.js --resume --time-budget 10200';

const pts = (x: number, d = 2) => (Number.isFinite(x) ? (100 * x).toFixed(d) : '-');
const signed = (x: number, d = 2) => (x >= 0 ? '+' : '−') + pts(Math.abs(x), d);
const int = (x: number) => x.toLocaleString('en-US');
/** mean ± SE over seeds (x100 unless scale 1), with the seed count; one seed: no SE. */
function stat(s: SeedStat, scale = 100, d = 2): string {
  const f = (x: number) => (scale * x).toFixed(d);
  return s.n >= 2 && Number.isFinite(s.se) ? `${f(s.mean)} ± ${f(s.se)} (${s.n})` : `${f(s.mean)} (${s.n})`;
}
const pval = (p: number) => (!Number.isFinite(p) ? '-' : p < 1e-4 ? '<0.0001' : p.toPrecision(2));
const list = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);
const unique = <T>(xs: T[]) => [...new Set(xs)];
const METRIC_LABEL: Record<Metric, string> = { dice: 'Dice', iou: 'IoU' };
const VERDICT: Record<Comparison['verdict'], string> = {
  'significant': 'significant', 'cases only': 'significant over test cases only', 'not significant': 'not significant',
};

export interface ReportOptions {
  results: string;
  out: string;
  /** experiments/brats/results: appends the BraTS section. */
  brats?: string;
  /** The seeds the experiment plans per dataset (default: the smoke seeds if the runs are smoke runs, else SEEDS). */
  seeds?: Record<DatasetKey, number[]>;
  resamples?: number;
}

function statusLines(a: Analysis): string[] {
  const planned = DATASETS.map((ds) => `${ds}: seeds ${unique(a.expected.filter((k) => k.ds === ds).map((k) => k.seed)).join(', ')}`);
  const lines = [`${a.found} of ${a.expected.length} planned runs finished (${planned.join('; ')}).`];
  if (!a.missing.length) return lines;
  const parts = DATASETS.flatMap((ds) => {
    const miss = a.missing.filter((k) => k.ds === ds);
    if (!miss.length) return [];
    const seedsOf = (m: ModelKey) => miss.filter((k) => k.model === m).map((k) => k.seed).join(', ');
    if (MODELS.every((m) => seedsOf(m) === seedsOf(MODELS[0]))) return [`${ds}: every model, seed ${seedsOf(MODELS[0])}`];
    const byModel = MODELS.filter((m) => seedsOf(m)).map((m) => `${MODEL_LABELS[m]} seed ${seedsOf(m)}`);
    return [`${ds}: ${byModel.join('; ')}`];
  });
  return [...lines, `Missing: ${parts.join('. ')}. Tables show what is there, with its seed count; ` +
    'a comparison uses the seeds both models have.'];
}

/** `--epochs 19`: a unit's flags besides the plan file, the model and the seeds (the same for the four models). */
function flagLine(flags: Record<string, unknown>): string {
  const own = Object.entries(flags).filter(([k]) => !['plan', 'arch', 'filters', 'deepSupervision', 'seed', 'modelSeed'].includes(k));
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  return own.map(([k, v]) => (v === true ? `--${kebab(k)}` : v === false ? `--no-${kebab(k)}` : `--${kebab(k)} ${v}`)).join(' ');
}

/** A dataset's plan as its runs recorded it, else the plan file beside the results (none: not planned yet). */
function planOf(runs: SeedRun[], o: ReportOptions, ds: DatasetKey): { facts: PlanFacts | null; flags?: Record<string, unknown> } {
  const run = runs.find((x) => x.dataset === ds);
  if (run) return { facts: run.settings.plan as PlanFacts, flags: run.settings.flags as Record<string, unknown> };
  const plan = readJson<DatasetPlan>(join(o.results, ds, 'plan.json'));
  return { facts: plan ? planFacts(plan, 'plan.json') : null };
}

function planLine(ds: DatasetKey, runs: SeedRun[], o: ReportOptions): string {
  const { facts: p, flags } = planOf(runs, o, ds);
  const head = `- ${ds}: ${DATASET_NOTES[ds]}.`;
  if (!p) return `${head} Not planned yet (\`unetpp plan --time-budget ${PLAN_BUDGET[ds]}\` at its first run).`;
  const x = (v: number[]) => v.join('x');
  const norm = typeof p.normalize === 'string' ? p.normalize : JSON.stringify(p.normalize);
  const threads = `${p.threads} thread${p.threads === 1 ? '' : 's'}`;
  const step = p.plannedStepMs
    ? `, planned at ${(p.plannedStepMs / 1000).toFixed(2)} s a step (${threads}, ${p.precision ?? 'fp32'})` : '';
  return `${head} Plan for ${p.timeBudget} made ${p.made.slice(0, 10)}${step}: patch ${x(p.patch)}` +
    `${p.spacing ? ` at ${p.spacing.join(' x ')} mm` : ''}, filters ${p.filters.join(',')} (depth ${p.depth}), ${p.norm} norm, ` +
    `batch ${p.batchSize}, normalisation ${norm}, ${p.recipe}; **${p.steps} steps** (${p.epochs} epochs x ` +
    `${p.stepsPerEpoch}) for every model${flags ? `: \`unetpp train --plan plan.json ${flagLine(flags)}\` + model flags` : ''}.`;
}

function setupLines(runs: SeedRun[], o: ReportOptions): string[] {
  return [
    '## Setup',
    '',
    'Models: U-Net, wide U-Net (the plan\'s filters x 35/32, about UNet++\'s parameters), UNet++ without and with deep ' +
    'supervision (DS), bn preset (conv + norm + ReLU, bilinear up-sampling). Each dataset is configured once by the ' +
    'self-configuring plan (`unetpp plan -d DIR --time-budget B`: patch, network width and depth, normalisation, batch, ' +
    'optimiser and the number of steps B buys for UNet++ (DS) on the planning machine); every run of the dataset is ' +
    '`unetpp train -d DIR --plan plan.json --epochs E` (E the plan\'s epochs: a fixed step budget, the same for the four ' +
    'models, so the slower UNet++ is not cut short by a clock) plus only `--arch`, `--filters` (wide U-Net), deep ' +
    'supervision on or off and `--seed k --model-seed k`. Seed k sets the initial weights, the data order and the ' +
    'augmentation of run k. No early stopping (the plan trains its steps and keeps the best validation checkpoint).',
    '',
    ...DATASETS.map((ds) => planLine(ds, runs, o)),
    '- Test scores: `unetpp eval --split test --no-postprocess` on the best checkpoint (validation metric), accurate mode ' +
    '(mean of the heads), threshold 0.5, Dice and IoU per test case (an empty prediction of an empty truth scores 1; ' +
    'Hippocampus: the mean of its two labels); no post-processing, so that the networks are compared as they are.',
    '',
    '**Statistics** (`src/metrics/stats.ts`). Per model, a seed\'s score is its mean over the test cases; tables give the ' +
    'mean ± standard error over seeds (SE = sd / sqrt(k), k in parentheses). A comparison A − B pairs the two models on every ' +
    `test case and on every seed both have. Its interval is a 95% percentile bootstrap (${o.resamples ?? 10000} resamples, ` +
    'seeded) over two levels at once: the test cases (paired) and the seeds (paired by seed), seed deviations inflated by ' +
    'sqrt(k / (k − 1)) so that 3-5 seeds are not under-dispersed. It covers the variation between training runs, which a test ' +
    'over cases alone ignores; with few seeds it is still approximate (in simulation with 3 seeds and seed variation ' +
    'dominating it covers ~85-90%, against ~20-45% for cases alone). The tests take the per-case difference of the seed ' +
    'means: Wilcoxon signed-rank (exact below 50 cases without ties, else normal with tie correction; zero differences ' +
    'dropped) and the paired t-test, two-sided, Holm-adjusted over every row of the comparison table (each test separately). ' +
    `A difference is called **significant** when the Holm-adjusted Wilcoxon p < ${ALPHA} and the bootstrap interval excludes ` +
    '0; **significant over test cases only** when the test passes but the interval (seed variation) includes 0.',
    '',
  ];
}

function modelTable(ds: DatasetKey, ms: ModelSummary[]): string[] {
  const paper = ds === 'dsb2018';
  const lines = [
    `| model | seeds | test Dice % | test IoU % | params |${paper ? ' paper IoU % |' : ''}`,
    `|---|---:|---:|---:|---:|${paper ? '---:|' : ''}`,
  ];
  for (const m of MODELS) {
    const s = ms.find((x) => x.model === m);
    const p = paper ? ` ${PAPER.nucleiIou[m].toFixed(2)} |` : '';
    const cells = s ? `${s.seeds.join(', ')} | ${stat(s.dice)} | ${stat(s.iou)} | ${int(s.params)}` : 'pending | | |';
    lines.push(`| ${MODEL_LABELS[m]} | ${cells} |${p}`);
  }
  if (!ms.length) return [...lines, ''];
  return [...lines, '', `Mean ± SE over seeds (seed count); each seed's score is its mean over the ${ms[0].cases} test cases.`, ''];
}

function comparisonTable(cs: Comparison[]): string[] {
  if (!cs.length) return ['No comparison yet: no dataset has UNet++ (DS) and a U-Net with a common seed.'];
  const row = (c: Comparison) => [
    c.dataset, `${MODEL_LABELS[c.a]} − ${MODEL_LABELS[c.b]}`, METRIC_LABEL[c.metric], `${c.seeds.length} x ${c.cases}`,
    signed(c.ci.estimate), `[${signed(c.ci.lo)}, ${signed(c.ci.hi)}]`, `${pval(c.wilcoxon.p)} (${pval(c.wilcoxonHolm)})`,
    `${pval(c.ttest.p)} (${pval(c.ttestHolm)})`, VERDICT[c.verdict],
  ];
  return [
    '| dataset | comparison | metric | seeds x cases | difference (points) | 95% CI, cases and seeds | Wilcoxon p (Holm) | ' +
    't-test p (Holm) | verdict |',
    '|---|---|---|---:|---:|---:|---:|---:|---|',
    ...cs.map((c) => `| ${row(c).join(' | ')} |`),
    '',
  ];
}

/** One sentence per dataset and comparison (Dice; IoU when it disagrees), and the limits of small test sets. */
function comparisonSentences(cs: Comparison[]): string[] {
  const out: string[] = [];
  const what = (c: Comparison) =>
    `${signed(c.ci.estimate)} ${METRIC_LABEL[c.metric]} points (95% CI ${signed(c.ci.lo)} to ${signed(c.ci.hi)}), ` +
    VERDICT[c.verdict];
  for (const ds of DATASETS)
    for (const [a, b] of COMPARISONS) {
      const pick = (metric: Metric) => cs.find((c) => c.dataset === ds && c.a === a && c.b === b && c.metric === metric);
      const dice = pick('dice'), iou = pick('iou');
      if (!dice || !iou) continue;
      const seeds = dice.seeds.length === 1 ? ' (one seed: seed variation not covered)' : '';
      const alsoIou = iou.verdict === dice.verdict ? '' : `; IoU ${what(iou)}`;
      out.push(`- ${ds}: ${MODEL_LABELS[a]} − ${MODEL_LABELS[b]}: ${what(dice)}${alsoIou}${seeds}.`);
    }
  // few test cases bound the exact Wilcoxon p from below: say so where it could decide the verdict
  const m = cs.length;
  for (const ds of DATASETS) {
    const c = cs.find((x) => x.dataset === ds && x.wilcoxon.method === 'exact');
    const least = c ? 2 / 2 ** c.cases : 0;
    if (!c || least <= ALPHA / m) continue;
    out.push(`- ${ds} has ${c.cases} test cases: the smallest possible two-sided Wilcoxon p is 2/2^${c.cases} = ${pval(least)}` +
      (least >= ALPHA ? ', so no difference on it can be significant, whatever its size.'
        : `, which Holm's correction over ${m} rows multiplies by up to ${m}: the test has little power there, ` +
          'whatever the size of a difference.'));
  }
  return [...out, ''];
}

function pruningTable(p: PruningSummary): string[] {
  const label = (l: number | 'accurate') => (l === 'accurate' ? `L${p.rows.length - 1}, accurate` : `L${l} (fast)`);
  const basis = p.seBasis === 'seeds' ? `one SE over ${p.seeds.length} seeds` : 'one SE over the test cases (one seed)';
  const full = p.rows[p.rows.length - 1];
  const small = p.rows.find((r) => r.level === p.smallestWithinOneSe);
  const seeds = p.seeds.length > 1 ? `Seeds ${p.seeds.join(', ')}; mean ± SE over seeds (count). `
    : `Seed ${p.seeds[0]} only: no SE over seeds. `;
  const verdict = !small
    ? `No pruned level comes within ${basis} of the full network (Dice ${pts(p.threshold)}% or more).`
    : `The smallest network within ${basis} of the full one (Dice ≥ ${pts(p.threshold)}%) is **L${small.level}**: ` +
      `${int(small.params)} parameters and ${stat(small.msBatch1, 1, 1)} ms per input at batch 1, against ${int(full.params)} and ` +
      `${stat(full.msBatch1, 1, 1)} ms for the full network in accurate mode.`;
  return [
    `| network | params | GFLOP / input | ms / input, batch 1 | ms / input, batch ${p.rows[0]?.batch} | test Dice % | test IoU % |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...p.rows.map((r) => `| ${label(r.level)} | ${int(r.params)} | ${r.gflops.toFixed(2)} | ${stat(r.msBatch1, 1, 1)} | ` +
      `${stat(r.msBatched, 1, 1)} | ${stat(r.dice)} | ${stat(r.iou)} |`),
    '',
    seeds + verdict,
    '',
  ];
}

function costTable(ms: ModelSummary[]): string[] {
  if (!ms.length) return ['pending (no finished run yet)', ''];
  const time = (s: ModelSummary) =>
    duration(s.trainSeconds.mean) + (s.trainSeconds.n >= 2 ? ` ± ${duration(s.trainSeconds.se)}` : '');
  const row = (s: ModelSummary) => [
    s.dataset, MODEL_LABELS[s.model], s.seeds.length, time(s), stat(s.epochs, 1, 1), s.stepMs.n ? s.stepMs.mean.toFixed(0) : '-',
    s.trainGflopsPerStep.toFixed(1), `${s.gflops.toFixed(2)} (${s.timing.shape.join('x')})`, stat(s.msBatch1, 1, 1),
    `${stat(s.msBatched, 1, 1)} (batch ${s.timing.batch})`,
  ];
  return [
    '| dataset | model | seeds | training time | epochs | median step (ms) | training GFLOP / step | GFLOP / input (forward) | ' +
    'ms / input, batch 1 | ms / input, batched |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...ms.map((s) => `| ${row(s).join(' | ')} |`),
    '',
    'Training time is wall clock summed over epochs (mean ± SE over seeds), on 2 cores shared with other jobs: it overstates ' +
    'the cost, and the FLOPs per step (`unetpp info`\'s training estimate, 3x the forward pass, times the inputs of a step) ' +
    'are the machine-independent measure. Times per input are medians of timed forward passes on the native backend ' +
    '(probabilities included).',
    '',
  ];
}

function paperLines(a: Analysis): string[] {
  const dsb = a.models.filter((m) => m.dataset === 'dsb2018');
  const lines = [
    '## Comparison with the paper',
    '',
    'Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image Segmentation" (DLMIA 2018), table 2, reports one ' +
    'IoU per model and task (cell nuclei, colon polyp, liver, lung nodule): UNet++ with DS gains 1.75 IoU points over U-Net ' +
    'on nuclei and about 3.9 on average over the four tasks. **Its metric is not precisely defined**: no protocol (per image ' +
    'or pooled, threshold, resolution) and no split are published, and the official code\'s function named `compute_iou` ' +
    'computes 2|A∩B| / (|A| + |B|), a Dice coefficient. Its column is therefore set beside both of ours; the differences ' +
    'between models, not the levels, are what should reproduce. ISBI 2012 and Hippocampus are not in the paper.',
    '',
    'Other differences: **data**, the dsb2018 stage-1 training set with the community\'s label fixes and our fixed ' +
    '464/66/134 split, trained on the plan\'s patches at the images\' own resolution and scored on whole images (the paper ' +
    'resized to 96x96); **architecture**, as the plan makes it (bn preset with instance norm, bilinear up-sampling, its ' +
    'filters and depth) instead of the Keras paper preset (32..512, dropout 0.5, transposed convolutions), so parameter ' +
    'counts differ (the paper preset is in the earlier runs\' table); **schedule**, the plan\'s (Adam 3e-4 constant as the ' +
    'paper, a fixed number of steps, the best validation checkpoint; the paper stopped early on validation loss); **loss**, ' +
    '0.5 BCE + Dice per head as the paper; **seeds**, the paper reports one run per model, without error bars.',
    '',
  ];
  if (!dsb.length) return [...lines, 'dsb2018: pending.', ''];
  lines.push('| dsb2018 | paper IoU % | ours IoU % | ours Dice % |', '|---|---:|---:|---:|');
  for (const m of MODELS) {
    const s = dsb.find((x) => x.model === m);
    const ours = s ? `${stat(s.iou)} | ${stat(s.dice)}` : 'pending | pending';
    lines.push(`| ${MODEL_LABELS[m]} | ${PAPER.nucleiIou[m].toFixed(2)} | ${ours} |`);
  }
  lines.push('');
  for (const [x, y] of COMPARISONS) {
    const gain = PAPER.nucleiIou[x] - PAPER.nucleiIou[y];
    const c = a.comparisons.find((q) => q.dataset === 'dsb2018' && q.a === x && q.b === y && q.metric === 'iou');
    if (!c) continue;
    const where = gain / 100 > c.ci.hi ? 'above our interval' : gain / 100 < c.ci.lo ? 'below our interval' : 'inside our interval';
    const paper = `${gain >= 0 ? '+' : '−'}${Math.abs(gain).toFixed(2)}`;
    const ours = `${signed(c.ci.estimate)} (95% CI ${signed(c.ci.lo)} to ${signed(c.ci.hi)}, ${c.seeds.length} seeds)`;
    const pair = `${MODEL_LABELS[x]} − ${MODEL_LABELS[y]}`;
    lines.push(`- ${pair}: the paper ${paper} IoU points; ours ${ours}: the paper's gain lies ${where}.`);
  }
  return [...lines, ''];
}

/** The closing paragraph: what the comparisons say about the claim, from their verdicts and signs. */
function closing(a: Analysis): string[] {
  const head = ['## What the data say about the claim', ''];
  const dice = a.comparisons.filter((c) => c.metric === 'dice');
  if (!dice.length) return [...head, 'Pending: no dataset has both UNet++ (DS) and a U-Net finished on a common seed.', ''];
  const better = dice.filter((c) => c.verdict === 'significant' && c.ci.estimate > 0);
  const worse = dice.filter((c) => c.verdict === 'significant' && c.ci.estimate < 0);
  const casesOnly = dice.filter((c) => c.verdict === 'cases only');
  const name = (c: Comparison) => `${c.dataset} (vs ${MODEL_LABELS[c.b]}, ${signed(c.ci.estimate)} points)`;
  const seeds = dice.map((c) => c.seeds.length);
  const lo = Math.min(...seeds), hi = Math.max(...seeds);
  const neither = dice.length - better.length - worse.length;
  const parts = [
    `Across ${dice.length} comparisons of UNet++ (DS) with U-Net and wide U-Net ` +
    `(Dice; ${list(unique(dice.map((c) => c.dataset)))}; ` +
    `${lo === hi ? lo : `${lo} to ${hi}`} seeds per comparison), ` +
    `${better.length} show UNet++ (DS) significantly better${better.length ? `: ${list(better.map(name))}` : ''}, ` +
    `${worse.length} significantly worse${worse.length ? `: ${list(worse.map(name))}` : ''}, ` +
    `and ${neither} do not separate the models` +
    (casesOnly.length ? ` (of which ${casesOnly.length} pass the test over test cases but not the seed variation: ` +
      `${list(casesOnly.map(name))})` : '') + '.',
    better.length && !worse.length
      ? 'Where the data separate the models, they side with the paper\'s claim, though the gains are to be read against ' +
        'its sizes above.'
      : worse.length && !better.length ? 'Where the data separate the models, they go against the paper\'s claim.'
        : better.length && worse.length ? 'The direction depends on the dataset: the claim does not hold in general here.'
          : 'With this budget and these seeds the data neither confirm nor refute the claim: the differences are within the ' +
            'variation between training runs and test cases.',
  ];
  if (a.missing.length) parts.push(`${a.missing.length} planned runs are still missing, so this reading is provisional.`);
  if (a.smoke) parts.push('These are smoke runs (a few cases and steps): they check the pipeline, not the claim.');
  return [...head, parts.join(' '), ''];
}

const machineLine = (m: Machine) => `${m.cpu}, ${m.cores} cores (threads: ${m.threads}), Node ${m.node}, backend ${m.backend}`;

/** Runs of hand-tuned settings (an earlier version of this experiment): shown apart, never in a statistic with plan runs. */
function handTunedLines(hand: SeedRun[]): string[] {
  if (!hand.length) return [];
  const rows = DATASETS.flatMap((ds) => MODELS.flatMap((m) => {
    const rs = hand.filter((r) => r.dataset === ds && r.model === m);
    if (!rs.length) return [];
    const st = (f: (r: SeedRun) => number[]) => stat(seedStat(rs.map((r) => mean(f(r)))));
    return [`| ${ds} | ${MODEL_LABELS[m]} | ${rs.map((r) => r.seed).join(', ')} | ${st((r) => r.test.dice)} | ${st((r) => r.test.iou)} |`];
  }));
  return [
    '## Hand-tuned runs, earlier (not in any statistic above)',
    '',
    `${hand.length} result files come from the hand-tuned settings of an earlier version of this experiment (before every ` +
    'run was configured by the plan). They are shown here only, mean ± SE over their seeds; the tables above use plan ' +
    'runs alone.',
    '',
    '| dataset | model | seeds | test Dice % | test IoU % |',
    '|---|---|---:|---:|---:|',
    ...rows,
    '',
  ];
}

export async function buildReport(o: ReportOptions): Promise<string> {
  const all = readSeedRuns(o.results);
  const runs = all.filter((r) => r.engine === 'plan');
  const hand = all.filter((r) => r.engine !== 'plan');
  const smoke = runs.some((r) => r.smoke);
  const a = analyse(runs, { seeds: o.seeds ?? (smoke ? SMOKE_SEEDS : SEEDS), resamples: o.resamples });
  const plotDir = join(dirname(o.out), basename(o.out, extname(o.out)));
  const plots = await writePruningPlots(plotDir, a.pruning);
  const legacy = await legacySection(o.results, plotDir);
  const dates = runs.map((r) => r.date).sort();
  const when = runs.length ? [
    '', `Machine: ${unique(runs.map((r) => machineLine(r.machine))).join('; ')}. ` +
      `Runs dated ${dates[0].slice(0, 10)} to ${dates[dates.length - 1].slice(0, 10)}.`,
  ] : [];
  const md: string[] = [
    '# Results: the UNet++ paper\'s comparison, over seeds',
    '',
    'Generated by `node dist/experiments/paper-table/report.js` from `experiments/paper-table/results/` (issue 26): ' +
    'do not edit by hand.' +
    (smoke ? ' **Smoke runs: a few cases, a plan for seconds, a few steps: these numbers check the pipeline only.**' : ''),
    '',
    ...statusLines(a),
    ...when,
    '',
    ...setupLines(runs, o),
    '## Accuracy per model',
    '',
    ...DATASETS.flatMap((ds) => [`### ${ds}`, '', ...modelTable(ds, a.models.filter((m) => m.dataset === ds))]),
    '## Paired differences: UNet++ (DS) against U-Net and wide U-Net',
    '',
    ...comparisonTable(a.comparisons),
    ...comparisonSentences(a.comparisons),
    '## Pruning: UNet++ with deep supervision, over seeds',
    '',
    'L1..Ld are the pruned networks (nodes i + j <= d, head d) in fast mode; "accurate" is the full network averaging all ' +
    'heads. GFLOPs and times are per image or volume: the plan\'s median case rounded up to a multiple of 2^depth ' +
    '(the shape beside the GFLOPs in the cost table), forward passes on the backend named under "Machine".',
    '',
    ...(a.pruning.length ? a.pruning.flatMap((p) => [`### ${p.dataset}`, '', ...pruningTable(p)])
      : ['pending (no UNet++ (DS) run finished yet)', '']),
    ...plots.flatMap((p) => [`![${p.file}](${basename(plotDir)}/${p.file})`, '', p.caption, '']),
    '## Cost',
    '',
    ...costTable(a.models),
    ...paperLines(a),
    ...closing(a),
    '## Commands',
    '',
    'The whole experiment (resumable: re-run the same command, 2 h 50 min at a time, until every run is finished; ' +
    'experiments/paper-table/README.md has the cost per dataset):',
    '',
    '```sh', FULL_COMMAND, 'node dist/experiments/paper-table/report.js   # rebuild this page from the result files', '```',
    '',
    ...(runs.length
      ? ['Commands that produced the runs above:', '', '```sh', ...unique(runs.map((r) => r.command)), '```', ''] : []),
    ...handTunedLines(hand),
    ...legacy,
    ...(o.brats ? bratsSection(o.brats) : []),
  ];
  const text = [...md, ...foreignSections(o.out)].join('\n');
  writeFileAtomicSync(o.out, new TextEncoder().encode(text));
  return text;
}

/** Sections other reports keep in the same page between <!-- name:start --> and <!-- name:end -->: carried over as they are. */
function foreignSections(out: string): string[] {
  if (!existsSync(out)) return [];
  const blocks = readFileSync(out, 'utf8').match(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g) ?? [];
  return blocks.flatMap((b) => ['', b]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const { values } = parseArgs({ options: { results: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const out = resolve(values.out ?? join(repo, 'docs/results.md'));
  buildReport({
    results: resolve(values.results ?? join(repo, 'experiments/paper-table/results')), out,
    brats: join(repo, 'experiments/brats/results'),
  })
    .then(() => console.log(`wrote ${out}`))
    .catch((e: Error) => { console.error(`report: ${e.message}`); process.exit(1); });
}
