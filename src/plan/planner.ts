// From a fingerprint to a DatasetPlan: the patch (shrunk until the engine-sized memory fits), the
// topology, filters, batch and the schedule a time budget buys, timed on this machine. The rules
// are in rules.ts, what they read of the dataset in facts.ts, the memory model in memory.ts.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Graph, numel } from '../engine/graph.js';
import { getBackend } from '../engine/backends/select.js';
import { bf16Support } from '../engine/backends/native.js';
import { SegModel } from '../models/model.js';
import type { LossSpec } from '../train/plans.js';
import { tileLayout } from '../infer/tiles.js';
import { availableMemory, gib } from '../infer/memory.js';
import { estimateStepMemory, estimateValidationMemory } from './memory.js';
import { measureStep, probeKey } from './measure.js';
import type { ProbeResult, ProbeSpec } from './step-probe.js';
import type { PlanCacheFile } from './cache.js';
import { imageFacts, plannedCases, prod, volumeFacts } from './facts.js';
import {
  MIN_BATCH, MIN_STEPS, MIN_STEPS_PATCH, MAX_DATASET_COVERED, FOREGROUND_FRACTION, batchSize, builtNetwork, filtersFor,
  inferenceFor, initialPatch, recipeFor, scheduleFor, shrinkPatch, topology, type Topology,
} from './rules.js';
import type { DatasetFingerprint, DatasetPlan } from '../io/dataset-plan.js';

/** A network's per-level shape: pools per level and axis (its length the depth), kernels per level 0..depth. */
type Net = { pools: number[][]; kernels: number[][] };

export interface PlannerOptions {
  timeBudgetSeconds: number;
  /** As the user wrote it (recorded in the plan). */
  timeBudgetText?: string;
  /** Bytes; default 8 GiB. */
  maxMemory?: number;
  backend?: 'auto' | 'native' | 'reference';
  /** Time steps on this machine (default true); false plans without a schedule. */
  measure?: boolean;
  /** fp32: do not time bf16 (plan float32 training whatever the CPU). */
  precision?: 'fp32';
  /** Cached timings by probe key, read and extended. */
  cache?: PlanCacheFile;
  /** Replaces measureStep (tests). */
  measureFn?: (spec: ProbeSpec) => Promise<ProbeResult>;
  log?: (line: string) => void;
}

/** A fixed default, as nnU-Net's reference GPU: the same dataset gets the same plan on any day. */
const DEFAULT_MAX_MEMORY = 8 * 2 ** 30;
/** Windows per validation run (the predictor's default). */
const VALIDATION_WINDOWS = 4;
/** Timed steps need this share of the memory free now at most (a shared machine). */
const PROBE_SHARE = 0.8;
/** bf16 training is planned where its step takes at most this share of the float32 step's. */
const BF16_GAIN = 0.85;
/** Cores other processes may keep busy while steps are timed before the plan says it was timed under load. */
const BUSY_OTHERS = 0.3;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Multiply-adds x 2 of the forward convs: how two candidates' step times compare. */
function convWork(model: SegModel, patch: readonly number[]): number {
  const g = new Graph();
  model.forward(g, g.input('x', [1, model.config.inChannels, ...patch]), { training: true });
  let f = 0;
  for (const n of g.nodes) if (n.op === 'conv') f += 2 * numel(n.shapes[0]) * (numel(n.inputs[1].shape) / n.inputs[1].shape[0]);
  return f;
}

