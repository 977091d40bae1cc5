// Entry point: trains and scores U-Net, wide U-Net, UNet++ without and with deep supervision
// on dsb2018 and isbi2012-em, each run a resumable unit; then rebuilds the report.
// `node dist/experiments/paper-table/run.js --help`
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../src/engine/backend.js';
import { Budget } from './budget.js';
import { buildReport } from './report.js';
import { DATASETS, FULL, MODELS, SMOKE, type DatasetKey, type ModelKey, type Settings } from './settings.js';
import { runUnit, type UnitOutcome } from './unit.js';

/** The repository root (this file runs as dist/experiments/paper-table/run.js). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const HELP = `usage: node dist/experiments/paper-table/run.js [options]
  --work DIR          run folders (default /work/runs/paper-table; --smoke: a new temp folder)
  --results DIR       result JSON files (default experiments/paper-table/results; --smoke: WORK/results)
  --report FILE       Markdown report rebuilt at the end (default docs/results.md; --smoke: WORK/report.md; plots beside it in a folder of its name)
  --data DIR          folder holding dsb2018/ and isbi2012-em/ (default ../shared/data next to the repo)
  --time-budget S     stop cleanly before S seconds have passed (no epoch or evaluation starts that would not fit)
  --datasets A,B      subset of ${DATASETS.join(',')}
  --models A,B        subset of ${MODELS.join(',')}
  --threads N         CPU threads of the native backend (sets OMP_NUM_THREADS)
  --backend NAME      native (default) | auto | reference
  --smoke             1-2 epochs, 24/8/8 images, filters 8..128: checks the pipeline in about a minute
  --quiet             no progress lines
  --help
Re-running the same command continues unfinished runs from their last checkpoint and skips finished ones.`;

function list<T extends string>(v: string | undefined, all: readonly T[], flag: string): T[] {
  if (!v) return [...all];
  const out = v.split(',').map((x) => x.trim());
  for (const x of out) if (!all.includes(x as T)) throw new Error(`${flag}: '${x}' is not one of ${all.join(', ')}`);
  return out as T[];
}

export interface RunSummary { outcomes: Record<string, UnitOutcome>; work: string; results: string; report: string; seconds: number }

export async function main(argv: string[]): Promise<RunSummary | null> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      work: { type: 'string' }, results: { type: 'string' }, report: { type: 'string' }, data: { type: 'string' },
      'time-budget': { type: 'string' }, datasets: { type: 'string' }, models: { type: 'string' },
      threads: { type: 'string' }, backend: { type: 'string' }, smoke: { type: 'boolean' }, help: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  if (v.help) { console.log(HELP); return null; }
  const started = Date.now();
  const settings: Settings = v.smoke ? SMOKE : FULL;
  const budgetS = v['time-budget'] === undefined ? undefined : Number(v['time-budget']);
  if (budgetS !== undefined && !(budgetS > 0)) throw new Error(`--time-budget: expected seconds > 0, got '${v['time-budget']}'`);
  if (v.threads !== undefined) {
    if (!/^[1-9]\d*$/.test(v.threads)) throw new Error(`--threads: expected a positive integer, got '${v.threads}'`);
    process.env.OMP_NUM_THREADS = v.threads; // before the addon loads (imported below)
  }
  const work = resolve(v.work ?? (v.smoke ? mkdtempSync(join(tmpdir(), 'paper-table-smoke-')) : '/work/runs/paper-table'));
  const results = resolve(v.results ?? (v.smoke ? join(work, 'results') : join(REPO, 'experiments/paper-table/results')));
  const report = resolve(v.report ?? (v.smoke ? join(work, 'report.md') : join(REPO, 'docs/results.md')));
  const dataRoot = resolve(v.data ?? join(REPO, '../shared/data'));
  const datasets = list<DatasetKey>(v.datasets, DATASETS, '--datasets');
  const models = list<ModelKey>(v.models, MODELS, '--models');
  const backendName = v.backend ?? 'native';
  if (!['native', 'auto', 'reference'].includes(backendName)) throw new Error(`--backend: '${backendName}' is not native, auto or reference`);
  const { getBackend } = await import('../../src/engine/backends/select.js');
  const backend: Backend = getBackend(backendName as 'native' | 'auto' | 'reference');
  const log = v.quiet ? () => {} : (l: string) => console.log(l);
  const ctx = {
    settings, work, results, dataRoot, backend, budget: new Budget(budgetS, started), log,
    command: ['node dist/experiments/paper-table/run.js', ...argv].join(' '),
  };
  log(`paper-table${settings.smoke ? ' (smoke)' : ''}: work ${work}, results ${results}, backend ${backend.name}`);
  const outcomes: Record<string, UnitOutcome> = {};
  for (const ds of datasets)
    for (const m of models) outcomes[`${ds}-${m}`] = await runUnit(ctx, ds, m);
  await buildReport({ results, out: report });
  const left = Object.entries(outcomes).filter(([, o]) => o === 'stopped').map(([k]) => k);
  const seconds = (Date.now() - started) / 1000;
  log(`done in ${seconds.toFixed(0)} s: ${Object.entries(outcomes).map(([k, o]) => `${k} ${o}`).join(', ')}; report ${report}`);
  if (left.length) log(`unfinished: ${left.join(', ')}; re-run the same command to continue`);
  return { outcomes, work, results, report, seconds };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`paper-table: ${process.env.DEBUG ? e.stack : e.message}`);
    process.exit(1);
  });
}
