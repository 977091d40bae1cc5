// MSD Task04 Hippocampus as a user gets it: `unetpp train -d DIR --time-budget B` (the plan
// decides everything else) and `unetpp eval --split test`, for each time budget, on the fixed
// split (150 train / 20 val / 30 test). Resumable: a run's folder keeps last.safetensors and the
// plan; a killed run resumes with its budget counted across processes; a scored budget is skipped.
// Each budget's scores go to results/<budget>.json (small, committed); report.mjs builds the
// Hippocampus section of docs/results.md from them.
// Every scored run is also scored the other way round for test-time flips (testOtherTta: with --tta
// when the checkpoint predicts in one pass, --no-tta when it records flips); --rescore-tta adds that
// score to results written before it (evaluation only).
//   npm run build && node experiments/hippocampus/run.mjs [--budgets 15m,30m,1h,2h] [--data DIR] [--out DIR] [--rescore-tta] [-- extra train flags]
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawn, execSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 && (dash < 0 || i < dash) ? argv[i + 1] : dflt; };
const DATA = resolve(arg('--data', join(root, '../shared/data/hippocampus-msd')));
const OUT = resolve(arg('--out', here));
const BUDGETS = arg('--budgets', '15m,30m,1h,2h').split(',');
const TAG = arg('--tag', '');
const RESCORE_TTA = argv.includes('--rescore-tta') && (dash < 0 || argv.indexOf('--rescore-tta') < dash);
const CLI = join(root, 'dist/src/cli/main.js');

if (!existsSync(join(DATA, 'dataset.json'))) {
  console.log(`hippocampus: ${DATA} is absent (the shared data folder); nothing to do`);
  process.exit(0);
}
const { readCheckpointMeta } = await import(join(root, 'dist/src/io/checkpoint.js'));
mkdirSync(join(OUT, 'results'), { recursive: true });

/** Runs the CLI, echoing its output; resolves with the mean load average sampled while it ran. */
function cli(args) {
  console.log(`$ unetpp ${args.join(' ')}`);
  return new Promise((ok, fail) => {
    const loads = [];
    const timer = setInterval(() => loads.push(loadavg()[0]), 30_000);
    const p = spawn(process.execPath, [CLI, ...args], { stdio: 'inherit' });
    p.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) ok(loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : loadavg()[0]);
      else fail(new Error(`unetpp ${args[0]} exited with ${code}`));
    });
  });
}

/** metrics.csv of `unetpp eval` -> rows of numbers by column. */
function readCsv(path) {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], i === 0 ? v : v === '' ? null : Number(v)])));
}

const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const se = (a) => Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1) / a.length);

/** Per class: mean Dice and its standard error over the test cases, and the per-case values. */
function scores(rows, classes) {
  const per = {};
  for (const c of classes) {
    const v = rows.map((r) => r[`dice:${c}`]);
    per[c] = { dice: mean(v), se: se(v), cases: v };
  }
  const meanOfLabels = rows.map((r) => mean(classes.map((c) => r[`dice:${c}`])));
  return { perClass: per, meanDice: mean(meanOfLabels), meanSe: se(meanOfLabels) };
}

/** Test scores of the run's best checkpoint with test-time flips the other way round from its default. */
async function otherTta(run, meta, classes) {
  const flag = meta.tta ? '--no-tta' : '--tta';
  const dir = join(run, `eval-test${flag.replace(/^-+/, '-')}`);
  await cli(['eval', '-d', DATA, '-m', join(run, 'best.safetensors'), '--split', 'test', '-o', dir, '--no-hd95', flag]);
  return { flag, ...scores(readCsv(join(dir, 'metrics.csv')), classes) };
}

const writeJson = (path, value) => { writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 1) + '\n'); renameSync(`${path}.tmp`, path); };

const commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
for (const budget of BUDGETS) {
  const name = `${budget}${TAG ? `-${TAG}` : ''}`;
  const result = join(OUT, 'results', `${name}.json`);
  if (existsSync(result)) {
    const done = JSON.parse(readFileSync(result, 'utf8'));
    const best = join(OUT, 'runs', name, 'best.safetensors');
    if (RESCORE_TTA && !done.testOtherTta && existsSync(best)) {
      const { meta } = readCheckpointMeta(best);
      writeJson(result, { ...done, testOtherTta: await otherTta(join(OUT, 'runs', name), meta, meta.classNames.filter((c) => c !== 'background')) });
      console.log(`hippocampus ${name}: scored with test-time flips the other way round`);
    } else console.log(`hippocampus ${name}: scored (${result}); skipped`);
    continue;
  }
  const run = join(OUT, 'runs', name);
  const last = join(run, 'last.safetensors');
  const status = existsSync(last) ? readCheckpointMeta(last).meta.training?.status : undefined;
  let load = null;
  if (status !== 'finished') {
    const resume = existsSync(last) ? ['--resume'] : [];
    load = await cli(['train', '-d', DATA, '-o', run, '--time-budget', budget, '--no-progress', ...resume, ...extra]);
  }
  const best = join(run, 'best.safetensors');
  const { meta } = readCheckpointMeta(best);
  const classes = meta.classNames.filter((c) => c !== 'background');
  const evalDir = join(run, 'eval-test');
  await cli(['eval', '-d', DATA, '-m', best, '--split', 'test', '-o', evalDir]);
  const withPost = scores(readCsv(join(evalDir, 'metrics.csv')), classes);
  let withoutPost = null;
  if (meta.postprocess?.length) {
    await cli(['eval', '-d', DATA, '-m', best, '--split', 'test', '-o', `${evalDir}-raw`, '--no-postprocess']);
    withoutPost = scores(readCsv(join(`${evalDir}-raw`, 'metrics.csv')), classes);
  }
  const log = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const plan = existsSync(join(run, 'plan.json')) ? JSON.parse(readFileSync(join(run, 'plan.json'), 'utf8')) : null;
  const out = {
    budget, tag: TAG || undefined, commit, date: new Date().toISOString(), cpu: cpus()[0]?.model, threads: cpus().length,
    meanLoadDuringTraining: load, extraFlags: extra,
    plan: plan && { patch: plan.patch, spacing: plan.spacing, filters: plan.network?.filters, batchSize: plan.batchSize, time: plan.time,
      recipe: plan.training?.recipe },
    training: {
      epochs: log.length, seconds: log.reduce((t, r) => t + r.seconds, 0), bestEpoch: meta.training?.epoch, bestValDice: meta.training?.value,
      stoppedBy: readCheckpointMeta(last).meta.training?.stoppedBy,
      curve: log.map((r) => ({ epoch: r.epoch, seconds: r.seconds, trainLoss: r.trainLoss, valDice: r.dice })),
      // where the time went, summed over the epochs that record it (the trainer's step/data/update/validation)
      split: timeSplit(log),
    },
    postprocess: meta.postprocess ?? [],
    test: { cases: withPost.perClass[classes[0]].cases.length, ...withPost },
    testWithoutPostprocess: withoutPost,
    tta: !!meta.tta, testOtherTta: await otherTta(run, meta, classes),
  };
  writeJson(result, out);
  console.log(`hippocampus ${name}: test Dice ${classes.map((c) => `${c} ${withPost.perClass[c].dice.toFixed(4)}`).join(', ')}; mean ${withPost.meanDice.toFixed(4)}`);
}

/** The epochs' engine, batch-loading, update and validation seconds, summed (epochs that record them). */
function timeSplit(log) {
  const rows = log.filter((r) => r.stepSeconds !== undefined);
  if (!rows.length) return null;
  const sum = (k) => +rows.reduce((t, r) => t + r[k], 0).toFixed(1);
  return { epochs: rows.length, seconds: sum('seconds'), step: sum('stepSeconds'), data: sum('dataSeconds'),
    update: sum('updateSeconds'), validation: sum('validationSeconds') };
}
