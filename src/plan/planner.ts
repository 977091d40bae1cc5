// From a fingerprint to a DatasetPlan: spacing, crop, patch (shrunk until the engine-sized memory
// fits), topology, filters, batch, normalisation and the schedule a time budget buys, timed on
// this machine. The rules themselves are in rules.ts; the memory model in memory.ts.
import { readFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { Graph, numel } from '../engine/graph.js';
import { getBackend } from '../engine/backends/select.js';
import type { Backend } from '../engine/backend.js';
import { SegModel } from '../models/model.js';
import type { LossSpec } from '../train/plans.js';
import { tileLayoutN } from '../infer/tiles.js';
import { availableMemory, gib } from '../infer/memory.js';
import type { CtStats } from '../data/intensity.js';
import { estimateStepMemory, estimateValidationMemory } from './memory.js';
import { measureStep, probeKey } from './measure.js';
import type { ProbeResult, ProbeSpec } from './step-probe.js';
import type { PlanCacheFile } from './cache.js';
import { columnPercentile, median } from './stats.js';
import {
  MIN_BATCH, MIN_STEPS, MIN_STEPS_PATCH, FOREGROUND_FRACTION, batchSize, builtPatch, cropHelps, filtersFor, initialPatch, isotropicDepth,
  medianShapeAt, normalizationFor, scheduleFor, shrinkPatch, targetSpacing, topology, type Topology,
} from './rules.js';
import type { DatasetFingerprint, DatasetPlan, ImageFingerprint, VolumeFingerprint } from './types.js';

export interface PlannerOptions {
  timeBudgetSeconds: number;
  /** As the user wrote it (recorded in the plan). */
  timeBudgetText?: string;
  /** Bytes; default 8 GiB. */
  maxMemory?: number;
  backend?: 'auto' | 'native' | 'reference';
  /** Time steps on this machine (default true); false plans without a schedule. */
  measure?: boolean;
  /** Cached timings by probe key, read and extended. */
  cache?: PlanCacheFile;
  /** Replaces measureStep (tests). */
  measureFn?: (spec: ProbeSpec) => Promise<ProbeResult>;
  log?: (line: string) => void;
}

const DEFAULT_MAX_MEMORY = 8 * 2 ** 30;
const VALIDATION_WINDOWS = 4; // the predictor's default windows per run

const version = (): string => {
  try { return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version; } catch { return 'unknown'; }
};

/** What the rules need of either kind of dataset, in array order. */
interface Shape {
  kind: 'image' | 'volume';
  dims: 2 | 3;
  spacing: number[];
  spacingXYZ?: [number, number, number];
  spacingRule?: string;
  crop?: boolean;
  medianShape: number[];
  channels: number;
  modalities?: string[];
  classes: string[];
  /** Smallest planned case per axis (array order), to say which cases the patch pads. */
  sizes: number[][];
  datasetVoxels: number;
  normalize: DatasetPlan['normalize'];
  ct?: (CtStats | null)[];
  notes: string[];
}

const prod = (v: readonly number[]) => v.reduce((a, b) => a * b, 1);

function volumeShape(fp: VolumeFingerprint): Shape {
  const notes: string[] = [];
  const planned = fp.cases.filter((c) => c.split !== 'test');
  const cases = planned.length ? planned : fp.cases;
  const medCrop = median(cases.map((c) => c.cropFraction));
  const crop = cropHelps(medCrop);
  const sizes = cases.map((c) => (crop ? c.cropShape : c.shape));
  const spacings = cases.map((c) => c.spacing);
  const { spacing: target, rule } = targetSpacing(spacings, sizes);
  const med = medianShapeAt(sizes, spacings, target);
  const values = [...new Set(fp.cases.flatMap((c) => Object.keys(c.labelCounts)))].map(Number).filter((v) => v !== 0).sort((a, b) => a - b);
  let classes: string[];
  if (fp.labelNames) classes = ['background', ...Object.keys(fp.labelNames).map(Number).sort((a, b) => a - b).map((v) => fp.labelNames![String(v)])];
  else {
    classes = ['foreground'];
    if (values.length > 1) notes.push(`labels hold values ${values.join(', ')} and no dataset.json names them: trained as one foreground class unless --labels says otherwise (e.g. --labels ${values.join(',')})`);
  }
  const normalize = fp.modalities.map((m) => normalizationFor(m, medCrop));
  const ct = normalize.map((k, ch) => {
    const s = fp.intensity[ch];
    return k === 'ct' && s ? { lo: s.p00_5, hi: s.p99_5, mean: s.mean, std: s.std } : null;
  });
  notes.push(crop ? `crop to the non-zero box: it keeps ${(100 * medCrop).toFixed(0)}% of the median case`
    : 'no cropping: the non-zero box is the whole median case');
  if (normalize.includes('mri')) notes.push('z-score per case inside the non-zero mask (cropping left < 3/4 of the median case), as nnU-Net');
  const bad = fp.cases.filter((c) => c.nonFinite > 0);
  if (bad.length) notes.push(`${bad.length} case(s) have NaN/Inf voxels (first: ${bad[0].id}, ${bad[0].nonFinite} voxels): fix them before training`);
  const train = fp.cases.filter((c) => c.split === 'train').length || cases.length;
  const zyx = (v: readonly number[]) => [...v].reverse();
  return {
    kind: 'volume', dims: 3, spacing: zyx(target), spacingXYZ: target as [number, number, number], spacingRule: rule, crop,
    medianShape: zyx(med), channels: fp.modalities.length, modalities: fp.modalities, classes,
    sizes: sizes.map((s, c) => zyx(s.map((v, k) => Math.round((v * spacings[c][k]) / target[k])))),
    datasetVoxels: prod(med) * train, normalize, ct, notes,
  };
}

function imageShape(fp: ImageFingerprint): Shape {
  const notes: string[] = [];
  const planned = fp.cases.filter((c) => c.split !== 'test');
  const cases = planned.length ? planned : fp.cases;
  const sizes = cases.map((c) => [c.height, c.width]);
  const med = columnPercentile(sizes, 50).map((v) => Math.round(v));
  const chans = new Set(cases.map((c) => c.channels));
  const channels = Math.max(...chans);
  if (chans.size > 1) notes.push(`images mix ${[...chans].join(' and ')} channels: train with --channels ${channels}`);
  const fg = median(cases.map((c) => c.classFractions[0] ?? 0));
  if (fg > 0.5) notes.push(`the masks' foreground covers ${(100 * fg).toFixed(0)}% of the median image: if the target is the rest, train with --invert-masks`);
  const distinct = new Set(cases.map((c) => `${c.height}x${c.width}`)).size;
  notes.push(`${distinct} image size${distinct > 1 ? 's' : ''}: training takes random patch-sized crops (smaller images padded); validation runs whole images`);
  const train = fp.cases.filter((c) => c.split === 'train').length || cases.length;
  return {
    kind: 'image', dims: 2, spacing: [1, 1], medianShape: med, channels, classes: fp.classes, sizes,
    datasetVoxels: prod(med) * train, normalize: 'zscore', notes,
  };
}

/** Multiply-adds x 2 of the forward convs: the cost ratio of two widths of one topology. */
function convFlops(model: SegModel, patch: readonly number[]): number {
  const g = new Graph();
  model.forward(g, g.input('x', [1, model.config.inChannels, ...patch]), { training: true });
  let f = 0;
  for (const n of g.nodes) if (n.op === 'conv') f += 2 * numel(n.shapes[0]) * (numel(n.inputs[1].shape) / n.inputs[1].shape[0]);
  return f;
}

export async function derivePlan(fp: DatasetFingerprint, o: PlannerOptions): Promise<DatasetPlan> {
  const log = o.log ?? (() => {});
  const s = fp.kind === 'volume' ? volumeShape(fp) : imageShape(fp);
  const notes = [...s.notes];
  // nnU-Net's conv - instance norm: batches of 2 are too small for batch statistics (and on AVX2
  // CPUs oneDNN's batch norm on blocked activations is its slow reference kernel: 6x a 2D step)
  if (s.dims === 2) notes.push('instance norm, as nnU-Net (batch statistics of 2-image batches are noise)');
  const K = s.classes.length;
  const lossSpec: LossSpec = { kind: K > 1 ? 'ce_dice' : 'bce_dice', bceWeight: 0.5 };
  // a fixed default (as nnU-Net's reference GPU): the same dataset gets the same plan on any day
  const budget = o.maxMemory ?? DEFAULT_MAX_MEMORY;
  if (budget > availableMemory()) notes.push(`the ${gib(budget)} budget is more than the ${gib(availableMemory())} available now`);
  const backend: Backend = getBackend(o.backend ?? 'auto', 'fp32', 'train', s.dims);
  const models = new Map<string, SegModel>();
  const modelFor = (base: number, depth: number) => {
    const key = `${base}/${depth}`;
    let m = models.get(key);
    if (!m) {
      m = new SegModel({ dims: s.dims, filters: filtersFor(base, depth, s.dims), inChannels: s.channels, classes: K, deepSupervision: true,
        multiclass: 'softmax', norm: 'instance' });
      models.set(key, m);
    }
    return m;
  };
  const planned = fp.cases.filter((c) => c.split !== 'test');
  const valCases = fp.cases.filter((c) => c.split === 'val').length;
  const trainCases = fp.cases.filter((c) => c.split === 'train').length;
  // validation: windows of the patch over the median case (volumes), whole images (2D, one at a time)
  const valImage = s.dims === 2 ? s.sizes.reduce((a, b) => (prod(b) > prod(a) ? b : a)) : null;
  const valInput = (patch: number[], depth: number) => valImage ? valImage.map((v) => Math.ceil(v / 2 ** depth) * 2 ** depth) : patch;
  const valWindows = (patch: number[]) => {
    if (s.dims === 2) return 1;
    const n = tileLayoutN(s.medianShape.map((v, k) => Math.max(v, patch[k])), patch, 0.25, 'linear').windows.length;
    return Math.min(VALIDATION_WINDOWS, n);
  };
  const validations = new Map<string, number>();
  // fitted: what the budget is checked against: the step, and (volumes) validation's windows of the
  // patch; 2D validation runs whole images at any patch, so no patch or batch can make it fit
  const memoryOf = (base: number, depth: number, batch: number, patch: number[]) => {
    const m = modelFor(base, depth);
    const step = estimateStepMemory(m, batch, patch, lossSpec, backend);
    const input = valInput(patch, depth), windows = valWindows(patch), key = `${base}/${depth}/${input}/${windows}`;
    let validation = validations.get(key);
    if (validation === undefined) validations.set(key, (validation = estimateValidationMemory(m, input, backend, windows)));
    return { step, validation, fitted: step.total + (s.dims === 3 ? validation : 0), all: step.total + validation };
  };

  // patch: nnU-Net's start, shrunk until a step of the 32-filter network at batch 2 fits
  const start = initialPatch(s.spacing, s.medianShape);
  const fitted = shrinkPatch(s.spacing, s.medianShape, start, (_, t) => memoryOf(32, isotropicDepth(t), MIN_BATCH, builtPatch(t)).fitted <= budget);
  let topo = fitted.topology;
  if (fitted.shrunk) notes.push(`patch shrunk ${fitted.shrunk} time(s) from ${topology(s.spacing, start).patch.join('x')} to fit ${gib(budget)}`);
  let patch = builtPatch(topo), depth = isotropicDepth(topo);

  // timing: the 16-filter network measured, the 32-filter one scaled by its conv work; not when the
  // machine has too little memory free for the timed steps now (a shared machine)
  const probeBytes = memoryOf(16, depth, MIN_BATCH, patch).step.total;
  const roomy = probeBytes < 0.8 * availableMemory();
  if (o.measure !== false && !roomy) notes.push(`steps not timed: timing needs ~${gib(probeBytes)}, only ${gib(availableMemory())} is free now`);
  const measure = o.measure !== false && roomy;
  const probes = o.cache?.probes ?? {};
  let source: DatasetPlan['time']['source'] = 'none';
  const timed = async (base: number, batch: number): Promise<ProbeResult> => {
    const m = modelFor(base, depth);
    const spec: ProbeSpec = {
      config: m.config, batch, patch, loss: lossSpec, backend: o.backend ?? 'auto', minSteps: 2, maxSteps: 5, maxSeconds: 15,
      validationWindows: valWindows(patch),
    };
    const key = probeKey(spec);
    if (probes[key]) { if (source === 'none') source = 'cached'; return probes[key]; }
    log(`timing filters ${m.config.filters.join(',')} on ${patch.join('x')} at batch ${batch} ...`);
    const r = await (o.measureFn ?? measureStep)(spec);
    probes[key] = r;
    source = 'measured';
    return r;
  };
  const stepsIn = (ms: number) => Math.floor(o.timeBudgetSeconds / (ms / 1000));
  let base = 32, stepAt2 = 0, probe: ProbeResult | null = null;
  if (measure) {
    const p16 = await timed(16, MIN_BATCH);
    const work = (b: number, d: number, p: number[]) => convFlops(modelFor(b, d), p);
    const ratio = work(32, depth, patch) / work(16, depth, patch);
    const t32 = p16.stepMs * ratio;
    base = stepsIn(t32) >= MIN_STEPS ? 32 : 16;
    stepAt2 = base === 32 ? t32 : p16.stepMs;
    probe = base === 16 ? p16 : null;
    notes.push(base === 32 ? `32 filters at the top (nnU-Net's): the budget leaves ${stepsIn(t32)} steps`
      : `16 filters at the top: with 32 (${(t32 / 1000).toFixed(1)} s a step, ${ratio.toFixed(1)}x the conv work) the budget would leave fewer than ${MIN_STEPS} steps`);
    // too few steps even so: a smaller patch (its step time scaled by the conv work), down to half per axis
    if (stepsIn(stepAt2) < MIN_STEPS_PATCH) {
      const from = patch, d0 = depth, w0 = work(16, d0, from);
      const at = (t: Topology) => (p16.stepMs * work(16, isotropicDepth(t), builtPatch(t))) / w0;
      const floor = from.map((v) => Math.ceil(v / 2));
      const timedFit = shrinkPatch(s.spacing, s.medianShape, from, (_, t) => stepsIn(at(t)) >= MIN_STEPS_PATCH, floor);
      if (timedFit.shrunk) {
        topo = timedFit.topology;
        patch = builtPatch(topo);
        depth = isotropicDepth(topo);
        stepAt2 = at(topo);
        probe = null;
        notes.push(`patch shrunk from ${from.join('x')} for the time budget: there a step takes ${(p16.stepMs / 1000).toFixed(1)} s, ` +
          `${stepsIn(p16.stepMs)} steps (< ${MIN_STEPS_PATCH}); ${patch.join('x')} is expected to leave ${stepsIn(stepAt2)}` +
          (timedFit.floored ? ' (it stops at half the size per axis)' : ''));
      }
    }
  } else notes.push(`no schedule${o.measure === false ? ' (--no-measure)' : ''}; 32 filters at the top (nnU-Net's)`);

  const anisotropic = new Set(topo.pools).size > 1;
  if (anisotropic)
    notes.push(`per-axis pooling ${topo.pools.join(',')} (patch ${topo.patch.join('x')}, kernels ${topo.kernelPerLevel.map((k) => k.join('x')).join(', ')}) is what the rules give; ` +
      `the model pools every axis alike, so the plan builds depth ${depth}, the depth every axis allows, on a patch of multiples of ${2 ** depth} ` +
      `(per-axis pooling needs per-axis pool/upsample factors and kernels in the model and the native kernels)`);
  const smaller = s.sizes.filter((v) => v.some((x, k) => x < patch[k])).length;
  if (smaller) notes.push(`${smaller} of ${s.sizes.length} planned cases are smaller than the patch along some axis: they are padded`);
  log(`patch ${patch.join('x')}, depth ${depth}${anisotropic ? ` (per-axis pooling ${topo.pools.join(',')})` : ''}`);

  // batch: memory, 5% of the dataset, and enough steps in the budget
  const stepsAt2 = measure ? o.timeBudgetSeconds / (stepAt2 / 1000) : Infinity;
  const cover = Math.round((s.datasetVoxels * 0.05) / prod(patch));
  const upper = Math.max(MIN_BATCH, Math.min(64, cover, measure ? Math.floor((MIN_BATCH * stepsAt2) / MIN_STEPS) : 64));
  let memoryFit = MIN_BATCH;
  while (memoryFit < upper && memoryOf(base, depth, memoryFit + 1, patch).fitted <= budget) memoryFit++;
  if (memoryOf(base, depth, MIN_BATCH, patch).fitted > budget) memoryFit = 1;
  const { batch, why } = batchSize({ memoryFit, datasetVoxels: s.datasetVoxels, patchVoxels: prod(patch), stepsAt2 });
  notes.push(`batch ${batch}: ${why}`);
  if (measure) probe = await timed(base, batch); // from the cache when it is the probe above

  const mem = memoryOf(base, depth, batch, patch);
  const model = modelFor(base, depth);
  const stepMs = probe?.stepMs ?? 0;
  const valRuns = s.dims === 3 ? valCases * Math.ceil(tileLayoutN(s.medianShape.map((v, k) => Math.max(v, patch[k])), patch, 0.25, 'linear').windows.length / valWindows(patch))
    : Math.round(planned.filter((c) => c.split === 'val').length * prod(s.medianShape) / prod(patch));
  const validationSeconds = probe ? +((valRuns * probe.validationMs) / 1000).toFixed(1) : 0;
  const sched = probe ? scheduleFor({ budgetSeconds: o.timeBudgetSeconds, stepSeconds: stepMs / 1000, validationSeconds, batch })
    : { steps: 0, epochs: 0, stepsPerEpoch: 0, samplesPerEpoch: 0, timeLimitSeconds: o.timeBudgetSeconds };
  if (probe) {
    const load = loadavg()[0];
    if (load > 0.5 * cpus().length) notes.push(`timed under load (load average ${load.toFixed(1)} on ${cpus().length} cores): on an idle machine steps are faster and the budget buys more`);
    const off = probe.peakRssBytes / mem.step.total - 1;
    if (Math.abs(off) > 0.15) notes.push(`measured peak ${gib(probe.peakRssBytes)} differs from the estimate by ${(100 * off).toFixed(0)}%`);
  }
  if (mem.fitted > budget) notes.push(`even the smallest batch needs ${gib(mem.fitted)}, over the ${gib(budget)} budget`);
  else if (mem.all > budget)
    notes.push(`validation of whole images (the largest ${valImage?.join('x')}) needs ~${gib(mem.validation)} beside the step's ${gib(mem.step.total)}: ` +
      `over the ${gib(budget)} budget; validate on smaller images or give more memory`);

  return {
    version: 1, kind: s.kind, dims: s.dims,
    dataset: {
      dir: fp.dir, cases: fp.cases.length, planned: planned.length || fp.cases.length, train: trainCases, val: valCases, channels: s.channels,
      ...(s.modalities ? { modalities: s.modalities } : {}), classes: s.classes,
    },
    ...(s.spacingXYZ ? { spacing: s.spacingXYZ, spacingRule: s.spacingRule, cropToNonzero: s.crop } : {}),
    medianShape: s.medianShape, patch,
    network: {
      arch: 'unetpp', filters: model.config.filters, depth, poolPerAxis: topo.poolPerLevel, kernelPerAxis: topo.kernelPerLevel,
      pooling: anisotropic ? 'isotropic fallback' : 'as planned', norm: model.config.norm, deepSupervision: true, params: model.params.count(),
    },
    batchSize: batch, normalize: s.normalize, ...(s.ct?.some((c) => c) ? { ct: s.ct } : {}), augment: 'default',
    ...(s.dims === 3 ? { foregroundFraction: FOREGROUND_FRACTION } : {}),
    memory: { budgetBytes: budget, step: mem.step, validationBytes: mem.validation, ...(probe ? { measuredPeakBytes: probe.peakRssBytes } : {}) },
    time: {
      budgetSeconds: o.timeBudgetSeconds, stepMs: +stepMs.toFixed(1), cpuMs: +(probe?.cpuMs ?? 0).toFixed(1), source, threads: probe?.threads ?? 0, backend: probe?.backend ?? backend.name,
      validationSeconds, steps: sched.steps, epochs: sched.epochs, stepsPerEpoch: sched.stepsPerEpoch, samplesPerEpoch: sched.samplesPerEpoch,
    },
    training: { timeLimitSeconds: sched.timeLimitSeconds, earlyStop: false },
    notes,
    created: { at: new Date().toISOString(), unetpp: version(), timeBudget: o.timeBudgetText ?? `${o.timeBudgetSeconds}s`, maxMemory: budget, fingerprintStamp: fp.stamp },
  };
}
