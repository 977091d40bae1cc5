// How a run is configured: the dataset's plan (one `unetpp plan` per dataset, shared by the four
// models) plus only the model flags and the seeds, with the plan's epochs given explicitly so that
// every model trains the same number of steps (a given --epochs replaces the plan's time limit and
// its refit of epochs to time: src/cli/plan-train.ts). Pure functions: tested without training.
import type { DatasetPlan } from '../../src/plan/index.js';
import type { ModelConfig } from '../../src/models/config.js';
import { SMOKE, wideFilters, type ModelKey } from './settings.js';

export type Flags = Record<string, string | number | boolean>;

/** The flags the runner may add to `--plan`: the step budget, the model and the seeds. */
export const UNIT_FLAG_KEYS = ['plan', 'epochs', 'samplesPerEpoch', 'arch', 'filters', 'deepSupervision', 'seed', 'modelSeed'];

/** Per-model flags: architecture, filters (wide U-Net: the plan's x 35/32), deep supervision; seeds. */
export function modelFlags(model: ModelKey, planFilters: readonly number[], seed: number): Flags {
  const seeds = { seed, modelSeed: seed };
  switch (model) {
    case 'unet': return { arch: 'unet', ...seeds };
    case 'wide-unet': return { arch: 'unet', filters: wideFilters(planFilters).join(','), ...seeds };
    case 'unetpp': return { arch: 'unetpp', deepSupervision: false, ...seeds };
    case 'unetpp-ds': return { arch: 'unetpp', deepSupervision: true, ...seeds };
  }
}

/**
 * Options of `unetpp train` for one (model, seed) on a dataset: the plan file, the plan's epochs (a fixed
 * step budget: the plan's steps per epoch stay, its wall-clock limit goes), the model and the seeds.
 * Smoke: 1 epoch of a few steps instead.
 */
export function unitFlags(plan: DatasetPlan, planFile: string, model: ModelKey, seed: number, smoke = false): Flags {
  if (!smoke && !(plan.time.epochs > 0))
    throw new Error(`${planFile}: the plan has no schedule (its steps were not timed: ${plan.notes.join('; ')}); ` +
      'delete it and plan again on a machine with the memory free');
  const budget: Flags = smoke ? { epochs: SMOKE.epochs, samplesPerEpoch: SMOKE.stepsPerEpoch * plan.batchSize }
    : { epochs: plan.time.epochs };
  return { plan: planFile, ...budget, ...modelFlags(model, plan.network.filters, seed) };
}

/** The network a unit's flags build on the plan (for FLOPs and cost ratios before training). */
export function unitModelConfig(plan: DatasetPlan, flags: Flags): Partial<ModelConfig> {
  const classes = plan.dataset.classes.length; // volumes list the background: softmax; images one sigmoid map
  const filters = flags.filters === undefined ? plan.network.filters : String(flags.filters).split(',').map(Number);
  return {
    dims: plan.dims, arch: flags.arch as 'unet' | 'unetpp', filters, inChannels: plan.dataset.channels, classes,
    preset: 'bn', norm: plan.network.norm, multiclass: classes > 1 ? 'softmax' : 'sigmoid',
    deepSupervision: flags.arch === 'unetpp' && flags.deepSupervision !== false,
  };
}

/** The plan's key facts, as every result file records them. */
export function planFacts(plan: DatasetPlan, file: string) {
  const t = plan.time;
  return {
    file, made: plan.created.at, timeBudget: plan.created.timeBudget, patch: plan.patch, medianShape: plan.medianShape,
    ...(plan.spacing ? { spacing: plan.spacing } : {}), normalize: plan.normalize, filters: plan.network.filters,
    depth: plan.network.depth, norm: plan.network.norm, batchSize: plan.batchSize, epochs: t.epochs,
    stepsPerEpoch: t.stepsPerEpoch, steps: t.epochs * t.stepsPerEpoch, plannedStepMs: t.stepMs, plannedCpuMs: t.cpuMs,
    threads: t.threads, recipe: plan.training.recipe
      ? `${plan.training.recipe.optimizer} lr ${plan.training.recipe.lr}, ${plan.training.recipe.schedule}` : 'fixed defaults',
    precision: plan.training.precision?.value ?? 'fp32',
  };
}
export type PlanFacts = ReturnType<typeof planFacts>;
