// `unetpp train` plans by itself: the dataset's plan (src/plan) fills every tuning option the
// command line did not give, and is saved as OUT/plan.json (with its cache next to it).
import { Command, Option } from 'commander';
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { duration, memorySize } from './parse.js';
import { parseDuration, planDataset, planTable, readPlan, type DatasetPlan, type PlanRecipe } from '../plan/index.js';
import { isVolumeFolder } from '../data/volumes/volume-layout.js';

/** The flags that steer planning (added to `train`). */
export function addPlanOptions(cmd: Command): Command {
  return cmd
    .option('--time-budget <t>', 'plan: training time to plan epochs and the time limit for (30m, 1h, 2h)', duration, '1h')
    .option('--max-memory <size>', 'plan: memory a training run may use (default 8G)', memorySize)
    .addOption(new Option('--plan <file>', 'follow this plan (from unetpp plan) instead of planning'))
    .option('--no-plan', 'do not plan: every option not given keeps its fixed default');
}

/** The recipe's options; an optimiser given on the command line that is not the plan's keeps its own
 *  fixed defaults (the plan's learning rate is for the plan's optimiser). */
function recipeOptions(r: PlanRecipe | undefined, given: (name: string) => boolean, opts: Record<string, any>) {
  if (!r) return {};
  // the optimiser is listed even when given, so that the line after the table names it among the overrides
  const always = {
    schedule: r.schedule, warmupSteps: r.warmupSteps, cosineHold: r.holdFraction, optimizer: r.optimizer,
    diceClasses: r.diceClasses, batchDice: r.batchDice,
  };
  if (given('optimizer') && opts.optimizer !== r.optimizer) return always;
  return { ...always, lr: r.lr, momentum: r.momentum, weightDecay: r.weightDecay };
}

/** Option names (commander attribute names) a plan may fill, and from which item. */
function planned(p: DatasetPlan, given: (name: string) => boolean, opts: Record<string, any>): Record<string, unknown> {
  const t = p.time;
  const common: Record<string, unknown> = {
    filters: p.network.filters, norm: p.network.norm, batchSize: p.batchSize,
    ...(t.epochs > 0 ? { epochs: t.epochs, timeLimit: p.training.timeLimitSeconds, fitEpochsToTime: true } : {}),
    earlyStop: false, ...recipeOptions(p.training.recipe, given, opts),
    ...(p.inference ? { tta: p.inference.tta } : {}),
    ...(p.training.precision ? { precision: p.training.precision.value } : {}),
  };
  // the plan's pools and kernels fit its filters: a depth given on the command line (--filters) pools and convolves
  // every axis alike
  const fit = !given('filters') || opts.filters?.length === p.network.filters.length;
  const perAxis = {
    ...(p.network.pools && fit ? { pools: p.network.pools } : {}),
    ...(p.network.kernels && fit ? { kernels: p.network.kernels } : {}),
  };
  if (p.kind === 'volume')
    return {
      ...common, ...perAxis, patch: p.patch, spacing: p.spacing, volumeNormalize: p.normalize, cropToNonzero: p.cropToNonzero,
      foregroundFraction: p.foregroundFraction,
    };
  return { ...common, crop: p.patch, normalize: p.normalize };
}

/**
 * The options train runs with: the given ones, and the plan's items for those not given on the
 * command line (or --config); `datasetPlan` carries the plan to the checkpoint. Without --no-plan
 * the plan is made (or read from --plan, or from OUT/plan.json when resuming) and saved in OUT.
 */
export async function planForTraining(dir: string, opts: Record<string, any>, cmd: Command): Promise<Record<string, any>> {
  if (opts.plan === false) return opts;
  // plans are for volumes in 3D and images in 2D: --dims 2 on volumes (slices) trains without one
  const dims = (await isVolumeFolder(dir)) ? 3 : 2;
  if (opts.dims !== undefined && Number(opts.dims) !== dims) {
    console.log(`no plan: --dims ${opts.dims} on a dataset of ${dims === 3 ? 'volumes' : 'images'} (plans are made for ${dims}D)`);
    return opts;
  }
  const given = (name: string) => !['default', undefined].includes(cmd.getOptionValueSource(name));
  const out = join(opts.out, 'plan.json');
  let plan: DatasetPlan;
  if (typeof opts.plan === 'string') {
    plan = await readPlan(opts.plan);
    await mkdir(opts.out, { recursive: true });
    if (resolve(opts.plan) !== resolve(out)) await copyFile(opts.plan, out);
  } else if (opts.resume && existsSync(out)) {
    plan = await readPlan(out); // a resumed run keeps the plan it started with
  } else {
    console.log(`planning (${dir}; time budget ${opts.timeBudget}) ...`);
    try {
      plan = (await planDataset(dir, {
        out, timeBudgetSeconds: parseDuration(opts.timeBudget), timeBudgetText: opts.timeBudget, maxMemory: opts.maxMemory,
        backend: opts.backend, seed: opts.seed, log: (line) => console.log(`plan: ${line}`),
        ...(given('precision') && opts.precision === 'fp32' ? { precision: 'fp32' as const } : {}),
      })).plan;
    } catch (e) {
      // the run can still go ahead on the flags and fixed defaults; the reason is on stderr
      process.stderr.write(`unetpp: warning: planning failed (${(e as Error).message}); ` +
        'training without a plan (--no-plan skips planning)\n');
      return opts;
    }
  }
  const items = planned(plan, given, opts);
  const used: Record<string, any> = { ...opts, datasetPlan: plan };
  const kept: string[] = [];
  for (const [name, value] of Object.entries(items)) {
    if (value === undefined) continue;
    // a stopping rule given on the command line replaces the plan's epochs and time limit
    const stopGiven = ['epochs', 'timeLimit', 'fitEpochsToTime'].includes(name) && (given('epochs') || given('timeLimit'));
    const earlyGiven = name === 'earlyStop' && (given('patience') || given('earlyStop'));
    const sizeGiven = name === 'crop' && given('size');
    if (given(name)) kept.push(name);
    if (given(name) || stopGiven || earlyGiven || sizeGiven) continue;
    used[name] = value;
  }
  // an epoch keeps the plan's number of steps whatever the batch
  if (!given('samplesPerEpoch') && plan.time.stepsPerEpoch > 0) used.samplesPerEpoch = plan.time.stepsPerEpoch * used.batchSize;
  console.log(planTable(plan));
  console.log(`plan saved as ${out}${kept.length ? `; given on the command line instead: ${kept.join(', ')}` : ''}`);
  return used;
}
