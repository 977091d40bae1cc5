// Entry point: plans each dataset once, then trains and scores U-Net, wide U-Net, UNet++ without
// and with deep supervision on it for every seed, each run a resumable unit; then rebuilds the report.
// `node dist/experiments/paper-table/run.js --help`
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../src/engine/backend.js';
import { Budget, unitName, type UnitKey } from './budget.js';
import { buildReport } from './report.js';
import { DATASETS, MODELS, PLAN_BUDGET, SEEDS, SMOKE, SMOKE_SEEDS, type DatasetKey, type ModelKey } from './settings.js';
import { runUnit, unitState, type Context, type UnitOutcome } from './unit.js';

/** The repository root (this file runs as dist/experiments/paper-table/run.js). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

const HELP = `usage: node dist/experiments/paper-table/run.js [options]
  --work DIR          run folders (default /work/runs/paper-table; --smoke: a new temp folder)
  --results DIR       result JSON files (default experiments/paper-table/results; --smoke: WORK/results)
  --report FILE       Markdown report rebuilt at the end (default docs/results.md; --smoke: WORK/report.md);
                      its plots go to a folder of its name beside it
  --data DIR          folder holding the datasets (default ../shared/data next to the repo)
  --resume            continue runs interrupted mid-way from their last checkpoint (without it such a run is an error)
  --time-budget S     stop cleanly before S seconds have passed (no epoch or evaluation starts that would not fit)
  --datasets A,B      subset of ${DATASETS.join(',')}
  --models A,B        subset of ${MODELS.join(',')}
  --seeds 0,1         subset of each dataset's seeds (default: ${DATASETS.map((d) => `${d} ${SEEDS[d].join(',')}`).join('; ')})
  --threads N         CPU threads of the native backend, here and in every plan, train and eval it runs
  --backend NAME      native (default) | auto | reference
  --smoke             a few cases per split, a plan for ${SMOKE.planBudget}, 1 epoch of ${SMOKE.stepsPerEpoch} steps, seed 0:
                      checks the pipeline
  --quiet             no progress lines
  --help
Each dataset is planned once (WORK/<dataset>/plan.json; plan budgets ${DATASETS.map((d) => `${d} ${PLAN_BUDGET[d]}`).join(', ')});
every model then trains the plan's epochs. Finished runs are skipped; re-run the same command with --resume to go on.`;

function list<T extends string>(v: string | undefined, all: readonly T[], flag: string): T[] {
  if (!v) return [...all];
  const out = v.split(',').map((x) => x.trim());
  for (const x of out) if (!all.includes(x as T)) throw new Error(`${flag}: '${x}' is not one of ${all.join(', ')}`);
  return out as T[];
}

export interface RunSummary {
  outcomes: Record<string, UnitOutcome>; work: string; results: string; report: string; seconds: number;
}

/** Units in the order they run: per dataset, seed by seed, so that every model has a seed before any has two. */
export function unitsOf(datasets: DatasetKey[], models: ModelKey[], seeds: (ds: DatasetKey) => number[]): UnitKey[] {
  return datasets.flatMap((ds) => seeds(ds).flatMap((seed) => models.map((model) => ({ ds, model, seed }))));
}