export async function derivePlan(fp: DatasetFingerprint, o: PlannerOptions): Promise<DatasetPlan> {
  const log = o.log ?? (() => {});
  const s = fp.kind === 'volume' ? volumeFacts(fp) : imageFacts(fp);
  const notes = [...s.notes];
  // nnU-Net's conv - instance norm in 2D too (and on AVX2 CPUs oneDNN's batch norm on blocked
  // activations is its slow reference kernel: 6x a 2D step, docs/training.md)
  if (s.dims === 2) notes.push('instance norm, as nnU-Net (batch statistics of 2-image batches are noise)');
  const K = s.classes.length;
  const loss: LossSpec = { kind: K > 1 ? 'ce_dice' : 'bce_dice', bceWeight: 0.5 };
  const budget = o.maxMemory ?? DEFAULT_MAX_MEMORY;
  if (budget > availableMemory())
    notes.push(`the ${gib(budget)} budget is more than the ${gib(availableMemory())} available now`);
  const backend = getBackend(o.backend ?? 'auto', 'fp32', 'train', s.dims);

  const models = new Map<string, SegModel>();
  // net: pools per level and axis (its length the depth) and kernels (levels 0..depth); images pool and convolve
  // every axis alike
  const modelFor = (base: number, net: Net) => {
    const key = `${base}/${JSON.stringify([net.pools, net.kernels])}`;
    if (!models.has(key))
      models.set(key, new SegModel({ dims: s.dims, filters: filtersFor(base, net.pools.length, s.dims), inChannels: s.channels,
        classes: K, deepSupervision: true, multiclass: 'softmax', norm: 'instance',
        ...(s.dims === 3 ? { pools: net.pools, kernels: net.kernels } : {}) }));
    return models.get(key)!;
  };
  // validation: windows of the patch over the median case (volumes), whole images one at a time (2D)
  const largest = s.windowedValidation ? null : s.sizes.reduce((a, b) => (prod(b) > prod(a) ? b : a));
  const valInput = (patch: number[], pools: number[][]) => {
    const m = pools.reduce((acc, f) => acc.map((v, k) => v * f[k]), patch.map(() => 1));
    return largest?.map((v, k) => Math.ceil(v / m[k]) * m[k]) ?? patch;
  };
  const windowsOver = (patch: number[], shape: readonly number[] = s.medianShape) =>
    tileLayout(shape.map((v, k) => Math.max(v, patch[k])), patch, 0.25, 'linear').windows.length;
  const valWindows = (patch: number[]) => (s.windowedValidation ? Math.min(VALIDATION_WINDOWS, windowsOver(patch)) : 1);
  const validations = new Map<string, number>();
  // fitted: what the budget is checked against: the step and, when validation runs in windows of the
  // patch, its predictor (whole images do not shrink with the patch: reported, not fitted)
  const memoryOf = (base: number, net: Net, batch: number, patch: number[]) => {
    const m = modelFor(base, net);
    const step = estimateStepMemory(m, batch, patch, loss, backend);
    const input = valInput(patch, net.pools), windows = valWindows(patch);
    const key = `${base}/${JSON.stringify([net.pools, net.kernels])}/${input}/${windows}`;
    if (!validations.has(key)) validations.set(key, estimateValidationMemory(m, input, backend, windows));
    const validation = validations.get(key)!;
    return { step, validation, fitted: step.total + (s.windowedValidation ? validation : 0), all: step.total + validation };
  };
  const roomFor = (bytes: number) => bytes < PROBE_SHARE * availableMemory();

  // patch: nnU-Net's start, shrunk until a step of the 32-filter network at batch 2 fits
  const start = initialPatch(s.spacing, s.medianShape);
  const fitted = shrinkPatch(s.spacing, s.medianShape, start,
    (_, t) => { const b = builtNetwork(t); return memoryOf(32, b, MIN_BATCH, b.patch).fitted <= budget; });
  let topo = fitted.topology;
  if (fitted.shrunk)
    notes.push(`patch shrunk ${fitted.shrunk} time(s) from ${topology(s.spacing, start).patch.join('x')} to fit ${gib(budget)}`);
  let { patch, pools, kernels, depth } = builtNetwork(topo);

  // timing (cached by network and machine)
  const probes = o.cache?.probes ?? {}, measuredNow: Record<string, ProbeResult> = {};
  let source: DatasetPlan['time']['source'] = 'none';
  const timed = async (base: number, batch: number, precision?: 'bf16'): Promise<ProbeResult> => {
    const m = modelFor(base, { pools, kernels });
    const spec: ProbeSpec = {
      // the backend auto resolves to: one cache key for --backend auto and native on the same machine
      config: m.config, batch, patch, loss, backend: backend.name as ProbeSpec['backend'], minSteps: 2, maxSteps: 5, maxSeconds: 15,
      validationWindows: valWindows(patch), ...(precision ? { precision } : {}),
    };
    const key = probeKey(spec);
    if (probes[key]) {
      if (source === 'none') source = 'cached';
      return probes[key];
    }
    log(`timing filters ${m.config.filters.join(',')} on ${patch.join('x')} at batch ${batch}${precision ? ` in ${precision}` : ''} ...`);
    const r = await (o.measureFn ?? measureStep)(spec);
    probes[key] = r;
    measuredNow[key] = r;
    source = 'measured';
    return r;
  };
  const stepsIn = (ms: number) => Math.floor(o.timeBudgetSeconds / (ms / 1000));
  const probeBytes = memoryOf(16, { pools, kernels }, MIN_BATCH, patch).step.total;
  const measure = o.measure !== false && roomFor(probeBytes);
  if (o.measure !== false && !measure)
    notes.push(`steps not timed: timing needs ~${gib(probeBytes)}, only ${gib(availableMemory())} is free now`);

  // filters: 32 unless the budget then buys < MIN_STEPS (both timed where the 32-filter step fits in memory now,
  // else 32 scaled by conv work: Winograd makes wider layers cheaper than their work says); and fewer than
  // MIN_STEPS_PATCH even with 16: a smaller patch, down to half per axis
  let base = 32, stepAt2 = 0;
  let p16: ProbeResult | null = null;
  if (measure) {
    p16 = await timed(16, MIN_BATCH);
    const work = (b: number, net: Net, p: number[]) => convWork(modelFor(b, net), p);
    const ratio = work(32, { pools, kernels }, patch) / work(16, { pools, kernels }, patch);
    const time32 = roomFor(memoryOf(32, { pools, kernels }, MIN_BATCH, patch).step.total);
    const t32 = time32 ? (await timed(32, MIN_BATCH)).stepMs : p16.stepMs * ratio;
    base = stepsIn(t32) >= MIN_STEPS ? 32 : 16;
    stepAt2 = base === 32 ? t32 : p16.stepMs;
    notes.push(base === 32 ? `32 filters at the top (nnU-Net's): the budget leaves ${stepsIn(t32)} steps`
      : `16 filters at the top: with 32 (${(t32 / 1000).toFixed(1)} s a step ${time32 ? 'timed' : `scaled by ${ratio.toFixed(1)}x the conv work`}) ` +
        `the budget would leave fewer than ${MIN_STEPS} steps`);
    if (stepsIn(stepAt2) < MIN_STEPS_PATCH) {
      const from = patch, w0 = work(base, { pools, kernels }, from), t0 = stepAt2;
      const at = (t: Topology) => { const b = builtNetwork(t); return (t0 * work(base, b, b.patch)) / w0; };
      const floor = from.map((v) => Math.ceil(v / 2));
      const fit = shrinkPatch(s.spacing, s.medianShape, from, (_, t) => stepsIn(at(t)) >= MIN_STEPS_PATCH, floor);
      if (fit.shrunk) {
        topo = fit.topology;
        ({ patch, pools, kernels, depth } = builtNetwork(topo));
        stepAt2 = at(topo);
        notes.push(`patch shrunk from ${from.join('x')} for the time budget: there a step takes ${(t0 / 1000).toFixed(1)} s, ` +
          `${stepsIn(t0)} steps (< ${MIN_STEPS_PATCH}); ${patch.join('x')} is expected to leave ${stepsIn(stepAt2)}` +
          (fit.floored ? ' (it stops at half the size per axis)' : ''));
      }
    }
  } else notes.push(`no schedule${o.measure === false ? ' (--no-measure)' : ''}; 32 filters at the top (nnU-Net's)`);

  const anisotropic = new Set(topo.pools).size > 1, fallback = anisotropic && s.dims === 2;
  const thin = topo.kernelPerLevel.some((k) => k.includes(1));
  if (fallback)
    notes.push(`per-axis pooling ${topo.pools.join(',')} (patch ${topo.patch.join('x')}) is what the rules give; images ` +
      `pool both axes alike, so the plan builds depth ${depth}, the depth every axis allows, on a patch of multiples of ${2 ** depth}` +
      (thin ? ', with 3x3 kernels' : ''));
  else if (anisotropic)
    notes.push(`per-axis pooling: ${pools.map((f) => f.join('x')).join(', ')} (poolings per axis ${topo.pools.join(',')})` +
      (thin && s.dims === 3 ? `; kernels ${kernels.map((k) => k.join('x')).join(', ')}: 1 along an axis while its spacing ` +
        'is over twice the finest (nnU-Net\'s)' : ''));
  const smaller = s.sizes.filter((v) => v.some((x, k) => x < patch[k])).length;
  if (smaller)
    notes.push(`${smaller} of ${s.sizes.length} planned cases are smaller than the patch along some axis: they are padded`);
  log(`patch ${patch.join('x')}, depth ${depth}${anisotropic && !fallback ? ` (per-axis pooling ${topo.pools.join(',')})` : ''}`);

  // batch: memory, 5% of the dataset, and enough steps in the budget
  const stepsAt2 = measure ? o.timeBudgetSeconds / (stepAt2 / 1000) : Infinity;
  const cover = Math.round((s.datasetVoxels * MAX_DATASET_COVERED) / prod(patch));
  const upper = Math.max(MIN_BATCH, Math.min(64, cover, measure ? Math.floor((MIN_BATCH * stepsAt2) / MIN_STEPS) : 64));
  let memoryFit = memoryOf(base, { pools, kernels }, MIN_BATCH, patch).fitted > budget ? 1 : MIN_BATCH;
  const fits = (b: number) => memoryOf(base, { pools, kernels }, b, patch).fitted <= budget;
  while (memoryFit >= MIN_BATCH && memoryFit < upper && fits(memoryFit + 1)) memoryFit++;
  const { batch, why } = batchSize({ memoryFit, datasetVoxels: s.datasetVoxels, patchVoxels: prod(patch), stepsAt2 });
  notes.push(`batch ${batch}: ${why}`);
  const mem = memoryOf(base, { pools, kernels }, batch, patch);

  // the planned network timed (from the cache when it is the probe above); scaled from it when the
  // machine has no room for it now
  let probe: ProbeResult | null = null, stepMs = 0, validationMs = 0, cpuMs = 0;
  if (measure && roomFor(mem.step.total)) {
    probe = await timed(base, batch);
    ({ stepMs, validationMs, cpuMs } = probe);
  } else if (measure && p16) {
    stepMs = (stepAt2 * batch) / MIN_BATCH;
    validationMs = p16.validationMs;
    notes.push(`the planned network was not timed (no room for ${gib(mem.step.total)} now): ` +
      'its step time is scaled from 16 filters at batch 2');
  }
  // precision: bf16 where this CPU runs it natively and the planned step is faster so (images: ~1.7x, the same
  // DSB2018 test IoU as float32); volumes' float32 Winograd convs are about as fast as bf16's direct ones
  let precision: { value: 'fp32' | 'bf16'; why: string } | undefined;
  if (probe && probe.backend === 'native' && o.precision !== 'fp32' && bf16Support().ok) {
    const b = await timed(base, batch, 'bf16');
    const gain = probe.stepMs / b.stepMs;
    const steps = `${(b.stepMs / 1000).toFixed(2)} s a step against ${(probe.stepMs / 1000).toFixed(2)} s in fp32 (${gain.toFixed(2)}x)`;
    // volumes: bf16 training's Dice is measured on synthetic volumes only, not yet on a real dataset
    precision = b.stepMs > BF16_GAIN * probe.stepMs ? { value: 'fp32', why: `bf16 ${steps}: not faster enough` }
      : s.dims === 3 ? { value: 'fp32', why: `bf16 ${steps}, but its Dice on real volumes is not measured yet (--precision bf16)` }
        : { value: 'bf16', why: steps };
    if (precision.value === 'bf16') ({ stepMs, validationMs, cpuMs } = b);
  }
  // runs of the validation plan over the validation cases as they are (image sizes may differ tenfold)
  const valRuns = s.windowedValidation
    ? s.valSizes.reduce((n, v) => n + Math.ceil(windowsOver(patch, v) / valWindows(patch)), 0)
    : Math.round(s.valSizes.reduce((n, v) => n + prod(v), 0) / prod(patch));
  const validationSeconds = +((valRuns * validationMs) / 1000).toFixed(1);
  const sched = stepMs > 0
    ? scheduleFor({ budgetSeconds: o.timeBudgetSeconds, stepSeconds: stepMs / 1000, validationSeconds, batch })
    : { steps: 0, epochs: 0, stepsPerEpoch: 0, samplesPerEpoch: 0, timeLimitSeconds: o.timeBudgetSeconds };
  // the probes' own threads count in the load average: what other processes took while they timed is the measure
  const others = Math.max(0, ...Object.values(measuredNow).map((r) => r.otherCores ?? 0));
  if (stepMs > 0 && others > BUSY_OTHERS)
    notes.push(`timed under load (other processes kept ${others.toFixed(1)} of ${cpus().length} cores busy): ` +
      'on an idle machine steps are faster and the budget buys more');
  if (probe) {
    const off = probe.peakRssBytes / mem.step.total - 1;
    if (Math.abs(off) > 0.15)
      notes.push(`measured peak ${gib(probe.peakRssBytes)} differs from the estimate by ${(100 * off).toFixed(0)}%`);
  }
  if (mem.fitted > budget) notes.push(`even the smallest batch needs ${gib(mem.fitted)}, over the ${gib(budget)} budget`);
  else if (mem.all > budget)
    notes.push(`validation of whole images (the largest ${largest?.join('x')}) needs ~${gib(mem.validation)} ` +
      `beside the step's ${gib(mem.step.total)}: over the ${gib(budget)} budget; validate on smaller images or give more memory`);

  const model = modelFor(base, { pools, kernels });
  return {
    version: 1, kind: s.kind, dims: s.dims,
    dataset: {
      dir: fp.dir, cases: fp.cases.length, planned: plannedCases(fp.cases as { split: string }[]).length,
      train: fp.cases.filter((c) => c.split === 'train').length, val: fp.cases.filter((c) => c.split === 'val').length,
      channels: s.channels, ...(s.modalities ? { modalities: s.modalities } : {}), classes: s.classes,
    },
    ...(s.spacingXYZ ? { spacing: s.spacingXYZ, spacingRule: s.spacingRule, cropToNonzero: s.crop } : {}),
    medianShape: s.medianShape, patch,
    network: {
      arch: 'unetpp', filters: model.config.filters, depth, poolPerAxis: topo.poolPerLevel, kernelPerAxis: topo.kernelPerLevel,
      ...(model.config.pools ? { pools: model.config.pools } : {}), ...(model.config.kernels ? { kernels: model.config.kernels } : {}),
      pooling: fallback ? 'isotropic fallback' : 'as planned', norm: model.config.norm, deepSupervision: true,
      params: model.params.count(),
    },
    batchSize: batch, normalize: s.normalize, ...(s.ct?.some((c) => c) ? { ct: s.ct } : {}), augment: 'default',
    ...(s.dims === 3 ? { foregroundFraction: FOREGROUND_FRACTION } : {}),
    memory: {
      budgetBytes: budget, step: mem.step, validationBytes: mem.validation,
      ...(probe ? { measuredPeakBytes: probe.peakRssBytes } : {}),
    },
    time: {
      budgetSeconds: o.timeBudgetSeconds, stepMs: +stepMs.toFixed(1), cpuMs: +cpuMs.toFixed(1), source,
      threads: probe?.threads ?? p16?.threads ?? 0, backend: probe?.backend ?? p16?.backend ?? backend.name, validationSeconds,
      steps: sched.steps, epochs: sched.epochs, stepsPerEpoch: sched.stepsPerEpoch, samplesPerEpoch: sched.samplesPerEpoch,
    },
    training: { timeLimitSeconds: sched.timeLimitSeconds, earlyStop: false, recipe: recipeFor(s.dims), ...(precision ? { precision } : {}) },
    inference: inferenceFor(s.dims),
    notes,
    created: {
      at: new Date().toISOString(), unetpp: version(), timeBudget: o.timeBudgetText ?? `${o.timeBudgetSeconds}s`,
      maxMemory: budget, fingerprintStamp: fp.stamp,
    },
  };
}