export async function main(argv: string[]): Promise<RunSummary | null> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      work: { type: 'string' }, results: { type: 'string' }, report: { type: 'string' }, data: { type: 'string' },
      resume: { type: 'boolean' }, 'time-budget': { type: 'string' }, datasets: { type: 'string' },
      models: { type: 'string' }, seeds: { type: 'string' }, threads: { type: 'string' }, backend: { type: 'string' },
      smoke: { type: 'boolean' }, help: { type: 'boolean' }, quiet: { type: 'boolean' },
    },
  });
  if (v.help) { console.log(HELP); return null; }
  const started = Date.now();
  const smoke = !!v.smoke;
  const budgetS = v['time-budget'] === undefined ? undefined : Number(v['time-budget']);
  if (budgetS !== undefined && !(budgetS > 0)) throw new Error(`--time-budget: expected seconds > 0, got '${v['time-budget']}'`);
  if (v.threads !== undefined) {
    if (!/^[1-9]\d*$/.test(v.threads)) throw new Error(`--threads: expected a positive integer, got '${v.threads}'`);
    // before the addon loads (imported below); children inherit both (the CLI and the addon read UNETPP_THREADS)
    process.env.OMP_NUM_THREADS = v.threads;
    process.env.UNETPP_THREADS = v.threads;
  }
  const work = resolve(v.work ?? (smoke ? mkdtempSync(join(tmpdir(), 'paper-table-smoke-')) : '/work/runs/paper-table'));
  const results = resolve(v.results ?? (smoke ? join(work, 'results') : join(REPO, 'experiments/paper-table/results')));
  const report = resolve(v.report ?? (smoke ? join(work, 'report.md') : join(REPO, 'docs/results.md')));
  const dataRoot = resolve(v.data ?? join(REPO, '../shared/data'));
  const datasets = list<DatasetKey>(v.datasets, DATASETS, '--datasets');
  const models = list<ModelKey>(v.models, MODELS, '--models');
  const pick = v.seeds?.split(',').map((x) => {
    if (!/^\d+$/.test(x.trim())) throw new Error(`--seeds: '${x}' is not a seed number`);
    return Number(x);
  });
  const units = unitsOf(datasets, models, (ds) => (smoke ? SMOKE_SEEDS : SEEDS)[ds].filter((s) => !pick || pick.includes(s)));
  for (const s of pick ?? [])
    if (!units.some((u) => u.seed === s)) throw new Error(`--seeds: ${s} is not a seed of ${datasets.join(', ')}`);
  const partial = units.filter((k) => unitState(work, k) === 'partial');
  if (partial.length && !v.resume)
    throw new Error(`runs interrupted mid-way in ${work}: ${partial.map(unitName).join(', ')}; ` +
      'add --resume to continue them (or delete their folders)');

  const backendName = v.backend ?? 'native';
  if (!['native', 'auto', 'reference'].includes(backendName))
    throw new Error(`--backend: '${backendName}' is not native, auto or reference`);
  const { getBackend } = await import('../../src/engine/backends/select.js');
  const backend: Backend = getBackend(backendName as 'native' | 'auto' | 'reference');
  const log = v.quiet ? () => {} : (l: string) => console.log(l);
  const ctx: Context = {
    smoke, work, results, dataRoot, backend, budget: new Budget(budgetS, started), resume: !!v.resume, log,
    command: ['node dist/experiments/paper-table/run.js', ...argv].join(' '),
  };
  log(`paper-table${smoke ? ' (smoke)' : ''}: ${units.length} runs; work ${work}, results ${results}, backend ${backend.name}`);
  const outcomes: Record<string, UnitOutcome> = {};
  for (const k of units) outcomes[unitName(k)] = await runUnit(ctx, k);
  const brats = smoke ? undefined : join(REPO, 'experiments/brats/results');
  await buildReport({ results, out: report, seeds: smoke ? SMOKE_SEEDS : SEEDS, brats });
  const seconds = (Date.now() - started) / 1000;
  const by = (o: UnitOutcome) => Object.entries(outcomes).filter(([, x]) => x === o).map(([k]) => k);
  const counts = (['finished', 'skipped', 'stopped', 'failed'] as const).map((o) => `${by(o).length} ${o}`).join(', ');
  log(`done in ${seconds.toFixed(0)} s: ${counts}; report ${report}`);
  if (by('stopped').length) log(`unfinished: ${by('stopped').join(', ')}; re-run the same command with --resume to continue`);
  if (by('failed').length) log(`failed (see error.txt in their folders): ${by('failed').join(', ')}`);
  return { outcomes, work, results, report, seconds };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`paper-table: ${process.env.DEBUG ? e.stack : e.message}`);
    process.exit(1);
  });
}
